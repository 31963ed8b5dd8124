"""The processor side of payments: the provider's outcomes recorded on the payment.

Every ``record_*`` use case has one shape, a :class:`_Recording`: whether the outcome
is already recorded (then nothing changes and ``changed`` is False, so redeliveries
are harmless), the state machine's transition (:mod:`shared.payments.domain`), and the
``payment.*`` events it emits. :func:`_record` commits it like every change of a
payment (:func:`shared.payments.store.change_payment`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from shared.events.outbox import publish_committed
from shared.events.transact import Publisher
from shared.identity.actor import Actor
from shared.payments import domain
from shared.payments.domain import Payment, PaymentStatus, RefundStatus
from shared.payments.store import Changed, Decision, PaymentEvent, Unchanged, change_payment

if TYPE_CHECKING:
    from google.cloud import firestore

PROCESSOR_ACTOR = Actor.system("payments.processor")


@dataclass(frozen=True, slots=True)
class Transition:
    """What a processor-side ``record_*`` did: ``changed`` is False for a repeat."""

    payment: Payment
    changed: bool


@dataclass(frozen=True, slots=True)
class _Recording:
    """One processor-side outcome: how to tell it is recorded, the change, its events."""

    events: Sequence[tuple[str, dict[str, Any]]]
    recorded: Callable[[Payment], bool]
    apply: Callable[[Payment, datetime], Payment]
    outcome: Literal["success", "failure"] = "success"


def record_authorized(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    *,
    provider_reference: str,
    amount: Decimal,
    ledger_hold_id: str,
    expires_at: datetime,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
) -> Transition:
    """``requested -> authorized`` with the provider's reference and the ledger hold."""
    recording = _Recording(
        events=[("payment.authorized", {"provider_reference": provider_reference})],
        recorded=lambda payment: (
            payment.status is not PaymentStatus.REQUESTED
            and payment.ledger_hold_id == ledger_hold_id
        ),
        apply=lambda payment, now: domain.authorize(
            payment,
            provider_reference=provider_reference,
            amount=amount,
            ledger_hold_id=ledger_hold_id,
            expires_at=expires_at,
            now=now,
        ),
    )
    return _record(db, tenant_id, payment_id, recording, correlation_id, publisher)


def record_captured(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    *,
    amount: Decimal,
    ledger_entry_id: str,
    capture_reference: str,
    settled: bool,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
) -> Transition:
    """``authorized -> captured`` (and ``-> settled`` in the same commit when ``settled``)."""

    def capture(payment: Payment, now: datetime) -> Payment:
        updated = domain.capture(payment, amount=amount, ledger_entry_id=ledger_entry_id, now=now)
        return domain.settle(updated, now=now) if settled else updated

    events: list[tuple[str, dict[str, Any]]] = [
        ("payment.captured", {"capture_reference": capture_reference, "amount": str(amount)})
    ]
    if settled:
        events.append(("payment.settled", {}))
    recording = _Recording(
        events=events,
        recorded=lambda payment: payment.ledger_capture_entry_id == ledger_entry_id,
        apply=capture,
    )
    return _record(db, tenant_id, payment_id, recording, correlation_id, publisher)


def record_settled(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    *,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
) -> Transition:
    """``captured -> settled``, for providers that settle after the capture."""
    recording = _Recording(
        events=[("payment.settled", {})],
        recorded=lambda payment: payment.settled_at is not None,
        apply=lambda payment, now: domain.settle(payment, now=now),
    )
    return _record(db, tenant_id, payment_id, recording, correlation_id, publisher)


def record_failed(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    *,
    code: str,
    reason: str,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
) -> Transition:
    """``requested|authorized -> failed`` (declined, hold expired, capture refused...)."""
    recording = _Recording(
        events=[("payment.failed", {"failure_code": code})],
        recorded=lambda payment: payment.status is PaymentStatus.FAILED,
        apply=lambda payment, now: domain.fail(payment, code=code, reason=reason, now=now),
        outcome="failure",
    )
    return _record(db, tenant_id, payment_id, recording, correlation_id, publisher)


def record_cancelled(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    *,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
) -> Transition:
    """``authorized -> cancelled``: the authorization and the ledger hold are released."""
    recording = _Recording(
        events=[("payment.cancelled", {})],
        recorded=lambda payment: payment.status is PaymentStatus.CANCELLED,
        apply=lambda payment, now: domain.cancel(payment, now=now),
    )
    return _record(db, tenant_id, payment_id, recording, correlation_id, publisher)


def record_refunded(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    *,
    refund_id: str,
    provider_reference: str,
    ledger_entry_id: str,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
) -> Transition:
    """A pending refund succeeded: ``-> partially_refunded`` or ``-> refunded``."""
    recording = _Recording(
        events=[("payment.refunded", {"refund_id": refund_id})],
        recorded=lambda payment: _refund_is(payment, refund_id, RefundStatus.SUCCEEDED),
        apply=lambda payment, now: domain.complete_refund(
            payment,
            refund_id,
            provider_reference=provider_reference,
            ledger_entry_id=ledger_entry_id,
            now=now,
        ),
    )
    return _record(db, tenant_id, payment_id, recording, correlation_id, publisher)


def record_refund_failed(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    *,
    refund_id: str,
    code: str,
    reason: str,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
) -> Transition:
    """The provider refused a refund: the refund fails, the payment keeps its state."""
    recording = _Recording(
        events=[("payment.refund_failed", {"refund_id": refund_id, "failure_code": code})],
        recorded=lambda payment: _refund_is(payment, refund_id, RefundStatus.FAILED),
        apply=lambda payment, now: domain.fail_refund(
            payment, refund_id, code=code, reason=reason, now=now
        ),
        outcome="failure",
    )
    return _record(db, tenant_id, payment_id, recording, correlation_id, publisher)


def _record(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    recording: _Recording,
    correlation_id: str | None,
    publisher: Publisher | None,
) -> Transition:
    """One processor-side transition; one already recorded changes nothing."""

    def decide(payment: Payment) -> Decision[Transition]:
        if recording.recorded(payment):
            return Unchanged(Transition(payment, changed=False))
        updated = recording.apply(payment, datetime.now(UTC))
        events = [
            PaymentEvent(
                event_type,
                details={"from_status": payment.status.value, **extra},
                extra=extra,
                outcome=recording.outcome,
            )
            for event_type, extra in recording.events
        ]
        return Changed(Transition(updated, changed=True), updated, events)

    return change_payment(
        db,
        recording.events[0][0],
        tenant_id,
        payment_id,
        decide,
        actor=PROCESSOR_ACTOR,
        correlation_id=correlation_id,
        publisher=publisher,
    )


def _refund_is(payment: Payment, refund_id: str, status: RefundStatus) -> bool:
    refund = payment.refund(refund_id)
    return refund is not None and refund.status is status
