"""Use cases of bank statements: import and read (manual matching is in ``manual.py``).

Each change is one Firestore transaction (an import: one to claim the statement, batches
for its lines, one to finish) with its audit event, and the import's
``bank_statement.imported`` event, in the outbox; they are published after the commit
(:func:`shared.events.transact.transact`, which also answers contention that outlasts
its retries with the 503 ``contention`` every domain answers). Every refusal is decided
before anything is written.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.bank_reconciliation.camt053 import parse_camt053
from shared.bank_reconciliation.csv_format import parse_csv
from shared.bank_reconciliation.model import BankStatement, ParsedStatement, StatementLine
from shared.bank_reconciliation.requests import ImportStatementRequest
from shared.bank_reconciliation.rules import (
    EVENT_SOURCE,
    IMPORTED_TYPE,
    MAX_CONTENT_BYTES,
    RESOURCE,
    TOPIC,
    StatementFormat,
    StatementStatus,
    file_sha256,
    line_id,
    statement_id,
)
from shared.bank_reconciliation.store import (
    line_ref,
    line_to_document,
    read_statement,
    statement_ref,
    statement_to_document,
)
from shared.errors import (
    ConflictError,
    FieldError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.envelope import new_event
from shared.events.outbox import add_to_outbox
from shared.events.transact import transact
from shared.identity.actor import Actor
from shared.logger import get_logger

if TYPE_CHECKING:
    from google.cloud import firestore

# Lines written per batch while importing (Firestore commits at most 500 writes).
_LINE_BATCH = 400
_log = get_logger("shared.bank_reconciliation")


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def statement_not_found(statement_id: str) -> NotFoundError:
    return NotFoundError(
        f"bank statement {statement_id} not found", code="bank_statement_not_found"
    )


def busy(what: str) -> str:
    """The detail of the 503 ``contention`` when ``what`` kept changing meanwhile."""
    return f"{what} was changed at the same time; retry"


def audit(
    writer: Any,
    db: firestore.Client,
    action: str,
    statement: BankStatement,
    actor: Actor,
    correlation_id: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    add_to_outbox(
        writer,
        db,
        AUDIT_TOPIC,
        audit_event(
            action,
            tenant_id=statement.tenant_id,
            actor=actor.to_audit(),
            resource_type=RESOURCE,
            resource_id=statement.id,
            details={"account_id": statement.account_id, **(details or {})},
            source=EVENT_SOURCE,
            correlation_id=correlation_id,
        ),
    )


# -- import --------------------------------------------------------------------------------


def decoded_content(request: ImportStatementRequest) -> bytes:
    """The file's bytes; a 422 on ``content`` when base64 is not, a 413 when too big."""
    if request.content_encoding == "base64":
        try:
            content = base64.b64decode(request.content, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError.for_field(
                "content", "not valid base64", "invalid_base64"
            ) from None
    else:
        content = request.content.encode("utf-8")
    if len(content) > MAX_CONTENT_BYTES:
        raise PayloadTooLargeError(
            f"content: the file is {len(content)} bytes; at most {MAX_CONTENT_BYTES} are accepted",
            errors=[FieldError("content", f"at most {MAX_CONTENT_BYTES} bytes", "too_large")],
        )
    if not content.strip():
        raise ValidationError.for_field("content", "the file is empty", "no_lines")
    return content


def parse_statement(
    request: ImportStatementRequest, content: bytes, currency: str
) -> ParsedStatement:
    """The file read as its format says, in the account's currency (pure)."""
    if request.format is StatementFormat.CSV:
        if request.csv is None:
            raise ValidationError.for_field(
                "csv", "a CSV file needs its column mapping", "csv_mapping_missing"
            )
        return parse_csv(content, request.csv, currency)
    if request.csv is not None:
        raise ValidationError.for_field(
            "csv", "only a CSV file takes a column mapping", "csv_mapping_not_allowed"
        )
    return parse_camt053(content, currency)


def _account_currency(db: firestore.Client, tenant_id: str, account_id: str) -> str:
    from shared.ledger.repository import LedgerPaths, account_from_document

    snapshot = LedgerPaths(db).account(tenant_id, account_id).get()
    if not snapshot.exists:
        raise ValidationError.for_field(
            "account_id", f"no account {account_id!r}", "account_not_found"
        )
    return account_from_document(snapshot.id, snapshot.to_dict() or {}).currency


def _parse_of(statement: BankStatement) -> tuple[Any, ...]:
    """What two imports of one file must agree on to complete the same statement."""
    return (
        statement.format,
        statement.period_start,
        statement.period_end,
        statement.line_count,
        statement.skipped_count,
        statement.date_window_days,
    )


def _create_lines(
    db: firestore.Client, tenant_id: str, statement_id: str, lines: list[StatementLine]
) -> None:
    """Create the lines; ones a concurrent or interrupted import of the file already
    wrote are left as they are, so matching that has begun on them is never undone."""
    from google.api_core.exceptions import AlreadyExists, Conflict

    batch = db.batch()
    for line in lines:
        batch.create(line_ref(db, tenant_id, statement_id, line.id), line_to_document(line))
    try:
        batch.commit()
        return
    except (AlreadyExists, Conflict):
        pass  # a batch is all or none: create them one by one, skipping those that exist
    for line in lines:
        with contextlib.suppress(AlreadyExists, Conflict):
            line_ref(db, tenant_id, statement_id, line.id).create(line_to_document(line))


def already_imported(existing: BankStatement) -> ConflictError:
    return ConflictError(
        f"this file was already imported for the account as statement {existing.id}",
        code="bank_statement_already_imported",
        errors=[FieldError("content", f"already imported as {existing.id}", "duplicate_import")],
        extra={"statement_id": existing.id},
    )


def import_statement(
    db: firestore.Client,
    tenant_id: str,
    request: ImportStatementRequest,
    *,
    actor: Actor,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> BankStatement:
    """Store the statement and its lines; its matching runs in the background.

    The statement's id is derived from the account and the file's bytes: the same
    file again is a 409 naming the statement it made. An import interrupted after its
    first transaction left the statement ``importing``; the same file sent again
    completes it.
    """
    content = decoded_content(request)
    currency = _account_currency(db, tenant_id, request.account_id)
    parsed = parse_statement(request, content, currency)
    when = _now(now)
    statement = BankStatement(
        id=statement_id(request.account_id, content),
        tenant_id=tenant_id,
        account_id=request.account_id,
        currency=currency,
        format=request.format,
        status=StatementStatus.IMPORTING,
        period_start=parsed.period_start,
        period_end=parsed.period_end,
        line_count=len(parsed.lines),
        matched_count=0,
        skipped_count=parsed.skipped,
        date_window_days=request.date_window_days,
        file_sha256=file_sha256(content),
        bank_reference=parsed.bank_reference,
        imported_at=when,
        imported_by=actor.to_audit(),
    )
    ref = statement_ref(db, tenant_id, statement.id)

    def claim(transaction: Any) -> BankStatement:
        existing = read_statement(db, tenant_id, statement.id, transaction)
        if existing is not None:
            if existing.status is not StatementStatus.IMPORTING:
                raise already_imported(existing)
            if _parse_of(existing) != _parse_of(statement):
                # Lines already written came from another reading of the file.
                raise ConflictError(
                    f"statement {existing.id} of this file is being imported with other "
                    "options; send the file again with the options it was first sent with",
                    code="bank_statement_import_differs",
                    errors=[FieldError("content", "imported with other options", "import_differs")],
                    extra={"statement_id": existing.id},
                )
            return existing
        transaction.create(ref, statement_to_document(statement))
        return statement

    claimed = transact(db, claim, name="bank_statements.claim", busy=busy("the statement"))
    lines = [
        StatementLine(
            id=line_id(parsed_line.number),
            number=parsed_line.number,
            booking_date=parsed_line.booking_date,
            value_date=parsed_line.value_date,
            amount_minor=parsed_line.amount_minor,
            currency=currency,
            reference=parsed_line.reference,
            end_to_end_id=parsed_line.end_to_end_id,
            description=parsed_line.description,
        )
        for parsed_line in parsed.lines
    ]
    for start in range(0, len(lines), _LINE_BATCH):
        _create_lines(db, tenant_id, statement.id, lines[start : start + _LINE_BATCH])

    def finish(transaction: Any) -> BankStatement:
        current = read_statement(db, tenant_id, statement.id, transaction)
        assert current is not None  # claimed above; statements are never deleted
        if current.status is not StatementStatus.IMPORTING:
            raise already_imported(current)  # a concurrent import of the file finished it
        done = replace(current, status=StatementStatus.MATCHING)
        transaction.update(ref, {"status": done.status.value})
        add_to_outbox(
            transaction,
            db,
            TOPIC,
            new_event(
                IMPORTED_TYPE,
                source=EVENT_SOURCE,
                subject=f"bank_statements/{done.id}",
                tenant_id=tenant_id,
                correlation_id=correlation_id,
                data={"statement_id": done.id, "account_id": done.account_id},
            ),
        )
        audit(
            transaction,
            db,
            "bank_statement.imported",
            done,
            actor,
            correlation_id,
            {
                "format": done.format.value,
                "lines": done.line_count,
                "file_sha256": done.file_sha256,
                "resumed": claimed is not statement,
            },
        )
        return done

    imported = transact(db, finish, name="bank_statements.import", busy=busy("the statement"))
    _log.info("bank_statements.imported", statement_id=imported.id, lines=imported.line_count)
    return imported


# -- reads ---------------------------------------------------------------------------------


def find_statement(db: firestore.Client, tenant_id: str, statement_id: str) -> BankStatement | None:
    return read_statement(db, tenant_id, statement_id)


def get_statement(db: firestore.Client, tenant_id: str, statement_id: str) -> BankStatement:
    statement = read_statement(db, tenant_id, statement_id)
    if statement is None:
        raise statement_not_found(statement_id)
    return statement
