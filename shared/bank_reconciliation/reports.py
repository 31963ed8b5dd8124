"""The reads of bank reconciliation: statements, their lines, the account's entries that
no line holds. Lists are pages with opaque cursors (``shared/pagination.py``)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic import Field

from shared.bank_reconciliation.rules import LineStatus
from shared.bank_reconciliation.service import get_statement
from shared.bank_reconciliation.store import (
    counts_in_balance,
    line_from_document,
    lines_collection,
    matched_entry_ids,
    statement_from_document,
    statements_collection,
)
from shared.pagination import (
    DEFAULT_PAGE_SIZE,
    DOCUMENT_ID,
    CursorPosition,
    DocumentId,
    Page,
    keyset_page,
    newest_first,
)

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.bank_reconciliation.model import BankStatement, StatementLine
    from shared.ledger.model import Entry

STATEMENTS_CURSOR = "bank_statements"


class LinePosition(CursorPosition):
    id: DocumentId


class EntryPosition(CursorPosition):
    effective_date: date
    id: DocumentId = Field(max_length=128)


def list_statements(
    db: firestore.Client,
    tenant_id: str,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[BankStatement]:
    """The tenant's statements, the newest import first."""
    return newest_first(
        statements_collection(db, tenant_id),
        time_field="imported_at",
        scope=STATEMENTS_CURSOR,
        cursor=cursor,
        limit=limit,
        to_item=lambda d: statement_from_document(d.id, d.to_dict() or {}),
    )


def list_lines(
    db: firestore.Client,
    tenant_id: str,
    statement_id: str,
    *,
    status: LineStatus | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[StatementLine]:
    """A statement's lines in file order, each with its match (or none)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    get_statement(db, tenant_id, statement_id)
    scope = f"bank_statement_lines.{statement_id}.{status.value if status else ''}"
    collection = lines_collection(db, tenant_id, statement_id)
    query: Any = collection
    if status is not None:
        query = query.where(filter=FieldFilter("status", "==", status.value))
    return keyset_page(
        query,
        order=(DOCUMENT_ID,),
        position=LinePosition,
        scope=scope,
        cursor=cursor,
        limit=limit,
        to_item=lambda d: line_from_document(d.id, d.to_dict() or {}),
        start_after=lambda p: (collection.document(p.id),),
        position_of=lambda item: LinePosition(id=item.id),
    )


def unmatched_entries(
    db: firestore.Client,
    tenant_id: str,
    statement_id: str,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[Entry]:
    """The account's posted entries dated in the statement's period that no line of the
    account's statements holds, by date then id.

    ``limit`` entries are read per page and the matched ones left out, so a page may
    be shorter than ``limit`` (even empty) while ``next_cursor`` says more follow.
    """
    from google.cloud.firestore_v1.base_query import FieldFilter

    from shared.ledger.repository import LedgerPaths, entry_from_document

    statement = get_statement(db, tenant_id, statement_id)
    scope = f"bank_statement_entries.{statement_id}"
    paths = LedgerPaths(db)
    query = (
        paths.entries(tenant_id)
        .where(filter=FieldFilter("account_ids", "array_contains", statement.account_id))
        .where(filter=FieldFilter("effective_date", ">=", statement.period_start.isoformat()))
        .where(filter=FieldFilter("effective_date", "<=", statement.period_end.isoformat()))
    )
    read = keyset_page(
        query,
        order=("effective_date", DOCUMENT_ID),
        position=EntryPosition,
        scope=scope,
        cursor=cursor,
        limit=limit,
        to_item=lambda d: entry_from_document(d.id, d.to_dict() or {}),
        start_after=lambda p: (p.effective_date.isoformat(), paths.entry(tenant_id, p.id)),
        position_of=lambda entry: EntryPosition(effective_date=entry.effective_date, id=entry.id),
    )
    # The next page starts after the last entry read, matched or not.
    held = matched_entry_ids(db, tenant_id, statement.account_id, [e.id for e in read.items])
    return read.with_items([e for e in read.items if e.id not in held and counts_in_balance(e)])
