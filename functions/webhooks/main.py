"""webhooks: a tenant's webhook endpoints, their delivery log, and resends.

Owners and admins (``webhooks:manage``) create endpoints (an https URL and the event
types it wants, wildcards like ``payment.*`` included), list, read, change, disable
and delete them, and rotate an endpoint's signing secret. The secret is in the answer
to the creation and to a rotation, and in no other answer. The delivery log shows each
delivery with its attempts; a delivery, or every event since a moment, can be sent
again. Deliveries themselves are made by webhook_dispatch and webhook_deliver
(shared/webhooks).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared import webhooks
from shared.clients import firestore_client
from shared.http import Page, Reply, RequestContext, Router
from shared.identity.roles import Permission
from shared.webhooks.responses import (
    CreatedEndpointOut,
    DeliveryDetailOut,
    DeliveryOut,
    EndpointOut,
    ResendSummaryOut,
    RotatedSecretOut,
)

router = Router("webhooks")
PERMISSION = Permission.WEBHOOKS_MANAGE.value
NO_STORE = {"Cache-Control": "no-store"}


class EndpointPath(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoint_id: str = Field(pattern=webhooks.ENDPOINT_ID_PATTERN)


class DeliveryPath(EndpointPath):
    delivery_id: str = Field(pattern=webhooks.WEBHOOK_ID_PATTERN)


@router.post(
    "/v1/webhooks/endpoints",
    body=webhooks.CreateEndpointRequest,
    response=CreatedEndpointOut,
    status=201,
    permission=PERMISSION,
    # Not idempotent by key on purpose: a stored replay would keep the secret, which
    # must exist only in this one response.
)
def create_endpoint(ctx: RequestContext) -> Reply:
    """Create an endpoint; the response's ``secret`` is shown this once and never again."""
    created = webhooks.create_endpoint(
        firestore_client(),
        ctx.tenant_id,
        ctx.body,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )
    return Reply(
        created,
        status=201,
        headers={"Location": f"/v1/webhooks/endpoints/{created.endpoint.id}", **NO_STORE},
    )


@router.get("/v1/webhooks/endpoints", response=[EndpointOut], permission=PERMISSION)
def list_endpoints(ctx: RequestContext) -> list[webhooks.Endpoint]:
    """The tenant's endpoints, oldest first (at most 20)."""
    return webhooks.list_endpoints(firestore_client(), ctx.tenant_id)


@router.get(
    "/v1/webhooks/endpoints/{endpoint_id}",
    params=EndpointPath,
    response=EndpointOut,
    permission=PERMISSION,
)
def get_endpoint(ctx: RequestContext) -> webhooks.Endpoint:
    """One endpoint (never its secret)."""
    return webhooks.get_endpoint(firestore_client(), ctx.tenant_id, ctx.params.endpoint_id)


@router.patch(
    "/v1/webhooks/endpoints/{endpoint_id}",
    params=EndpointPath,
    body=webhooks.UpdateEndpointRequest,
    response=EndpointOut,
    permission=PERMISSION,
)
def update_endpoint(ctx: RequestContext) -> webhooks.Endpoint:
    """Change the URL, event types, description, or enable/disable the endpoint."""
    return webhooks.update_endpoint(
        firestore_client(),
        ctx.tenant_id,
        ctx.params.endpoint_id,
        ctx.body,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )


@router.post(
    "/v1/webhooks/endpoints/{endpoint_id}/disable",
    params=EndpointPath,
    response=EndpointOut,
    permission=PERMISSION,
)
def disable_endpoint(ctx: RequestContext) -> webhooks.Endpoint:
    """Stop deliveries to the endpoint; deliveries still retrying are cancelled. Idempotent."""
    return webhooks.disable_endpoint(
        firestore_client(),
        ctx.tenant_id,
        ctx.params.endpoint_id,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )


@router.delete(
    "/v1/webhooks/endpoints/{endpoint_id}",
    params=EndpointPath,
    status=204,
    permission=PERMISSION,
)
def delete_endpoint(ctx: RequestContext) -> Reply:
    """Delete the endpoint, its secrets and its delivery log."""
    webhooks.delete_endpoint(
        firestore_client(),
        ctx.tenant_id,
        ctx.params.endpoint_id,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )
    return Reply(None, status=204)


@router.post(
    "/v1/webhooks/endpoints/{endpoint_id}/rotate-secret",
    params=EndpointPath,
    response=RotatedSecretOut,
    permission=PERMISSION,
)
def rotate_secret(ctx: RequestContext) -> Reply:
    """A new signing secret, shown once; the previous one keeps signing for 24 hours."""
    rotated = webhooks.rotate_secret(
        firestore_client(),
        ctx.tenant_id,
        ctx.params.endpoint_id,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )
    return Reply(rotated, headers=dict(NO_STORE))


@router.get(
    "/v1/webhooks/endpoints/{endpoint_id}/deliveries",
    params=EndpointPath,
    query=webhooks.DeliveryQuery,
    response=[DeliveryOut],
    permission=PERMISSION,
)
def list_deliveries(ctx: RequestContext) -> Page:
    """The endpoint's deliveries, newest first, each with its last attempt."""
    query: webhooks.DeliveryQuery = ctx.query
    return webhooks.list_deliveries(
        firestore_client(),
        ctx.tenant_id,
        ctx.params.endpoint_id,
        limit=query.limit,
        cursor=query.cursor,
    )


@router.get(
    "/v1/webhooks/endpoints/{endpoint_id}/deliveries/{delivery_id}",
    params=DeliveryPath,
    response=DeliveryDetailOut,
    permission=PERMISSION,
)
def get_delivery(ctx: RequestContext) -> webhooks.DeliveryDetail:
    """One delivery with its attempts, newest first (status, latency, response body)."""
    return webhooks.get_delivery(
        firestore_client(), ctx.tenant_id, ctx.params.endpoint_id, ctx.params.delivery_id
    )


@router.post(
    "/v1/webhooks/endpoints/{endpoint_id}/deliveries/{delivery_id}/resend",
    params=DeliveryPath,
    response=DeliveryOut,
    status=202,
    permission=PERMISSION,
)
def resend_delivery(ctx: RequestContext) -> Reply:
    """Send the delivery again, with the same webhook-id, as a new round of attempts."""
    delivery = webhooks.resend_delivery(
        firestore_client(),
        ctx.tenant_id,
        ctx.params.endpoint_id,
        ctx.params.delivery_id,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )
    return Reply(delivery, status=202)


@router.post(
    "/v1/webhooks/endpoints/{endpoint_id}/resend",
    params=EndpointPath,
    body=webhooks.ResendSinceRequest,
    response=ResendSummaryOut,
    status=202,
    permission=PERMISSION,
)
def resend_since(ctx: RequestContext) -> Reply:
    """Send every kept event since ``since`` that the endpoint subscribes to (500 at most)."""
    body: webhooks.ResendSinceRequest = ctx.body
    summary = webhooks.resend_since(
        firestore_client(),
        ctx.tenant_id,
        ctx.params.endpoint_id,
        body.since,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )
    return Reply(summary, status=202)


handle = router.handler
