"""The reads of bank reconciliation: statements, their lines, the account's entries that
no line holds. Lists are pages with opaque cursors (``shared/http/pagination.py``)."""

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
from shared.http import Page, TimeOrderedPosition, decode_cursor, encode_cursor
from shared.http.pagination import CursorPosition, DocumentId

if TYPE_CHECKING:
    from google.cloud import firestore

STATEMENTS_CURSOR = "bank_statements"


class LinePosition(CursorPosition):
    id: DocumentId


class EntryPosition(CursorPosition):
    effective_date: date
    id: DocumentId = Field(max_length=128)


def list_statements(
    db: firestore.Client, tenant_id: str, *, limit: int = 50, cursor: str | None = None
) -> Page:
    """The tenant's statements, the newest import first."""
    collection = statements_collection(db, tenant_id)
    query = collection.order_by("imported_at", direction="DESCENDING").order_by(
        "__name__", direction="DESCENDING"
    )
    if cursor:
        position = decode_cursor(cursor, TimeOrderedPosition, scope=STATEMENTS_CURSOR)
        query = query.start_after(
            {"imported_at": position.at, "__name__": collection.document(position.id)}
        )
    documents = list(query.limit(limit + 1).stream())
    items = [statement_from_document(d.id, d.to_dict() or {}) for d in documents[:limit]]
    next_cursor = None
    if len(documents) > limit:
        last = items[-1]
        next_cursor = encode_cursor(
            TimeOrderedPosition(at=last.imported_at, id=last.id), scope=STATEMENTS_CURSOR
        )
    return Page(items=items, next_cursor=next_cursor)


def list_lines(
    db: firestore.Client,
    tenant_id: str,
    statement_id: str,
    *,
    status: LineStatus | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """A statement's lines in file order, each with its match (or none)."""
    from google.cloud.firestore_v1.base_query import FieldFilter
    from google.cloud.firestore_v1.field_path import FieldPath

    get_statement(db, tenant_id, statement_id)
    scope = f"bank_statement_lines.{statement_id}.{status.value if status else ''}"
    collection = lines_collection(db, tenant_id, statement_id)
    query: Any = collection
    if status is not None:
        query = query.where(filter=FieldFilter("status", "==", status.value))
    query = query.order_by(FieldPath.document_id())
    if cursor:
        position = decode_cursor(cursor, LinePosition, scope=scope)
        query = query.start_after({FieldPath.document_id(): collection.document(position.id)})
    documents = list(query.limit(limit + 1).stream())
    items = [line_from_document(d.id, d.to_dict() or {}) for d in documents[:limit]]
    next_cursor = None
    if len(documents) > limit:
        next_cursor = encode_cursor(LinePosition(id=items[-1].id), scope=scope)
    return Page(items=items, next_cursor=next_cursor)


def unmatched_entries(
    db: firestore.Client,
    tenant_id: str,
    statement_id: str,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """The account's posted entries dated in the statement's period that no line of the
    account's statements holds, by date then id.

    ``limit`` entries are read per page and the matched ones left out, so a page may
    be shorter than ``limit`` (even empty) while ``next_cursor`` says more follow.
    """
    from google.cloud.firestore_v1.base_query import FieldFilter
    from google.cloud.firestore_v1.field_path import FieldPath

    from shared.ledger.repository import LedgerPaths, entry_from_document

    statement = get_statement(db, tenant_id, statement_id)
    scope = f"bank_statement_entries.{statement_id}"
    paths = LedgerPaths(db)
    query = (
        paths.entries(tenant_id)
        .where(filter=FieldFilter("account_ids", "array_contains", statement.account_id))
        .where(filter=FieldFilter("effective_date", ">=", statement.period_start.isoformat()))
        .where(filter=FieldFilter("effective_date", "<=", statement.period_end.isoformat()))
        .order_by("effective_date")
        .order_by(FieldPath.document_id())
    )
    if cursor:
        position = decode_cursor(cursor, EntryPosition, scope=scope)
        query = query.start_after(
            {
                "effective_date": position.effective_date.isoformat(),
                FieldPath.document_id(): paths.entry(tenant_id, position.id),
            }
        )
    documents = list(query.limit(limit + 1).stream())
    read = [entry_from_document(d.id, d.to_dict() or {}) for d in documents[:limit]]
    held = matched_entry_ids(db, tenant_id, statement.account_id, [e.id for e in read])
    items = [e for e in read if e.id not in held and counts_in_balance(e)]
    next_cursor = None
    if len(documents) > limit:
        last = read[-1]
        next_cursor = encode_cursor(
            EntryPosition(effective_date=last.effective_date, id=last.id), scope=scope
        )
    return Page(items=items, next_cursor=next_cursor)
