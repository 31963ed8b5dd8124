"""dead_letters_api: list, inspect, replay and discard dead letters (admins)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared import deadletters
from shared.clients import firestore_client
from shared.deadletters.responses import DeadLetterOut
from shared.http import Page, PageQuery, RequestContext, Router
from shared.http.examples import body_examples
from shared.identity.roles import Permission
from shared.text import HumanText

router = Router("dead_letters_api")
PERMISSION = Permission.DEAD_LETTERS_ADMIN.value


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


class DeadLetterPath(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Unconstrained on purpose: an id that cannot exist is a 404 like a missing one.
    dead_letter_id: str = Field(examples=["5e1f0c9a7b3d2e4f6a8b0c1d2e3f4a5b6c7d8e9f"])


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


@router.get(
    "/v1/dead-letters/{dead_letter_id}",
    params=DeadLetterPath,
    permission=PERMISSION,
    response=DeadLetterOut,
)
def get_dead_letter(ctx: RequestContext) -> deadletters.DeadLetter:
    """One dead letter with its data and attributes."""
    return deadletters.get_dead_letter(firestore_client(), ctx.tenant_id, ctx.params.dead_letter_id)


@router.post(
    "/v1/dead-letters/{dead_letter_id}/replay",
    params=DeadLetterPath,
    permission=PERMISSION,
    response=DeadLetterOut,
    raises=(409,),
)
def replay_dead_letter(ctx: RequestContext) -> deadletters.DeadLetter:
    """Publish the message to its original topic again (consumers dedupe by event id)."""
    return deadletters.replay(
        firestore_client(), ctx.tenant_id, ctx.params.dead_letter_id, actor=ctx.actor
    )


@router.post(
    "/v1/dead-letters/{dead_letter_id}/discard",
    params=DeadLetterPath,
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
        ctx.params.dead_letter_id,
        actor=ctx.actor,
        note=body.note,
    )


handle = router.handler
