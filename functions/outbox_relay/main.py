"""outbox_relay: on each scheduler tick, publishes outbox events a crash left unpublished.

Two outboxes: the main database's (the books' events) and the credentials database's
(the identity use cases stage their events in the same commits as users, sessions and
keys, and a Firestore commit never spans databases). Each is relayed on its own: one
database's trouble does not hold back the other's events. A failure is raised after
both were tried, so the tick is redelivered (and dropped once stale: the next tick
comes a minute later).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from shared.clients import credentials_client
from shared.events.consumer import EventContext, event_consumer
from shared.events.envelope import SCHEDULE_TICK_TYPE, EventEnvelope
from shared.events.outbox import relay_pending
from shared.logger import get_logger

if TYPE_CHECKING:
    from google.cloud import firestore


# A tick delivered late is superseded by the next one (every minute): drop it.
@event_consumer(
    "outbox_relay",
    accepts={SCHEDULE_TICK_TYPE: [1]},
    max_age=timedelta(minutes=5),
    processed_ttl=timedelta(days=1),
)
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    log = get_logger("outbox_relay")
    databases: dict[str, Callable[[], firestore.Client]] = {
        "main": lambda: context.db,
        "credentials": credentials_client,
    }
    published: dict[str, int] = {}
    failures: list[Exception] = []
    for database, client in databases.items():
        try:
            published[database] = relay_pending(client())
        except Exception as exc:
            log.error(
                "outbox_relay.failed", database=database, error=type(exc).__name__, exc_info=True
            )
            failures.append(exc)
    log.info(
        "outbox_relay.relayed",
        published=sum(published.values()),
        # Database names as values: the logger redacts keys that look like secrets.
        by_database=[{"database": name, "published": n} for name, n in published.items()],
    )
    if failures:
        raise failures[0]
