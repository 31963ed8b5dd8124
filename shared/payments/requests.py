"""Request models of the payments use cases: pydantic v2, strict, unknown fields forbidden.

The HTTP layer validates JSON bodies against these models (JSON mode: enums are
their string values, datetimes ISO strings). They check shapes; meaning (an
amount's decimals for the currency, what the payment's state allows) is checked
by :mod:`shared.payments.domain` with stable codes. Amounts are decimal strings
in major units, never JSON numbers. Nothing that looks like a card number
(:mod:`shared.payments.card_numbers`) is accepted in the method token, the party
references or the free-text fields: a 422 on that field, and the value is neither
stored nor echoed.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from shared.http.examples import body_examples
from shared.moments import LaxMoment, Moment
from shared.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_CURSOR_LENGTH,
    MAX_PAGE_SIZE,
    CursorFilters,
    CursorPosition,
    DocumentId,
)
from shared.payments.card_numbers import contains_card_number
from shared.payments.domain import MAX_REASON_LENGTH, CaptureMode, PaymentStatus
from shared.text import HumanText

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)

CURRENCY_PATTERN = r"^[A-Z]{3}$"
# Parties are references into the caller's world (a customer, a merchant, an account).
PARTY_REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
METHOD_TOKEN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"  # noqa: S105 - a pattern
REFERENCE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
# The shape of an amount, for the JSON Schema only: shared.money parses it and the
# domain refuses a malformed one, zero or more decimals than the currency has, each
# with its own code (invalid_amount, not_positive), which a pattern here would turn
# into a bare bad_format.
AMOUNT_SCHEMA: JsonDict = {"pattern": r"^(0|[1-9][0-9]{0,17})(\.[0-9]{1,6})?$"}


def refuse_card_number(value: object) -> object:
    """A ``mode="before"`` check: runs ahead of the pattern, so any spelling of a card
    number is refused as one; the message never repeats the value."""
    if isinstance(value, str) and contains_card_number(value):
        raise PydanticCustomError(
            "card_number_not_allowed",
            "must not contain a card number; send the payment method token instead",
        )
    return value


class CreatePaymentRequest(BaseModel):
    """A payment from ``payer_ref`` to ``payee_ref``, charged to ``method_token``."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {
                "amount": "49.90",
                "currency": "EUR",
                "payer_ref": "cust_1042",
                "payee_ref": "merchant_7",
                "method_token": "tok_approve",
                "description": "Order 1042",
            },
            {
                "amount": "10.00",
                "currency": "EUR",
                "payer_ref": "cust_1043",
                "payee_ref": "merchant_7",
                "method_token": "tok_approve",
                "capture_mode": "manual",
            },
        ),
    )

    amount: str = Field(
        min_length=1, max_length=40, examples=["49.90"], json_schema_extra=AMOUNT_SCHEMA
    )
    currency: str = Field(pattern=CURRENCY_PATTERN, examples=["EUR"])
    payer_ref: str = Field(pattern=PARTY_REF_PATTERN, examples=["cust_1042"])
    payee_ref: str = Field(pattern=PARTY_REF_PATTERN, examples=["merchant_7"])
    method_token: str = Field(
        pattern=METHOD_TOKEN_PATTERN,
        examples=["tok_approve"],
        description="a tokenized payment method (never a card number)",
    )
    description: HumanText = ""
    tax_calculation_id: str | None = Field(
        default=None,
        pattern=REFERENCE_ID_PATTERN,
        description="the tax calculation this payment settles, if any",
    )
    capture_mode: CaptureMode = Field(
        default=CaptureMode.AUTOMATIC,
        description="automatic: captured right after authorization; manual: capture or "
        "cancel later through the API",
    )

    _no_card_numbers = field_validator(
        "method_token", "payer_ref", "payee_ref", "description", mode="before"
    )(refuse_card_number)


class CapturePaymentRequest(BaseModel):
    """Capture an authorized payment, in full (no amount) or in part."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {"amount": "8.00"},
            {},
        ),
    )

    amount: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        examples=["20.00"],
        json_schema_extra=AMOUNT_SCHEMA,
        description="at most the authorized amount; the rest of the authorization is released",
    )


class CancelPaymentRequest(BaseModel):
    """Release an authorized, not yet captured payment."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {"reason": "Customer changed their mind"},
        ),
    )

    reason: Annotated[HumanText, Field(max_length=MAX_REASON_LENGTH)] = ""

    _no_card_numbers = field_validator("reason", mode="before")(refuse_card_number)


class RefundPaymentRequest(BaseModel):
    """Refund a captured payment, in full (no amount: everything still refundable) or in part."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {"amount": "5.00", "reason": "Damaged item"},
            {},
        ),
    )

    amount: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        examples=["5.00"],
        json_schema_extra=AMOUNT_SCHEMA,
    )
    reason: Annotated[HumanText, Field(max_length=MAX_REASON_LENGTH)] = ""

    _no_card_numbers = field_validator("reason", mode="before")(refuse_card_number)


class ListPaymentsQuery(BaseModel):
    """Query parameters arrive as strings: lax, unknown names forbidden."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: PaymentStatus | None = None
    payer_ref: str | None = Field(default=None, pattern=PARTY_REF_PATTERN)
    created_from: LaxMoment | None = Field(default=None, description="inclusive")
    created_to: LaxMoment | None = Field(default=None, description="exclusive")
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, max_length=MAX_CURSOR_LENGTH)


# Where a page of GET /v1/payments stopped (shared.pagination makes it a cursor);
# the filters travel along, as a cursor is only good for the list it came from.
PAYMENTS_CURSOR = "payments.list"


class PaymentsPosition(CursorPosition):
    """The last payment of a page, newest first: its creation time, then its id."""

    created_at: Moment
    after: DocumentId
    filters: CursorFilters
