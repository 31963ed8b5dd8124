"""Firestore layout of bank reconciliation, all under the tenant (``tenants/{tid}/...``).

=====================================================  =====================================
``bank_statements/{statement_id}``                     the statement: account, period,
                                                       status, counts (id from the file's hash)
``bank_statements/{statement_id}/lines/{line_id}``     one line, with its match
``bank_matches/{account_id}:{entry_id}``               an entry held by a line of that
                                                       account's statements
=====================================================  =====================================

A match document per (account, entry) is what keeps an entry from matching two lines:
it is created (never overwritten) in the same transaction that marks the line matched,
and deleted when the line is unmatched. The ledger's entries are read, never written
(``shared/ledger/repository.py``). Statements are listed by ``imported_at``, lines by
id with an optional ``status`` equality: Firestore's single-field indexes serve both.
Candidate entries come from the ledger's ``entries (account_ids CONTAINS,
effective_date ASC)`` index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from shared.bank_reconciliation.model import BankStatement, Candidate, StatementLine
from shared.bank_reconciliation.rules import (
    LineStatus,
    MatchRule,
    StatementFormat,
    StatementStatus,
)
from shared.ledger.model import Entry, EntryKind

if TYPE_CHECKING:
    from google.cloud import firestore

TENANTS = "tenants"
STATEMENTS = "bank_statements"
LINES = "lines"
MATCHES = "bank_matches"
# Entries read as candidates for one statement, at most (nearest the period first).
MAX_CANDIDATES = 20_000


def _tenant(db: firestore.Client, tenant_id: str) -> Any:
    return db.collection(TENANTS).document(tenant_id)


def statements_collection(db: firestore.Client, tenant_id: str) -> Any:
    return _tenant(db, tenant_id).collection(STATEMENTS)


def statement_ref(db: firestore.Client, tenant_id: str, statement_id: str) -> Any:
    return statements_collection(db, tenant_id).document(statement_id)


def lines_collection(db: firestore.Client, tenant_id: str, statement_id: str) -> Any:
    return statement_ref(db, tenant_id, statement_id).collection(LINES)


def line_ref(db: firestore.Client, tenant_id: str, statement_id: str, line_id: str) -> Any:
    return lines_collection(db, tenant_id, statement_id).document(line_id)


def match_ref(db: firestore.Client, tenant_id: str, account_id: str, entry_id: str) -> Any:
    return _tenant(db, tenant_id).collection(MATCHES).document(f"{account_id}:{entry_id}")


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value.timestamp(), UTC)


def _required(value: datetime | None) -> datetime:
    aware = _aware(value)
    if aware is None:
        raise ValueError("a stored bank statement lacks a timestamp")
    return aware


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


# -- statements ----------------------------------------------------------------------------


def statement_to_document(statement: BankStatement) -> dict[str, Any]:
    return {
        "tenant_id": statement.tenant_id,
        "account_id": statement.account_id,
        "currency": statement.currency,
        "format": statement.format.value,
        "status": statement.status.value,
        "period_start": statement.period_start.isoformat(),
        "period_end": statement.period_end.isoformat(),
        "line_count": statement.line_count,
        "matched_count": statement.matched_count,
        "skipped_count": statement.skipped_count,
        "date_window_days": statement.date_window_days,
        "file_sha256": statement.file_sha256,
        "bank_reference": statement.bank_reference,
        "imported_at": statement.imported_at,
        "imported_by": dict(statement.imported_by),
        "matched_at": statement.matched_at,
        "reconciled_at": statement.reconciled_at,
        "reconciled_by": statement.reconciled_by,
    }


def statement_from_document(statement_id: str, document: Mapping[str, Any]) -> BankStatement:
    return BankStatement(
        id=statement_id,
        tenant_id=document["tenant_id"],
        account_id=document["account_id"],
        currency=document["currency"],
        format=StatementFormat(document["format"]),
        status=StatementStatus(document["status"]),
        period_start=date.fromisoformat(document["period_start"]),
        period_end=date.fromisoformat(document["period_end"]),
        line_count=int(document["line_count"]),
        matched_count=int(document.get("matched_count") or 0),
        skipped_count=int(document.get("skipped_count") or 0),
        date_window_days=int(document["date_window_days"]),
        file_sha256=document["file_sha256"],
        bank_reference=document.get("bank_reference") or "",
        imported_at=_required(document.get("imported_at")),
        imported_by=dict(document.get("imported_by") or {}),
        matched_at=_aware(document.get("matched_at")),
        reconciled_at=_aware(document.get("reconciled_at")),
        reconciled_by=document.get("reconciled_by"),
    )


def read_statement(
    db: firestore.Client, tenant_id: str, statement_id: str, transaction: Any = None
) -> BankStatement | None:
    snapshot = statement_ref(db, tenant_id, statement_id).get(transaction=transaction)
    if not snapshot.exists:
        return None
    return statement_from_document(snapshot.id, snapshot.to_dict() or {})


# -- lines ---------------------------------------------------------------------------------


def line_to_document(line: StatementLine) -> dict[str, Any]:
    return {
        "number": line.number,
        "booking_date": line.booking_date.isoformat(),
        "value_date": line.value_date.isoformat() if line.value_date else None,
        "amount_minor": line.amount_minor,
        "currency": line.currency,
        "reference": line.reference,
        "end_to_end_id": line.end_to_end_id,
        "description": line.description,
        "status": line.status.value,
        "entry_ids": list(line.entry_ids),
        "match_rule": line.match_rule.value if line.match_rule else None,
        "matched_at": line.matched_at,
        "matched_by": line.matched_by,
    }


def line_from_document(line_id: str, document: Mapping[str, Any]) -> StatementLine:
    rule = document.get("match_rule")
    return StatementLine(
        id=line_id,
        number=int(document["number"]),
        booking_date=date.fromisoformat(document["booking_date"]),
        value_date=_day(document.get("value_date")),
        amount_minor=int(document["amount_minor"]),
        currency=document["currency"],
        reference=document.get("reference") or "",
        end_to_end_id=document.get("end_to_end_id") or "",
        description=document.get("description") or "",
        status=LineStatus(document["status"]),
        entry_ids=tuple(document.get("entry_ids") or ()),
        match_rule=MatchRule(rule) if rule else None,
        matched_at=_aware(document.get("matched_at")),
        matched_by=document.get("matched_by"),
    )


def read_line(
    db: firestore.Client, tenant_id: str, statement_id: str, line_id: str, transaction: Any = None
) -> StatementLine | None:
    snapshot = line_ref(db, tenant_id, statement_id, line_id).get(transaction=transaction)
    if not snapshot.exists:
        return None
    return line_from_document(snapshot.id, snapshot.to_dict() or {})


def read_lines(
    db: firestore.Client,
    tenant_id: str,
    statement_id: str,
    transaction: Any = None,
    status: LineStatus | None = None,
) -> list[StatementLine]:
    """Every line of a statement (at most MAX_LINES), by id, optionally of one status."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = lines_collection(db, tenant_id, statement_id)
    if status is not None:
        query = query.where(filter=FieldFilter("status", "==", status.value))
    return [
        line_from_document(s.id, s.to_dict() or {}) for s in query.stream(transaction=transaction)
    ]


def match_document(
    statement_id: str, line_id: str, account_id: str, entry_id: str, at: datetime
) -> dict[str, Any]:
    return {
        "statement_id": statement_id,
        "line_id": line_id,
        "account_id": account_id,
        "entry_id": entry_id,
        "matched_at": at,
    }


def matched_entry_ids(
    db: firestore.Client,
    tenant_id: str,
    account_id: str,
    entry_ids: Iterable[str],
    transaction: Any = None,
) -> dict[str, dict[str, Any]]:
    """Of ``entry_ids``, those a line of the account holds, with their match documents."""
    refs = [match_ref(db, tenant_id, account_id, e) for e in dict.fromkeys(entry_ids)]
    if not refs:
        return {}
    found: dict[str, dict[str, Any]] = {}
    for snapshot in db.get_all(refs, transaction=transaction):
        if snapshot.exists:
            document = snapshot.to_dict() or {}
            found[document["entry_id"]] = document
    return found


# -- ledger entries as candidates ----------------------------------------------------------


def net_on_account(entry: Entry, account_id: str) -> int:
    """What the entry does to the account: its debits minus its credits there."""
    from shared.ledger.model import Side

    return sum(
        line.amount_minor if line.side is Side.DEBIT else -line.amount_minor
        for line in entry.lines
        if line.account_id == account_id
    )


def counts_in_balance(entry: Entry) -> bool:
    """Posted money only: an open, voided or expired hold moved nothing yet."""
    return entry.kind is not EntryKind.PENDING


def candidate(entry: Entry, account_id: str) -> Candidate:
    texts = [entry.id, entry.description, *(str(v) for v in entry.metadata.values())]
    return Candidate(
        entry_id=entry.id,
        effective_date=entry.effective_date,
        amount_minor=net_on_account(entry, account_id),
        text=" ".join(texts),
    )


def account_entries(
    db: firestore.Client, tenant_id: str, account_id: str, start: date, end: date, limit: int
) -> list[Entry]:
    """The entries touching the account dated from ``start`` to ``end``, by date then id."""
    from google.cloud.firestore_v1.base_query import FieldFilter
    from google.cloud.firestore_v1.field_path import FieldPath

    from shared.ledger.repository import LedgerPaths, entry_from_document

    query = (
        LedgerPaths(db)
        .entries(tenant_id)
        .where(filter=FieldFilter("account_ids", "array_contains", account_id))
        .where(filter=FieldFilter("effective_date", ">=", start.isoformat()))
        .where(filter=FieldFilter("effective_date", "<=", end.isoformat()))
        .order_by("effective_date")
        .order_by(FieldPath.document_id())
        .limit(limit)
    )
    return [entry_from_document(s.id, s.to_dict() or {}) for s in query.stream()]
