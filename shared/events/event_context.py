"""One delivery as its handler sees it: dedupe, the effect's transaction, data parsing.

:class:`EventContext` is what :func:`shared.events.consumer.event_consumer` hands a
handler with each event: ``run_once(effect)`` commits the effect together with the
``processed_events/{consumer}:{event id}`` record, so every event has one effect.
Apart from the consumer, which decides what to do with a push delivery, because this
is the handler's side of it; :class:`PermanentEventError` is the handler's way to say
no retry can help.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from shared.events.envelope import EventEnvelope
from shared.events.push import PushedMessage
from shared.events.screening import ConsumerSpec, pydantic_summary
from shared.events.transact import commit_in_transaction, publish_after_commit
from shared.logger import get_logger
from shared.resilience import RetryPolicy

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.producers import ProducerIdentity

PROCESSED_COLLECTION = "processed_events"
# Rounds when a read inside the transaction is aborted (the emulator's lock timeout
# surfaces on reads, which the client library does not retry by itself): 3 attempts,
# full-jitter waits under 0.2 then 0.4 s.
ABORTED_RETRY = RetryPolicy(max_attempts=3, base_delay_seconds=0.2, max_delay_seconds=0.4)
# Event ids usable verbatim in a document id; anything else is hashed.
_PLAIN_EVENT_ID = re.compile(r"^[A-Za-z0-9._:@+=-]{1,128}$")

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class PermanentEventError(Exception):
    """Raised by a handler for an event that no retry can ever process.

    The consumer records it in ``dead_letters`` with ``reason`` and acknowledges it.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def processed_document_id(consumer: str, event_id: str) -> str:
    """``{consumer}:{event id}``; ids that are not plain document-id material are hashed."""
    if _PLAIN_EVENT_ID.match(event_id):
        return f"{consumer}:{event_id}"
    return f"{consumer}:sha256-{hashlib.sha256(event_id.encode()).hexdigest()}"


class EventContext:
    """One delivery as its handler sees it: dedupe, the effect transaction, parsing helpers."""

    def __init__(
        self,
        spec: ConsumerSpec,
        envelope: EventEnvelope,
        message: PushedMessage,
        db_factory: Callable[[], firestore.Client],
        producer: ProducerIdentity | None = None,
    ) -> None:
        self.spec = spec
        self.envelope = envelope
        self.message = message
        # The authenticated publisher, on consumers with a producer_scope.
        self.producer = producer
        self._db_factory = db_factory
        self._db: firestore.Client | None = None
        self._run_once_called = False
        # Whether the processed record is known to exist (written now or found).
        self.processed = False
        # Whether this delivery turned out to repeat one already processed.
        self.duplicate = False

    @property
    def db(self) -> firestore.Client:
        if self._db is None:
            self._db = self._db_factory()
        return self._db

    @property
    def processed_ref(self) -> Any:
        event_key = self.envelope.id
        if self.spec.producer_scope is not None:
            # Producers outside Tributum choose their own event ids: keyed by tenant too,
            # one tenant's producer can never claim (and so block) another tenant's id.
            event_key = f"{self.envelope.tenant_id}:{self.envelope.id}"
        return self.db.collection(PROCESSED_COLLECTION).document(
            processed_document_id(self.spec.name, event_key)
        )

    @property
    def used_run_once(self) -> bool:
        return self._run_once_called

    def _processed_record(self, now: datetime) -> dict[str, Any]:
        return {
            "consumer": self.spec.name,
            "event_id": self.envelope.id,
            "event_type": self.envelope.type,
            "tenant_id": self.envelope.tenant_id,
            "correlation_id": self.envelope.correlation_id,
            "message_id": self.message.message_id,
            "processed_at": now,
            "expires_at": now + self.spec.processed_ttl,
        }

    def _check_same_event(self, record: dict[str, Any]) -> None:
        """A processed record under this id must describe this event, not another one."""
        if (
            record.get("tenant_id") != self.envelope.tenant_id
            or record.get("event_type") != self.envelope.type
        ):
            raise PermanentEventError(
                f"event id {self.envelope.id} was already processed for another event "
                f"({record.get('event_type')} of tenant {record.get('tenant_id')})"
            )

    def already_processed(self) -> bool:
        """Whether a processed record exists for this consumer and event id."""
        snapshot = self.processed_ref.get()
        if snapshot.exists:
            self._check_same_event(snapshot.to_dict() or {})
            self.processed = True
        return bool(snapshot.exists)

    def mark_processed(self) -> None:
        """Record this event as processed, outside any transaction.

        For handlers without a Firestore effect: two concurrent deliveries can both
        run before either marks, so such an effect must itself tolerate a repeat
        (e.g. pass the event id as the idempotency key of the API it calls).
        """
        from google.api_core.exceptions import AlreadyExists

        with contextlib.suppress(AlreadyExists):
            self.processed_ref.create(self._processed_record(datetime.now(UTC)))
        self.processed = True

    def parse_data(self, model: type[M]) -> M:
        """``envelope.data`` as ``model``; data of the wrong shape is a permanent failure."""
        try:
            return model.model_validate(self.envelope.data)
        except PydanticValidationError as exc:
            raise PermanentEventError(
                f"data of {self.envelope.type} is invalid: {pydantic_summary(exc)}"
            ) from None

    def run_once(self, effect: Callable[[Any], T]) -> T | None:
        """Run ``effect(transaction)`` unless this event was processed; returns its result.

        The effect's Firestore reads and writes go through ``transaction`` (reads
        first, as Firestore requires), and it may stage events with
        ``add_to_outbox(transaction, ...)``. It can run more than once when the
        transaction is retried, so it must not publish or call out: only the
        committed attempt counts. Returns None when the event was already processed.
        """
        from google.api_core.exceptions import Aborted, AlreadyExists

        if self._run_once_called:
            raise RuntimeError("run_once may be called once per delivery")
        self._run_once_called = True
        ref = self.processed_ref

        def decide(transaction: Any) -> T:
            # The record is created blind, not read first: a duplicate's commit fails
            # with ALREADY_EXISTS and writes nothing, which saves every delivery a read.
            result = effect(transaction)
            transaction.create(ref, self._processed_record(datetime.now(UTC)))
            return result

        name = f"events.run_once.{self.spec.name}"
        try:
            # Only an aborted round is retried here, and what outlasts the rounds is raised
            # as it is (busy=None): any other failure is the redelivery's to retry.
            committed = commit_in_transaction(
                self.db,
                decide,
                name=name,
                retry=ABORTED_RETRY,
                attempts=self.spec.transaction_attempts,
                busy=None,
                is_retryable=lambda exc: isinstance(exc, Aborted),
            )
        except Exception as exc:
            # The effect ran before the record was looked at, so a duplicate can fail in
            # the effect as well as on the record's create (a state the first delivery
            # left can refuse it). Either way a duplicate is a duplicate, as if it had
            # been looked up first; any other failure stays what it is.
            try:
                duplicate = self.already_processed()
            except PermanentEventError:
                raise
            except Exception as read_error:
                # Neither known to be a duplicate nor not: the redelivery decides. The
                # effect's error is the one raised; the failed read is logged beside it.
                get_logger("shared.events").warning(
                    "event.duplicate_check_failed",
                    error=type(exc).__name__,
                    read_error=type(read_error).__name__,
                )
                raise exc from None
            if not duplicate:
                raise
            if not isinstance(exc, AlreadyExists):
                get_logger("shared.events").info(
                    "event.duplicate_refused_by_effect", error=type(exc).__name__
                )
            self.duplicate = True
            return None
        self.processed = True
        # The effect is committed and its events are safe in the outbox: a failed publish
        # is left to the relay, not turned into a redelivery of a processed event.
        publish_after_commit(self.db, committed.staged, name=name)
        return committed.result
