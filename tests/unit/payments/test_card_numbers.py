"""Recognizing card numbers, and the payment request models that refuse them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from shared.payments.card_numbers import contains_card_number, luhn_valid
from shared.payments.requests import (
    CancelPaymentRequest,
    CreatePaymentRequest,
    RefundPaymentRequest,
)


@pytest.mark.parametrize(
    "number",
    ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "79927398713"],
)
def test_luhn_accepts_valid_numbers(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4111111111111112", "79927398710", "1234567812345678"])
def test_luhn_refuses_invalid_numbers(number: str) -> None:
    assert not luhn_valid(number)


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111_1111_1111_1111",
        "tok_4111111111111111",
        "378282246310005",  # 15 digits
        "4222222222222",  # 13 digits
        "6011000990139424",  # Discover
        "please charge 5555 5555 5555 4444 today",
        "order 77 4111 1111 1111 1111",  # next to other digits
    ],
)
def test_card_numbers_are_found(text: str) -> None:
    assert contains_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "tok_approve",
        "4111111111111112",  # fails Luhn
        "411111111111",  # 12 digits: too short
        "41111111111111111111",  # 20 digits in one run: not a card number
        "invoice 2024-06-01 order 1042",
        "",
        "call 0049 30 1234 5678",  # a phone number: Luhn-invalid groupings
    ],
)
def test_other_text_passes(text: str) -> None:
    assert not contains_card_number(text)


BASE: dict[str, Any] = {
    "amount": "10.00",
    "currency": "EUR",
    "payer_ref": "cust_1",
    "payee_ref": "merchant_7",
    "method_token": "tok_approve",
}


def _errors(model: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(orjson.dumps(body), strict=True)
    return list(caught.value.errors(include_input=False, include_url=False))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method_token", "4111111111111111"),
        ("method_token", "4111 1111 1111 1111"),  # refused as a card, not only as a bad format
        ("payee_ref", "m_4111111111111111"),
        ("description", "pan 4111-1111-1111-1111"),
    ],
)
def test_a_payment_refuses_card_numbers_naming_the_field(field: str, value: str) -> None:
    [error] = _errors(CreatePaymentRequest, {**BASE, field: value})
    assert error["loc"] == (field,)
    assert error["type"] == "card_number_not_allowed"
    assert "4111" not in error["msg"]


@pytest.mark.parametrize("model", [CancelPaymentRequest, RefundPaymentRequest])
def test_reasons_refuse_card_numbers(model: Any) -> None:
    [error] = _errors(model, {"reason": "card 4111111111111111"})
    assert error["loc"] == ("reason",) and error["type"] == "card_number_not_allowed"


def test_an_ordinary_payment_passes() -> None:
    request = CreatePaymentRequest.model_validate_json(orjson.dumps(BASE), strict=True)
    assert request.method_token == "tok_approve"
