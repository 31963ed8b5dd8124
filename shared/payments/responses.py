"""Response models of the payments routes: the shapes ``Payment.to_json()`` produces.

They document the API (the router builds the function's OpenAPI document from them);
handlers return the payment's own ``to_json()``, which writes exactly these fields
(never the method token). Money is a decimal string in major units, never a number.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class RefundOut(BaseModel):
    id: str
    amount: str
    status: str
    reason: str
    requested_at: str
    completed_at: str | None
    provider_reference: str | None
    ledger_entry_id: str | None
    failure_code: str | None
    failure_reason: str | None


class PendingActionOut(BaseModel):
    id: str
    type: str
    amount: str | None
    reason: str
    requested_at: str


class PaymentOut(BaseModel):
    id: str
    status: str
    amount: str
    currency: str
    authorized_amount: str
    captured_amount: str
    refunded_amount: str
    refundable_amount: str
    payer_ref: str
    payee_ref: str
    description: str
    tax_calculation_id: str | None
    capture_mode: str
    provider_reference: str | None
    failure_code: str | None
    failure_reason: str | None
    refunds: list[RefundOut]
    pending_action: PendingActionOut | None
    ledger_hold_id: str | None
    ledger_capture_entry_id: str | None
    authorization_expires_at: str | None
    version: int
    created_at: str
    updated_at: str
    authorized_at: str | None
    captured_at: str | None
    settled_at: str | None
    cancelled_at: str | None
    failed_at: str | None
    created_by: dict[str, Any]


class RefundRequestedOut(BaseModel):
    payment: PaymentOut
    refund: RefundOut
