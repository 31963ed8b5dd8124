"""Consuming events pushed by Pub/Sub, with exactly one effect per event.

A consumer function is a handler decorated with :func:`event_consumer`::

    @event_consumer("user_projector", accepts={"user.created": [1], "user.updated": [1]})
    def handle(envelope: EventEnvelope, context: EventContext) -> None:
        context.run_once(lambda transaction: project_user(transaction, context.db, envelope))

The decorated function is what functions-framework calls with the
``messagePublished`` CloudEvent of a push delivery. What happens to a delivery:

* **accepted**: the handler runs; ``context.run_once(effect)`` runs ``effect`` in a
  Firestore transaction that also creates ``processed_events/{consumer}:{event id}``,
  so the effect and the record that it happened commit together or not at all.
  Outbox events the effect staged are published after the commit.
* **duplicate**: a processed record exists: acknowledged without running anything.
* **retryable failure**: any exception from the handler propagates, functions-framework
  answers 500 and Pub/Sub redelivers (then dead-letters after the subscription's
  ``max_delivery_attempts``).
* **permanent failure**: malformed data, a type or schema version this consumer does
  not accept, or a :class:`PermanentEventError` from the handler: the message is
  recorded in ``dead_letters`` with the reason (for inspection and replay) and
  acknowledged, so it does not loop until the dead-letter topic.
* **stale**: older than the consumer's ``max_age``: dropped with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from shared.events.envelope import SCHEDULE_TICK_TYPE, EventEnvelope
from shared.events.outbox import StagedEvent, collect_staged, publish_committed
from shared.events.push import (
    MalformedPushError,
    PushedMessage,
    current_execution_id,
    decode_push,
)
from shared.events.push_auth import check_current_push
from shared.logger import bind_context, bind_request_context, get_logger, parse_trace_headers

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.producers import ProducerIdentity

PROCESSED_COLLECTION = "processed_events"
DEFAULT_PROCESSED_TTL = timedelta(days=30)
# Attempts of the run_once transaction itself; a failure after them is retried by redelivery.
DEFAULT_TRANSACTION_ATTEMPTS = 5
# Extra rounds when a read inside the transaction is aborted (the emulator's lock
# timeout surfaces on reads, which the client library does not retry by itself).
_ABORTED_ROUNDS = 3
_CONSUMER_NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
# Event ids usable verbatim in a document id; anything else is hashed.
_PLAIN_EVENT_ID = re.compile(r"^[A-Za-z0-9._:@+=-]{1,128}$")
_MAX_REASON_ERRORS = 5

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[EventEnvelope, "EventContext"], object]
CloudEventFunction = Callable[[Any], None]


class SignatureTypeError(RuntimeError):
    """A consumer is served with the wrong functions-framework signature type."""


class PermanentEventError(Exception):
    """Raised by a handler for an event that no retry can ever process.

    The consumer records it in ``dead_letters`` with ``reason`` and acknowledges it.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


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
    # every effect goes through run_once is deduplicated by run_once's own transactional
    # read, and may turn this off to save a round trip per event.
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


def _pydantic_summary(exc: PydanticValidationError) -> str:
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
        return Screening("reject", None, f"malformed envelope: {_pydantic_summary(exc)}")
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
                f"data of {self.envelope.type} is invalid: {_pydantic_summary(exc)}"
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
        from google.cloud import firestore as fs

        if self._run_once_called:
            raise RuntimeError("run_once may be called once per delivery")
        self._run_once_called = True
        ref = self.processed_ref
        staged: list[StagedEvent] = []

        @fs.transactional
        def attempt(transaction: Any) -> tuple[bool, T | None]:
            staged.clear()
            snapshot = ref.get(transaction=transaction)
            if snapshot.exists:
                self._check_same_event(snapshot.to_dict() or {})
                return True, None
            with collect_staged(staged):
                result = effect(transaction)
            transaction.create(ref, self._processed_record(datetime.now(UTC)))
            return False, result

        duplicate: bool
        result: T | None
        for round_number in range(1, _ABORTED_ROUNDS + 1):
            try:
                duplicate, result = attempt(
                    self.db.transaction(max_attempts=self.spec.transaction_attempts)
                )
                break
            except AlreadyExists:
                # Another delivery committed the record first; if it was not the
                # record that clashed, the effect's own create did: that is its error.
                if not self.already_processed():
                    raise
                duplicate, result = True, None
                break
            except Aborted:
                if round_number == _ABORTED_ROUNDS:
                    raise
                time.sleep(random.uniform(0.05, 0.2) * round_number)  # noqa: S311
        self.processed = True
        self.duplicate = duplicate
        if duplicate:
            return None
        self._publish_staged(staged)
        return result

    def _publish_staged(self, staged: list[StagedEvent]) -> None:
        if not staged:
            return
        try:
            publish_committed(self.db, staged)
        except Exception as exc:
            # The effect is committed and its events are safe in the outbox: the
            # relay publishes them. Failing the delivery now would only redeliver
            # an event that is already processed.
            get_logger("events.consumer").warning(
                "event.outbox_publish_deferred",
                staged=len(staged),
                error=type(exc).__name__,
                detail=str(exc),
            )


def _record_rejection(
    spec: ConsumerSpec,
    message: PushedMessage,
    reason: str,
    db: firestore.Client,
    *,
    owner: tuple[str | None] | None = None,
) -> str:
    """File the message as a dead letter; ``owner`` overrides the tenant the message names.

    On producer-authenticated topics the owner is the presenting key's tenant, or
    ``(None,)`` (operators only) when no key was identified: a message must never file
    itself in a tenant it merely claims.
    """
    from shared.deadletters import record_rejected

    stored = record_rejected(
        db,
        topic=message.topic,
        message_id=message.message_id,
        data=message.data,
        attributes=message.attributes,
        reason=reason,
        consumer=spec.name,
        owner=owner,
    )
    return stored.id


def _authenticate_producer(
    spec: ConsumerSpec, message: PushedMessage, db: firestore.Client, now: datetime
) -> ProducerIdentity | str:
    """The producer the message's attributes prove, or the rejection's dead-letter id."""
    from shared.producers import ProducerRejected, authenticate

    assert spec.producer_scope is not None
    try:
        return authenticate(db, message.attributes, spec.producer_scope, now=now)
    except ProducerRejected as exc:
        return _reject_producer(spec, message, exc, db)


def _reject_producer(
    spec: ConsumerSpec, message: PushedMessage, exc: Exception, db: firestore.Client
) -> str:
    code, reason, tenant_id = (getattr(exc, a) for a in ("code", "reason", "tenant_id"))
    dead_letter_id = _record_rejection(spec, message, f"{code}: {reason}", db, owner=(tenant_id,))
    get_logger("events.consumer").error(
        "event.producer_rejected", code=code, reason=reason, dead_letter_id=dead_letter_id
    )
    return dead_letter_id


def record_malformed_push(db: firestore.Client, error: MalformedPushError, consumer: str) -> str:
    """Keep a delivery that is not a readable Pub/Sub message as a dead letter; its id."""
    from shared.deadletters import record_rejected

    stored = record_rejected(
        db,
        topic=error.topic,
        message_id=error.message_id,
        data=_without_credentials(error.raw),
        attributes={},
        reason=f"malformed push: {error.reason}",
        consumer=consumer,
        owner=(None,),  # unreadable: nothing in it can be trusted to name a tenant
    )
    return stored.id


def _without_credentials(raw: bytes) -> bytes:
    """The raw push body minus any credential among its message attributes."""
    import orjson

    from shared.deadletters import SECRET_ATTRIBUTES

    try:
        body = orjson.loads(raw)
        attributes = body["message"]["attributes"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return raw
    if not isinstance(attributes, dict) or not SECRET_ATTRIBUTES & attributes.keys():
        return raw
    for name in SECRET_ATTRIBUTES:
        attributes.pop(name, None)
    return orjson.dumps(body)


def _default_db() -> firestore.Client:
    from shared.clients import firestore_client

    return firestore_client()


def deliver(
    spec: ConsumerSpec,
    handler: Handler,
    cloud_event: Any,
    *,
    db_factory: Callable[[], firestore.Client] = _default_db,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Verdict | Literal["duplicate", "processed", "malformed_push"]:
    """Handle one push delivery for ``spec``; returns what happened (for logs and tests).

    Returns normally to acknowledge; raises to have Pub/Sub redeliver.
    """
    log = get_logger("events.consumer")
    if hasattr(cloud_event, "environ"):
        # A raw HTTP request: functions-framework serves this as an HTTP function, so every
        # push would look malformed. Fail loudly (Pub/Sub redelivers) instead of filing it.
        raise SignatureTypeError(
            f"consumer {spec.name} was called with an HTTP request: it must be served as a "
            "CloudEvent function; its entry point (FUNCTION_TARGET) must be the name "
            "register_cloud_event registered"
        )
    # Proven by its subscription's OIDC token before anything is read from its body.
    check_current_push()
    try:
        message = decode_push(cloud_event)
    except MalformedPushError as exc:
        # Unreadable as a Pub/Sub message: no retry helps, so keep what came as a dead
        # letter with the reason and acknowledge it.
        bind_request_context(consumer=spec.name, execution_id=current_execution_id())
        stored = record_malformed_push(db_factory(), exc, consumer=spec.name)
        log.error("event.malformed_push", reason=exc.reason, dead_letter_id=stored)
        return "malformed_push"
    # The trace of the request that caused the event, so its consumers' lines join it.
    trace_id, span_id = parse_trace_headers(
        {"traceparent": message.attributes.get("traceparent", "")}
    )
    bind_request_context(
        correlation_id=message.attributes.get("correlation_id"),
        trace_id=trace_id,
        span_id=span_id,
        execution_id=current_execution_id(),
        consumer=spec.name,
        message_id=message.message_id,
        topic=message.topic or None,
    )
    producer: ProducerIdentity | None = None
    if spec.producer_scope is not None:
        authenticated = _authenticate_producer(spec, message, db_factory(), now())
        if isinstance(authenticated, str):
            return "reject"
        producer = authenticated
        bind_context(producer_key_id=producer.key_id)
    owner = (producer.tenant_id,) if producer is not None else None
    screening = screen(
        spec,
        message.data,
        now(),
        message_id=message.message_id,
        publish_time=message.publish_time,
    )
    envelope = screening.envelope
    if envelope is not None:
        bind_context(
            correlation_id=envelope.correlation_id,
            event_id=envelope.id,
            event_type=envelope.type,
            tenant_id=envelope.tenant_id,
        )
    if screening.verdict == "reject":
        dead_letter_id = _record_rejection(
            spec, message, screening.reason, db_factory(), owner=owner
        )
        log.error("event.rejected", reason=screening.reason, dead_letter_id=dead_letter_id)
        return "reject"
    if screening.verdict == "ignore":
        log.info("event.ignored", reason=screening.reason)
        return "ignore"
    if screening.verdict == "stale":
        log.warning("event.dropped_stale", reason=screening.reason)
        return "stale"
    assert envelope is not None
    if producer is not None:
        from shared.producers import ProducerRejected, check_tenant

        try:
            check_tenant(producer, envelope.tenant_id)
        except ProducerRejected as exc:
            _reject_producer(spec, message, exc, db_factory())
            return "reject"
    context = EventContext(spec, envelope, message, db_factory, producer)
    started = time.monotonic()
    try:
        if spec.check_duplicate_first and context.already_processed():
            log.info("event.duplicate")
            return "duplicate"
        handler(envelope, context)
        if not context.used_run_once:
            context.mark_processed()
    except PermanentEventError as exc:
        dead_letter_id = _record_rejection(spec, message, exc.reason, context.db, owner=owner)
        log.error("event.rejected", reason=exc.reason, dead_letter_id=dead_letter_id)
        return "reject"
    except Exception as exc:
        log.warning(
            "event.failed_will_retry",
            error=type(exc).__name__,
            detail=str(exc),
            committed=context.processed,
            exc_info=True,
        )
        raise
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    if context.duplicate:
        log.info("event.duplicate", duration_ms=duration_ms)
        return "duplicate"
    log.info("event.processed", duration_ms=duration_ms)
    return "processed"


def register_cloud_event(function: CloudEventFunction) -> CloudEventFunction:
    """Register ``function`` with functions-framework as a CloudEvent function.

    Background functions are deployed without an ``event_trigger`` (push subscriptions
    feed them), so the platform starts them with ``FUNCTION_SIGNATURE_TYPE=http``; only
    the registration made in code, which functions-framework prefers over that variable,
    makes it decode a Pub/Sub push body into a CloudEvent. It is keyed by the function's
    ``__name__``, which must therefore equal the manifest's ``entry_point``.
    """
    import functions_framework  # loaded already wherever a function is served

    return functions_framework.cloud_event(function)


def event_consumer(
    name: str,
    *,
    accepts: Mapping[str, Collection[int]],
    ignore_other_types: bool = False,
    max_age: timedelta | None = None,
    processed_ttl: timedelta = DEFAULT_PROCESSED_TTL,
    transaction_attempts: int = DEFAULT_TRANSACTION_ATTEMPTS,
    check_duplicate_first: bool = True,
    producer_scope: str | None = None,
    db_factory: Callable[[], firestore.Client] | None = None,
) -> Callable[[Handler], CloudEventFunction]:
    """Turn ``handler(envelope, context)`` into a CloudEvent function for push deliveries.

    ``accepts`` maps each event type to the schema versions the handler understands;
    ``max_age`` drops events older than it (must be shorter than ``processed_ttl``,
    the lifetime of processed records, so a late redelivery cannot run twice).
    ``check_duplicate_first=False`` is for handlers whose only effects go through
    ``context.run_once`` (see :class:`ConsumerSpec`). ``producer_scope`` makes every
    message prove a producer key with that scope (``context.producer``).
    """
    spec = ConsumerSpec(
        name=name,
        accepts={t: frozenset(v) for t, v in accepts.items()},
        ignore_other_types=ignore_other_types,
        max_age=max_age,
        processed_ttl=processed_ttl,
        transaction_attempts=transaction_attempts,
        check_duplicate_first=check_duplicate_first,
        producer_scope=producer_scope,
    )

    def decorate(handler: Handler) -> CloudEventFunction:
        def cloud_event_function(cloud_event: Any) -> None:
            deliver(spec, handler, cloud_event, db_factory=db_factory or _default_db)

        cloud_event_function.__name__ = getattr(handler, "__name__", "handle")
        cloud_event_function.__doc__ = handler.__doc__
        # Not __wrapped__: inspect.signature would then report the handler's two
        # parameters, and functions-framework calls this with one.
        cloud_event_function.consumer_handler = handler  # type: ignore[attr-defined]
        cloud_event_function.consumer_spec = spec  # type: ignore[attr-defined]
        return register_cloud_event(cloud_event_function)

    return decorate


__all__ = [
    "DEFAULT_PROCESSED_TTL",
    "PROCESSED_COLLECTION",
    "ConsumerSpec",
    "EventContext",
    "PermanentEventError",
    "Screening",
    "SignatureTypeError",
    "deliver",
    "event_consumer",
    "processed_document_id",
    "record_malformed_push",
    "register_cloud_event",
    "screen",
]
