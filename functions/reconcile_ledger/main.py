"""reconcile_ledger: on each scheduler tick, reconciles every tenant's ledger.

The use case stores a report per tenant and stages one ``ledger.discrepancy``
event per difference (through the outbox). Here each difference is also logged
at ERROR as ``ledger.discrepancy``: the log-based metric of infra/monitoring.tf
counts exactly those lines and alerts on any.
"""

from __future__ import annotations

from datetime import timedelta

from shared.events.consumer import EventContext, event_consumer
from shared.events.envelope import SCHEDULE_TICK_TYPE, EventEnvelope
from shared.identity.actor import Actor
from shared.ledger.instance import ledger_service
from shared.logger import get_logger


# Hourly ticks: one delivered more than half an hour late is superseded by the next.
@event_consumer(
    "reconcile_ledger",
    accepts={SCHEDULE_TICK_TYPE: [1]},
    max_age=timedelta(minutes=30),
    processed_ttl=timedelta(days=1),
)
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    log = get_logger("reconcile_ledger")
    reports = ledger_service().reconcile(
        actor=Actor.system("reconcile_ledger"), correlation_id=envelope.correlation_id
    )
    for report in reports:
        for discrepancy in report.discrepancies:
            log.error(
                "ledger.discrepancy",
                tenant_id=report.tenant_id,
                reconciliation_id=report.id,
                **{f"discrepancy_{k}": v for k, v in discrepancy.to_json().items()},
            )
    log.info(
        "reconcile_ledger.completed",
        tenants=len(reports),
        discrepancies=sum(report.discrepancy_count for report in reports),
        unclean_tenants=[report.tenant_id for report in reports if not report.clean],
    )
