"""What a consumer declares, and the decision on a delivery before any handler runs.

:class:`ConsumerSpec` is what :func:`shared.events.consumer.event_consumer` declares;
:func:`screen` decides from the message data alone whether a delivery is accepted,
rejected (permanently), ignored or stale. Apart from the consumer because both are
pure (no Firestore, no Pub/Sub, no clock: ``now`` is given), so they are tested and
read without the delivery machinery around them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import ValidationError as PydanticValidationError

from shared.events.envelope import SCHEDULE_TICK_TYPE, EventEnvelope

DEFAULT_PROCESSED_TTL = timedelta(days=30)
# Attempts of the run_once transaction itself; a failure after them is retried by redelivery.
DEFAULT_TRANSACTION_ATTEMPTS = 5
_CONSUMER_NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
_MAX_REASON_ERRORS = 5


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """What a consumer declares about the events it takes."""

    name: str
    # Event type -> the schema versions of it this consumer understands.
    accepts: Mapping[str, frozenset[int]]
    # A topic may carry a family of types of which a consumer handles a few; then
    # the others are acknowledged quietly instead of being dead-lettered. (The
    # emulator ignores subscription filters, so this matters locally even when the
    # cloud subscription filters by type.)
    ignore_other_types: bool = False
    max_age: timedelta | None = None
    processed_ttl: timedelta = DEFAULT_PROCESSED_TTL
    transaction_attempts: int = DEFAULT_TRANSACTION_ATTEMPTS
    # Read the processed record before calling the handler, so a duplicate never reaches
    # it. Needed when a handler acts outside run_once (calls a provider); a handler whose
    # every effect goes through run_once is deduplicated by run_once's create of the
    # processed record in the effect's commit, and may turn this off to save a read.
    check_duplicate_first: bool = True
    # The scope a producer key must carry (see shared/producers): set on consumers of
    # topics that systems outside Tributum publish to. Every message is then
    # authenticated from its attributes before its body is read, and its envelope's
    # tenant must be the key's.
    producer_scope: str | None = None

    def __post_init__(self) -> None:
        if not _CONSUMER_NAME.match(self.name):
            raise ValueError(f"consumer name {self.name!r} must be snake_case, 2-63 characters")
        if not self.accepts:
            raise ValueError(f"consumer {self.name} accepts no event type")
        for event_type, versions in self.accepts.items():
            if not versions or any(v < 1 for v in versions):
                raise ValueError(f"consumer {self.name}: {event_type} needs versions >= 1")
        if self.processed_ttl <= timedelta(0):
            raise ValueError(f"consumer {self.name}: processed_ttl must be positive")
        if self.max_age is not None and not (timedelta(0) < self.max_age < self.processed_ttl):
            # An event still accepted after its processed record expired could run twice.
            raise ValueError(
                f"consumer {self.name}: max_age must be positive and shorter than processed_ttl"
            )
        if self.transaction_attempts < 1:
            raise ValueError(f"consumer {self.name}: transaction_attempts must be >= 1")


Verdict = Literal["accept", "reject", "ignore", "stale"]


@dataclass(frozen=True, slots=True)
class Screening:
    """What to do with a delivery before any handler runs (pure, see :func:`screen`)."""

    verdict: Verdict
    envelope: EventEnvelope | None
    reason: str = ""


def pydantic_summary(exc: PydanticValidationError) -> str:
    """The first field errors of ``exc``, without the values (the data may hold secrets)."""
    problems = [
        f"{'.'.join(str(part) for part in err['loc']) or '(root)'}: {err['msg']}"
        for err in exc.errors()[:_MAX_REASON_ERRORS]
    ]
    more = exc.error_count() - len(problems)
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


def _tick_from_message(
    envelope: EventEnvelope, message_id: str, publish_time: str | None
) -> EventEnvelope:
    """Cloud Scheduler publishes the same bytes on every run, so a tick's identity and time
    come from the Pub/Sub message, not from its (constant) envelope."""
    update: dict[str, object] = {"id": f"tick-{message_id}"}
    if publish_time:
        with contextlib.suppress(ValueError):
            update["time"] = datetime.fromisoformat(publish_time.replace("Z", "+00:00"))
    return envelope.model_copy(update=update)


def screen(
    spec: ConsumerSpec,
    data: bytes,
    now: datetime,
    *,
    message_id: str | None = None,
    publish_time: str | None = None,
) -> Screening:
    """Decide from the message data alone: accept, reject (permanent), ignore, or stale."""
    try:
        envelope = EventEnvelope.from_bytes(data)
        if envelope.type == SCHEDULE_TICK_TYPE and message_id:
            envelope = _tick_from_message(envelope, message_id, publish_time)
    except PydanticValidationError as exc:
        # Values are left out on purpose: the data may hold what logs must not.
        return Screening("reject", None, f"malformed envelope: {pydantic_summary(exc)}")
    except ValueError as exc:
        return Screening("reject", None, f"malformed envelope: {exc}")
    versions = spec.accepts.get(envelope.type)
    if versions is None:
        if spec.ignore_other_types:
            return Screening("ignore", envelope, f"type {envelope.type} is not handled here")
        return Screening("reject", envelope, f"unknown event type {envelope.type}")
    if envelope.schema_version not in versions:
        supported = ", ".join(str(v) for v in sorted(versions))
        return Screening(
            "reject",
            envelope,
            f"unsupported schema_version {envelope.schema_version} of {envelope.type} "
            f"(supported: {supported})",
        )
    if spec.max_age is not None and now - envelope.time > spec.max_age:
        return Screening(
            "stale",
            envelope,
            f"event is {(now - envelope.time).total_seconds():.0f} s old, "
            f"more than the {spec.max_age.total_seconds():.0f} s this consumer accepts",
        )
    return Screening("accept", envelope)
