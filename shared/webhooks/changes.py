"""What every webhook use case shares: the endpoint's 404 and its audit event.

Used by the endpoint use cases (:mod:`shared.webhooks.service`) and the delivery log
and resends (:mod:`shared.webhooks.delivery_log`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.errors import NotFoundError
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.outbox import StagedEvent, add_to_outbox
from shared.identity.actor import Actor
from shared.webhooks.model import Endpoint
from shared.webhooks.rules import EVENT_SOURCE

if TYPE_CHECKING:
    from google.cloud import firestore

_RESOURCE = "webhook_endpoint"


def endpoint_not_found(endpoint_id: str) -> NotFoundError:
    """The 404 of an endpoint that is not the tenant's (or no longer exists)."""
    return NotFoundError(
        f"webhook endpoint {endpoint_id} not found", code="webhook_endpoint_not_found"
    )


def stage_audit(
    writer: Any,
    db: firestore.Client,
    action: str,
    endpoint: Endpoint,
    actor: Actor,
    correlation_id: str | None,
    details: dict[str, Any] | None = None,
) -> StagedEvent:
    """An audit event; it names the endpoint's host, never its full URL (a query string
    may carry the receiver's own token) and never a secret."""
    from urllib.parse import urlsplit

    return add_to_outbox(
        writer,
        db,
        AUDIT_TOPIC,
        audit_event(
            action,
            tenant_id=endpoint.tenant_id,
            actor=actor.to_audit(),
            resource_type=_RESOURCE,
            resource_id=endpoint.id,
            details={
                "host": urlsplit(endpoint.url).hostname,
                "event_types": list(endpoint.event_types),
                "enabled": endpoint.enabled,
                **(details or {}),
            },
            source=EVENT_SOURCE,
            correlation_id=correlation_id,
        ),
    )
