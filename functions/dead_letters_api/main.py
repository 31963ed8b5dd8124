"""dead_letters_api: list, inspect, replay and discard dead letters (admins)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared import deadletters
from shared.clients import firestore_client
from shared.http import Page, PageQuery, RequestContext, Router
from shared.http.examples import body_examples
from shared.text import HumanText

router = Router("dead_letters_api")
PERMISSION = "dead_letters:admin"


class DeadLetterQuery(PageQuery):
    status: Literal["stored", "replayed", "discarded"] | None = None
    topic: str | None = Field(default=None, max_length=255)


class DiscardRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra=body_examples({"note": "Replayed by hand after the fix"}),
    )

    note: HumanText | None = None


class DeadLetterOut(BaseModel):
    id: str
    topic: str
    tenant_id: str | None
    event_id: str | None
    event_type: str | None
    reason: str
    consumer: str | None
    status: str
    data_base64: str
    data_text: str | None
    attributes: dict[str, str]
    delivery_count: int | None
    source_subscription: str | None
    seen_count: int
    replay_count: int
    first_seen: str
    last_seen: str
    data_size: int | None = Field(description="bytes of the original message data")
    data_truncated: bool = Field(description="only the first 256 KiB were kept; not replayable")
    data_redacted: bool = Field(
        description="secret-named values (tokens, passwords) were removed; not replayable"
    )
    claimed_tenant_id: str | None = Field(
        description="the tenant the message itself names; a claim, which decides nothing "
        "(tenant_id is whose dead letter it is)",
    )


@router.get(
    "/v1/dead-letters", permission=PERMISSION, query=DeadLetterQuery, response=[DeadLetterOut]
)
def list_dead_letters(ctx: RequestContext) -> Page:
    """Dead letters of the caller's tenant, newest first."""
    q: DeadLetterQuery = ctx.query
    return deadletters.list_dead_letters(
        firestore_client(),
        ctx.tenant_id,
        status=q.status,
        topic=q.topic,
        limit=q.limit,
        cursor=q.cursor,
    )


@router.get("/v1/dead-letters/{dead_letter_id}", permission=PERMISSION, response=DeadLetterOut)
def get_dead_letter(ctx: RequestContext) -> deadletters.DeadLetter:
    """One dead letter with its data and attributes."""
    return deadletters.get_dead_letter(
        firestore_client(), ctx.tenant_id, ctx.path_params["dead_letter_id"]
    )


@router.post(
    "/v1/dead-letters/{dead_letter_id}/replay",
    permission=PERMISSION,
    response=DeadLetterOut,
    raises=(409,),
)
def replay_dead_letter(ctx: RequestContext) -> deadletters.DeadLetter:
    """Publish the message to its original topic again (consumers dedupe by event id)."""
    return deadletters.replay(
        firestore_client(), ctx.tenant_id, ctx.path_params["dead_letter_id"], actor=ctx.actor
    )


@router.post(
    "/v1/dead-letters/{dead_letter_id}/discard",
    permission=PERMISSION,
    body=DiscardRequest,
    response=DeadLetterOut,
)
def discard_dead_letter(ctx: RequestContext) -> deadletters.DeadLetter:
    """Keep the record but never replay it."""
    body: DiscardRequest = ctx.body
    return deadletters.discard(
        firestore_client(),
        ctx.tenant_id,
        ctx.path_params["dead_letter_id"],
        actor=ctx.actor,
        note=body.note,
    )


handle = router.handler
