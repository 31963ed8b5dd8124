"""producer_keys: API keys for machine clients, on inbound topics and on the HTTP API.

Owners and admins create a key bound to their tenant, with scopes (``ledger:post``)
for topics and/or a role for HTTP, list them with their last use, revoke them and
rotate them (the old secret may keep working for an overlap). The credential is
returned once, at creation or rotation; only its hash is stored. Nobody manages a
key whose role ranks above their own (shared/producers).

Keys are stored in the credentials database; their last use is noted in the main
database by whichever function a key called, and merged in when keys are read.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared import producers
from shared.clients import credentials_client, firestore_client
from shared.http import Reply, RequestContext, Router
from shared.identity.roles import Permission
from shared.producers.responses import CreatedProducerKeyOut, ProducerKeyOut

router = Router("producer_keys")
PERMISSION = Permission.PRODUCER_KEYS_MANAGE.value


class ProducerKeyPath(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_id: str = Field(pattern=r"^pk[0-9a-f]{24}$")


@router.post(
    "/v1/producer-keys",
    body=producers.CreateProducerKeyRequest,
    response=CreatedProducerKeyOut,
    status=201,
    permission=PERMISSION,
    # Not idempotent by key on purpose: a stored replay would keep the secret, which
    # must exist only in this one response.
)
def create_producer_key(ctx: RequestContext) -> Reply:
    """Create a key; the response's ``credential`` is shown this once and never again."""
    created = producers.create_key(
        credentials_client(),
        ctx.tenant_id,
        ctx.body,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )
    return Reply(
        created,
        status=201,
        headers={"Location": f"/v1/producer-keys/{created.key.id}", "Cache-Control": "no-store"},
    )


@router.get("/v1/producer-keys", response=[ProducerKeyOut], permission=PERMISSION)
def list_producer_keys(ctx: RequestContext) -> list[producers.ProducerKey]:
    """The tenant's keys, oldest first, with their status and last use."""
    return producers.list_keys(credentials_client(), ctx.tenant_id, books=firestore_client())


@router.get(
    "/v1/producer-keys/{key_id}",
    params=ProducerKeyPath,
    response=ProducerKeyOut,
    permission=PERMISSION,
)
def get_producer_key(ctx: RequestContext) -> producers.ProducerKey:
    """One key (never its credential)."""
    return producers.get_key(
        credentials_client(), ctx.tenant_id, ctx.params.key_id, books=firestore_client()
    )


@router.post(
    "/v1/producer-keys/{key_id}/revoke",
    params=ProducerKeyPath,
    response=ProducerKeyOut,
    permission=PERMISSION,
)
def revoke_producer_key(ctx: RequestContext) -> producers.ProducerKey:
    """Revoke a key: messages presenting it are refused from now on. Idempotent."""
    return producers.revoke_key(
        credentials_client(),
        ctx.tenant_id,
        ctx.params.key_id,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )


@router.post(
    "/v1/producer-keys/{key_id}/rotate",
    params=ProducerKeyPath,
    body=producers.RotateProducerKeyRequest,
    response=CreatedProducerKeyOut,
    status=201,
    permission=PERMISSION,
    raises=(409,),
)
def rotate_producer_key(ctx: RequestContext) -> Reply:
    """Replace a key: the answer is the new key with its credential (shown this once);
    the old one keeps working for ``overlap_seconds``, then is refused."""
    created = producers.rotate_key(
        credentials_client(),
        ctx.tenant_id,
        ctx.params.key_id,
        ctx.body,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )
    return Reply(
        created,
        status=201,
        headers={"Location": f"/v1/producer-keys/{created.key.id}", "Cache-Control": "no-store"},
    )


handle = router.handler
