"""Payments' free text (descriptions and reasons) follows the one rule for human text."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from shared.payments.requests import (
    CancelPaymentRequest,
    CreatePaymentRequest,
    RefundPaymentRequest,
)

PAYMENT = {
    "amount": "10.00",
    "currency": "EUR",
    "payer_ref": "cust_1",
    "payee_ref": "merchant_1",
    "method_token": "tok_approve",
}


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (CreatePaymentRequest, PAYMENT, "description"),
        (CancelPaymentRequest, {}, "reason"),
        (RefundPaymentRequest, {}, "reason"),
    ],
)
@pytest.mark.parametrize("text", ["line\nbreak", "tab\there", "\u202egnp.exe", "nul\x00"])
def test_free_text_refuses_control_and_bidi_characters(
    model: type[BaseModel], body: dict[str, Any], field: str, text: str
) -> None:
    with pytest.raises(PydanticValidationError) as refused:
        model.model_validate({**body, field: text})
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [
        ((field,), "forbidden_character")
    ]
    accepted = model.model_validate({**body, field: "Rechnung Nr. 42 für Zoë"})
    assert getattr(accepted, field) == "Rechnung Nr. 42 für Zoë"
