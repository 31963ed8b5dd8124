"""Audit events: who did what to which resource, with what outcome.

Every function emits them to the ``audit-events`` topic (through the outbox when
they accompany a state change); the audit writer appends them to a hash chain.
"""

from __future__ import annotations

from typing import Any, Literal

from shared.events.envelope import EventEnvelope, new_event

AUDIT_TOPIC = "audit-events"
AUDIT_EVENT_TYPE = "audit.recorded"


def audit_event(
    action: str,
    *,
    tenant_id: str,
    actor: dict[str, Any],
    resource_type: str,
    resource_id: str,
    outcome: Literal["success", "failure"] = "success",
    details: dict[str, Any] | None = None,
    source: str = "tributum",
    correlation_id: str | None = None,
) -> EventEnvelope:
    """An ``audit.recorded`` envelope for ``action`` (e.g. ``ledger.entry.posted``)."""
    return new_event(
        AUDIT_EVENT_TYPE,
        source=source,
        subject=f"{resource_type}/{resource_id}",
        tenant_id=tenant_id,
        correlation_id=correlation_id,
        data={
            "action": action,
            "actor": actor,
            "resource": {"type": resource_type, "id": resource_id},
            "outcome": outcome,
            "details": details or {},
        },
    )
