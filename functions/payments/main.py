"""payments: create, read, list, capture, cancel and refund payments.

Requests are accepted here and carried out by the ``process_payment`` consumer: a
new payment answers 202 in ``requested`` with a ``payment.requested`` event staged
in the same transaction; capture, cancel and refunds answer 202 with the pending
action or refund. Clients poll ``GET /v1/payments/{payment_id}`` for the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.clients import firestore_client
from shared.http import Page, Reply, RequestContext, Router
from shared.identity.roles import Permission
from shared.payments import (
    CancelPaymentRequest,
    CapturePaymentRequest,
    CreatePaymentRequest,
    ListPaymentsQuery,
    Payment,
    RefundPaymentRequest,
    RefundRequested,
)
from shared.payments import service as payments
from shared.payments.responses import PaymentOut, RefundRequestedOut

router = Router("payments")
T = TypeVar("T")
READ = Permission.PAYMENTS_READ.value
CREATE = Permission.PAYMENTS_CREATE.value
CAPTURE = Permission.PAYMENTS_CAPTURE.value
REFUND = Permission.PAYMENTS_REFUND.value


class PaymentPath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")


def _out(payment: Payment) -> dict[str, Any]:
    # The method token stays server-side: it is a credential for charging the payer.
    return payment.to_json(include_method_token=False)


def _accepted(payment: Payment) -> Reply:
    return Reply(
        _out(payment),
        status=202,
        headers={
            "Location": f"/v1/payments/{payment.id}",
            "ETag": payments.entity_tag(payment.version),
        },
    )


def _change(ctx: RequestContext, use_case: Callable[..., T]) -> T:
    """A change to one payment, with who asks and, from ``If-Match: "v3"``, the version
    the client read (the change is refused if the payment has moved on since). The
    ``Idempotency-Key`` names the refund or action, so a retry after a lost answer
    finds the change it made instead of making another."""
    return use_case(
        firestore_client(),
        ctx.tenant_id,
        ctx.params.payment_id,
        ctx.body,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
        expected_version=payments.version_from_if_match(ctx.request.headers.get("If-Match")),
        idempotency_key=ctx.idempotency_key,
    )


@router.post(
    "/v1/payments",
    body=CreatePaymentRequest,
    response=PaymentOut,
    status=202,
    permission=CREATE,
    idempotency="required",
)
def create_payment(ctx: RequestContext) -> Reply:
    """Request a payment; it is authorized (and captured, in automatic mode) asynchronously."""
    payment = payments.create_payment(
        firestore_client(),
        ctx.tenant_id,
        ctx.body,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )
    return _accepted(payment)


@router.get("/v1/payments", permission=READ, query=ListPaymentsQuery, response=[PaymentOut])
def list_payments(ctx: RequestContext) -> Page:
    """The tenant's payments, newest first; filters by status, payer and creation time."""
    q: ListPaymentsQuery = ctx.query
    page = payments.list_payments(
        firestore_client(),
        ctx.tenant_id,
        status=q.status,
        payer_ref=q.payer_ref,
        created_from=q.created_from,
        created_to=q.created_to,
        limit=q.limit,
        cursor=q.cursor,
    )
    return Page([_out(p) for p in page.items], page.next_cursor)


@router.get("/v1/payments/{payment_id}", params=PaymentPath, permission=READ, response=PaymentOut)
def get_payment(ctx: RequestContext) -> Reply:
    """One payment with its refunds and any pending capture or cancellation (with its ETag)."""
    payment = payments.get_payment(firestore_client(), ctx.tenant_id, ctx.params.payment_id)
    return Reply(_out(payment), headers={"ETag": payments.entity_tag(payment.version)})


@router.post(
    "/v1/payments/{payment_id}/capture",
    params=PaymentPath,
    body=CapturePaymentRequest,
    response=PaymentOut,
    status=202,
    permission=CAPTURE,
    idempotency="required",
    raises=(412,),  # If-Match names a version the payment has moved on from
)
def capture_payment(ctx: RequestContext) -> Reply:
    """Capture an authorized payment, in full or in part (the rest is released)."""
    return _accepted(_change(ctx, payments.request_capture))


@router.post(
    "/v1/payments/{payment_id}/cancel",
    params=PaymentPath,
    body=CancelPaymentRequest,
    response=PaymentOut,
    status=202,
    permission=CAPTURE,
    idempotency="required",
    raises=(412,),  # If-Match names a version the payment has moved on from
)
def cancel_payment(ctx: RequestContext) -> Reply:
    """Release an authorized payment that was not captured."""
    return _accepted(_change(ctx, payments.request_cancel))


@router.post(
    "/v1/payments/{payment_id}/refunds",
    params=PaymentPath,
    body=RefundPaymentRequest,
    response=RefundRequestedOut,
    status=202,
    permission=REFUND,
    idempotency="required",
    raises=(412,),  # If-Match names a version the payment has moved on from
)
def refund_payment(ctx: RequestContext) -> Reply:
    """Refund a captured payment in full or in part; never more than what is still captured."""
    requested: RefundRequested = _change(ctx, payments.request_refund)
    payment = requested.payment
    return Reply(
        {"payment": _out(payment), "refund": requested.refund.to_json(payment.currency)},
        status=202,
        headers={"Location": f"/v1/payments/{payment.id}"},
    )


handle = router.handler
