"""balance_monitors: evaluates the balance monitors of the accounts each ledger event moved.

Consumes ``ledger-events``. For an event that changed balances (a posting, a hold, a
reversal) it reads each touched account's balance and records every monitor whose
condition started or stopped holding, with its ``ledger.balance_monitor_triggered`` or
``..._cleared`` event, in the outbox (shared/ledger/monitoring.py). Evaluation is
idempotent by state: a redelivered or replayed event finds nothing new to record.
Other types on the topic (its own crossing events included) are acknowledged quietly.
"""

from __future__ import annotations

from types import MappingProxyType

from shared.events.consumer import EventContext, event_consumer
from shared.events.envelope import EventEnvelope
from shared.ledger.instance import ledger_service
from shared.ledger.monitoring import BALANCE_EVENTS, monitored_accounts
from shared.logger import get_logger

log = get_logger("balance_monitors")


@event_consumer(
    "balance_monitors",
    accepts=MappingProxyType(dict.fromkeys(BALANCE_EVENTS, (1,))),
    ignore_other_types=True,
)
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    accounts = monitored_accounts(envelope.type, envelope.data)
    if not accounts:
        return
    crossings = ledger_service().evaluate_monitors(
        envelope.tenant_id, accounts, correlation_id=envelope.correlation_id
    )
    for monitor_id, crossed in crossings:
        log.info("balance_monitor.crossed", monitor_id=monitor_id, crossing=crossed)
