"""journal: balanced journal entries, two-phase holds and reversals.

Every money-moving route requires an ``Idempotency-Key``. A posting without its
own ``entry_id`` gets one derived from the key (see
:func:`shared.ledger.idempotency.entry_id_for_key`): when an instance dies after
the commit but before the key's response is stored, the retry finds the entry it
already committed instead of posting a second one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.http import Page, Reply, RequestContext, Router
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
from shared.ledger.idempotency import with_entry_id_from_key
from shared.ledger.instance import ledger_service
from shared.ledger.responses import EntryOut, HoldTransitionOut, ReversalOut

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
    page = ledger_service().list_account_entries(
        ctx.tenant_id,
        ctx.params.account_id,
        date_from=query.date_from,
        date_to=query.date_to,
        limit=query.limit,
        cursor=query.cursor,
    )
    return Page(list(page.items), page.next_cursor)


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
