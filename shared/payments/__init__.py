"""Payments: the state machine, the provider port with its sandbox, resilience, use cases.

See ``README.md`` in this package for the lifecycle, the sandbox's outcome table and
how the processor behaves when the provider is down.
"""

from shared.payments.domain import (
    CaptureMode,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from shared.payments.ledger_port import LedgerPort, hold_entry_id, refund_entry_id
from shared.payments.processor import (
    PROCESSED_EVENT_TYPES,
    ProcessingOutcome,
    process_payment_event,
)
from shared.payments.provider import (
    PaymentProvider,
    ProviderDeclined,
    ProviderTimeout,
    ProviderUnavailable,
    ResilientProvider,
)
from shared.payments.requests import (
    CancelPaymentRequest,
    CapturePaymentRequest,
    CreatePaymentRequest,
    ListPaymentsQuery,
    RefundPaymentRequest,
)
from shared.payments.sandbox import SandboxProvider, default_payment_provider
from shared.payments.service import (
    PAYMENTS_TOPIC,
    RefundRequested,
    Transition,
    create_payment,
    get_payment,
    list_payments,
    record_authorized,
    record_cancelled,
    record_captured,
    record_failed,
    record_refund_failed,
    record_refunded,
    record_settled,
    request_cancel,
    request_capture,
    request_refund,
)
from shared.resilience import CircuitOpenError

__all__ = [
    "PAYMENTS_TOPIC",
    "PROCESSED_EVENT_TYPES",
    "CancelPaymentRequest",
    "CaptureMode",
    "CapturePaymentRequest",
    "CircuitOpenError",
    "CreatePaymentRequest",
    "LedgerPort",
    "ListPaymentsQuery",
    "Payment",
    "PaymentProvider",
    "PaymentStatus",
    "ProcessingOutcome",
    "ProviderDeclined",
    "ProviderTimeout",
    "ProviderUnavailable",
    "Refund",
    "RefundPaymentRequest",
    "RefundRequested",
    "RefundStatus",
    "ResilientProvider",
    "SandboxProvider",
    "Transition",
    "create_payment",
    "default_payment_provider",
    "get_payment",
    "hold_entry_id",
    "list_payments",
    "process_payment_event",
    "record_authorized",
    "record_cancelled",
    "record_captured",
    "record_failed",
    "record_refund_failed",
    "record_refunded",
    "record_settled",
    "refund_entry_id",
    "request_cancel",
    "request_capture",
    "request_refund",
]
