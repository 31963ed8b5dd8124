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
* **duplicate**: a processed record exists: acknowledged, having changed nothing. With
  ``check_duplicate_first`` (the default) the handler is not even called; without it,
  ``run_once`` runs the effect, whose commit then fails on the existing record.
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

import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from shared.events.envelope import EventEnvelope
from shared.events.event_context import EventContext, PermanentEventError
from shared.events.push import (
    MalformedPushError,
    PushedMessage,
    current_execution_id,
    decode_push,
)
from shared.events.push_auth import check_current_push
from shared.events.screening import (
    DEFAULT_PROCESSED_TTL,
    DEFAULT_TRANSACTION_ATTEMPTS,
    ConsumerSpec,
    Verdict,
    screen,
)
from shared.logger import bind_context, bind_request_context, get_logger, parse_trace_headers

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.producers import ProducerIdentity

Handler = Callable[[EventEnvelope, EventContext], object]
CloudEventFunction = Callable[[Any], None]


class SignatureTypeError(RuntimeError):
    """A consumer is served with the wrong functions-framework signature type."""


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
    """The producer the message's attributes prove, or the rejection's dead-letter id.

    The key is read in the credentials database; its use is noted, and a rejection
    filed, in ``db`` (the main database).
    """
    from shared.clients import credentials_client
    from shared.producers import ProducerRejected, authenticate

    assert spec.producer_scope is not None
    try:
        return authenticate(
            credentials_client(),
            message.attributes,
            spec.producer_scope,
            books=lambda: db,
            now=now,
        )
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


# EventContext and PermanentEventError (event_context.py), ConsumerSpec and screen
# (screening.py) are re-exported: every consumer function imports them from here.
__all__ = [
    "DEFAULT_PROCESSED_TTL",
    "ConsumerSpec",
    "EventContext",
    "PermanentEventError",
    "SignatureTypeError",
    "deliver",
    "event_consumer",
    "record_malformed_push",
    "register_cloud_event",
    "screen",
]
