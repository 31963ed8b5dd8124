"""Where payments live in Firestore and how a :class:`Payment` maps to a document.

``tenants/{tenant_id}/payments/{payment_id}``. Amounts are stored as decimal
strings (exact), times as Firestore timestamps (so lists can filter and sort on
``created_at``), enums as their values, refunds and the pending action as maps.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.payments.domain import (
    ActionType,
    CaptureMode,
    Payment,
    PaymentStatus,
    PendingAction,
    Refund,
    RefundStatus,
)

if TYPE_CHECKING:
    from google.cloud import firestore

TENANTS = "tenants"
PAYMENTS = "payments"


def payments_collection(db: firestore.Client, tenant_id: str) -> Any:
    return db.collection(TENANTS).document(tenant_id).collection(PAYMENTS)


def payment_ref(db: firestore.Client, tenant_id: str, payment_id: str) -> Any:
    return payments_collection(db, tenant_id).document(payment_id)


def _time(value: Any) -> datetime | None:
    """A stored timestamp as a plain aware ``datetime`` (Firestore returns a subclass)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamp, got {type(value).__name__}")
    moment = value.astimezone(UTC)
    return datetime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        tzinfo=UTC,
    )


def _required_time(value: Any) -> datetime:
    moment = _time(value)
    if moment is None:
        raise ValueError("a required timestamp is missing")
    return moment


def _amount(value: Any) -> Decimal:
    return Decimal(str(value))


def _optional_amount(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def refund_to_document(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "amount": str(refund.amount),
        "status": refund.status.value,
        "reason": refund.reason,
        "requested_at": refund.requested_at,
        "completed_at": refund.completed_at,
        "provider_reference": refund.provider_reference,
        "ledger_entry_id": refund.ledger_entry_id,
        "failure_code": refund.failure_code,
        "failure_reason": refund.failure_reason,
    }


def refund_from_document(document: Mapping[str, Any]) -> Refund:
    return Refund(
        id=str(document["id"]),
        amount=_amount(document["amount"]),
        status=RefundStatus(document["status"]),
        reason=str(document.get("reason") or ""),
        requested_at=_required_time(document["requested_at"]),
        completed_at=_time(document.get("completed_at")),
        provider_reference=document.get("provider_reference"),
        ledger_entry_id=document.get("ledger_entry_id"),
        failure_code=document.get("failure_code"),
        failure_reason=document.get("failure_reason"),
    )


def _action_to_document(action: PendingAction | None) -> dict[str, Any] | None:
    if action is None:
        return None
    return {
        "id": action.id,
        "type": action.type.value,
        "amount": str(action.amount) if action.amount is not None else None,
        "reason": action.reason,
        "requested_at": action.requested_at,
    }


def _action_from_document(document: Mapping[str, Any] | None) -> PendingAction | None:
    if not document:
        return None
    return PendingAction(
        id=str(document["id"]),
        type=ActionType(document["type"]),
        requested_at=_required_time(document["requested_at"]),
        amount=_optional_amount(document.get("amount")),
        reason=str(document.get("reason") or ""),
    )


def payment_to_document(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "tenant_id": payment.tenant_id,
        "amount": str(payment.amount),
        "currency": payment.currency,
        "payer_ref": payment.payer_ref,
        "payee_ref": payment.payee_ref,
        "method_token": payment.method_token,
        "description": payment.description,
        "tax_calculation_id": payment.tax_calculation_id,
        "capture_mode": payment.capture_mode.value,
        "status": payment.status.value,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
        "created_by": dict(payment.created_by),
        "version": payment.version,
        "provider_reference": payment.provider_reference,
        "failure_code": payment.failure_code,
        "failure_reason": payment.failure_reason,
        "authorized_amount": str(payment.authorized_amount),
        "captured_amount": str(payment.captured_amount),
        "refunded_amount": str(payment.refunded_amount),
        "refunds": [refund_to_document(r) for r in payment.refunds],
        "pending_action": _action_to_document(payment.pending_action),
        "ledger_hold_id": payment.ledger_hold_id,
        "ledger_capture_entry_id": payment.ledger_capture_entry_id,
        "authorization_expires_at": payment.authorization_expires_at,
        "authorized_at": payment.authorized_at,
        "captured_at": payment.captured_at,
        "settled_at": payment.settled_at,
        "cancelled_at": payment.cancelled_at,
        "failed_at": payment.failed_at,
    }


def payment_from_document(document: Mapping[str, Any]) -> Payment:
    return Payment(
        id=str(document["id"]),
        tenant_id=str(document["tenant_id"]),
        amount=_amount(document["amount"]),
        currency=str(document["currency"]),
        payer_ref=str(document["payer_ref"]),
        payee_ref=str(document["payee_ref"]),
        method_token=str(document["method_token"]),
        description=str(document.get("description") or ""),
        tax_calculation_id=document.get("tax_calculation_id"),
        capture_mode=CaptureMode(document["capture_mode"]),
        status=PaymentStatus(document["status"]),
        created_at=_required_time(document["created_at"]),
        updated_at=_required_time(document["updated_at"]),
        created_by=dict(document.get("created_by") or {}),
        version=int(document["version"]),
        provider_reference=document.get("provider_reference"),
        failure_code=document.get("failure_code"),
        failure_reason=document.get("failure_reason"),
        authorized_amount=_amount(document["authorized_amount"]),
        captured_amount=_amount(document["captured_amount"]),
        refunded_amount=_amount(document["refunded_amount"]),
        refunds=tuple(refund_from_document(r) for r in document.get("refunds") or ()),
        pending_action=_action_from_document(document.get("pending_action")),
        ledger_hold_id=document.get("ledger_hold_id"),
        ledger_capture_entry_id=document.get("ledger_capture_entry_id"),
        authorization_expires_at=_time(document.get("authorization_expires_at")),
        authorized_at=_time(document.get("authorized_at")),
        captured_at=_time(document.get("captured_at")),
        settled_at=_time(document.get("settled_at")),
        cancelled_at=_time(document.get("cancelled_at")),
        failed_at=_time(document.get("failed_at")),
    )
