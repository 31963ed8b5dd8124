"""journal: balanced journal entries, two-phase holds and reversals.

Every money-moving route requires an ``Idempotency-Key``. A posting without its
own ``entry_id`` gets one derived from the key (see
:func:`shared.ledger.idempotency.entry_id_for_key`): when an instance dies after
the commit but before the key's response is stored, the retry finds the entry it
already committed instead of posting a second one. A linked batch derives its id
and its entries' ids from the key the same way (:mod:`shared.ledger.batches`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.http import Page, Reply, RequestContext, Router, Stream, Streamed
from shared.identity.roles import Permission
from shared.ledger import (
    Entry,
    HoldTransition,
    ListAccountEntriesQuery,
    PostEntryRequest,
    PostPendingRequest,
    ReverseEntryRequest,
    VoidPendingRequest,
)
from shared.ledger.batches import LinkedBatch
from shared.ledger.export import ACCOUNT_LINE_COLUMNS, CONTENT_TYPES
from shared.ledger.history_requests import AccountExportQuery
from shared.ledger.history_service import AccountHistory
from shared.ledger.idempotency import with_entry_id_from_key
from shared.ledger.instance import ledger_service
from shared.ledger.requests import PostLinkedEntriesRequest
from shared.ledger.responses import EntryOut, HoldTransitionOut, LinkedEntriesOut, ReversalOut

router = Router("journal")
T = TypeVar("T")


class EntryPath(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entry_id: str = Field(min_length=1, max_length=100)


class AccountPath(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str = Field(min_length=1, max_length=100)


def _on_entry(ctx: RequestContext, use_case: Callable[..., T]) -> T:
    """A use case on the entry of the path, with the body, who asks and the correlation id.

    The ``Idempotency-Key`` goes along: a retry of the request that reversed, posted or
    voided the entry (its answer lost after the commit) gets that outcome back, not a 409.
    """
    return use_case(
        ctx.tenant_id,
        ctx.params.entry_id,
        ctx.body,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
        idempotency_key=ctx.idempotency_key,
    )


@router.post(
    "/v1/journal-entries",
    body=PostEntryRequest,
    response=EntryOut,
    status=201,
    permission=Permission.JOURNAL_POST.value,
    idempotency="required",
)
def post_entry(ctx: RequestContext) -> Reply:
    """Post a balanced entry, or open a two-phase hold with ``pending: true``."""
    request = with_entry_id_from_key(ctx.body, ctx.idempotency_key)
    entry = ledger_service().post_entry(
        ctx.tenant_id, request, actor=ctx.actor, correlation_id=ctx.correlation_id
    )
    return Reply(entry, status=201, headers={"Location": f"/v1/journal-entries/{entry.id}"})


@router.post(
    "/v1/journal-entry-batches",
    body=PostLinkedEntriesRequest,
    response=LinkedEntriesOut,
    status=201,
    permission=Permission.JOURNAL_POST.value,
    idempotency="required",
)
def post_linked_entries(ctx: RequestContext) -> Reply:
    """Post several entries all or none; a refusal names its entry (``entries.2.lines.0...``)."""
    batch: LinkedBatch = ledger_service().post_linked_entries(
        ctx.tenant_id,
        ctx.body,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
        idempotency_key=ctx.idempotency_key,
    )
    return Reply(batch, status=201)


@router.get(
    "/v1/journal-entries/{entry_id}",
    params=EntryPath,
    response=EntryOut,
    permission=Permission.JOURNAL_READ.value,
)
def get_entry(ctx: RequestContext) -> Entry:
    """One journal entry with its lines and links (hold, posting, reversal)."""
    return ledger_service().get_entry(ctx.tenant_id, ctx.params.entry_id)


@router.get(
    "/v1/accounts/{account_id}/entries",
    params=AccountPath,
    query=ListAccountEntriesQuery,
    response=[EntryOut],
    permission=Permission.JOURNAL_READ.value,
)
def list_account_entries(ctx: RequestContext) -> Page:
    """Entries touching the account, by effective date, within an optional date range."""
    query: ListAccountEntriesQuery = ctx.query
    return ledger_service().list_account_entries(
        ctx.tenant_id,
        ctx.params.account_id,
        date_from=query.date_from,
        date_to=query.date_to,
        limit=query.limit,
        cursor=query.cursor,
    )


_COLUMNS = ", ".join(ACCOUNT_LINE_COLUMNS)


@router.get(
    "/v1/accounts/{account_id}/entries/export",
    params=AccountPath,
    query=AccountExportQuery,
    response=Streamed(
        {
            "text/csv": f"format=csv: a header row, then one row per line: {_COLUMNS}",
            "application/x-ndjson": f"format=jsonl: one object per line, keys {_COLUMNS}",
        }
    ),
    permission=Permission.JOURNAL_READ.value,
)
def export_account_entries(ctx: RequestContext) -> Stream:
    """The account's lines dated in a range, streamed as CSV or JSON Lines."""
    query: AccountExportQuery = ctx.query
    account_id = ctx.params.account_id
    pieces = AccountHistory(ledger_service()).export_account_lines(
        ctx.tenant_id, account_id, query.date_from, query.date_to, query.format
    )
    name = f"{account_id}-{query.date_from.isoformat()}-{query.date_to.isoformat()}.{query.format}"
    return Stream(pieces, CONTENT_TYPES[query.format], filename=name)


@router.post(
    "/v1/journal-entries/{entry_id}/reverse",
    params=EntryPath,
    body=ReverseEntryRequest,
    response=ReversalOut,
    status=201,
    permission=Permission.JOURNAL_REVERSE.value,
    idempotency="required",
)
def reverse_entry(ctx: RequestContext) -> Reply:
    """Post the mirror image of a posted entry, linked to it; an entry reverses once."""
    reversal = _on_entry(ctx, ledger_service().reverse_entry)
    return Reply(
        reversal,
        status=201,
        headers={"Location": f"/v1/journal-entries/{reversal.reversal.id}"},
    )


@router.post(
    "/v1/journal-entries/{entry_id}/post",
    params=EntryPath,
    body=PostPendingRequest,
    response=HoldTransitionOut,
    permission=Permission.JOURNAL_POST.value,
    idempotency="required",
)
def post_pending(ctx: RequestContext) -> HoldTransition:
    """Post a pending entry in full, by one amount, or per line; the rest is released."""
    return _on_entry(ctx, ledger_service().post_pending)


@router.post(
    "/v1/journal-entries/{entry_id}/void",
    params=EntryPath,
    body=VoidPendingRequest,
    response=HoldTransitionOut,
    permission=Permission.JOURNAL_POST.value,
    idempotency="required",
)
def void_pending(ctx: RequestContext) -> HoldTransition:
    """Void a pending entry: everything it reserved is released, nothing is posted."""
    return _on_entry(ctx, ledger_service().void_pending)


handle = router.handler
