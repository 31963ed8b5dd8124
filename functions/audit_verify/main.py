"""audit_verify: on each scheduler tick, verifies every tenant's audit chain.

Each verified head is logged as ``audit.chain_witness`` (routed by Terraform to a
log bucket with locked retention, outside Firestore); a chain that fails is logged
at ERROR as ``audit.chain_verification_failed``, which the log-based metric of
infra/monitoring.tf counts and alerts on. The rules are in :mod:`shared.audit`.
"""

from __future__ import annotations

from datetime import timedelta

from shared.audit import verify_and_witness
from shared.events.consumer import EventContext, event_consumer
from shared.events.envelope import SCHEDULE_TICK_TYPE, EventEnvelope
from shared.logger import get_logger


# Hourly ticks: one delivered more than half an hour late is superseded by the next.
@event_consumer(
    "audit_verify",
    accepts={SCHEDULE_TICK_TYPE: [1]},
    max_age=timedelta(minutes=30),
    processed_ttl=timedelta(days=1),
)
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    reports = verify_and_witness(context.db)
    get_logger("audit_verify").info(
        "audit_verify.completed",
        tenants=len(reports),
        broken_tenants=[report.tenant_id for report in reports if not report.ok],
    )
