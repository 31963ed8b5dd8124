"""Card numbers never enter the system: refused at the API, never stored, never echoed.

A PAN sent where a method token (or a free-text field) belongs is a 422 naming the
field; nothing is written (the Router's idempotency record holds the refusal, not
the number), and no answer or stored document contains the digits. A provider's
refusal of an unknown token does not echo the token into ``failure_reason``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from tests.integration.payments.conftest import Stack, dump, dump_without_idempotency

PAN = "4111111111111111"  # the well-known Visa test number: passes Luhn
AMEX = "378282246310005"  # the American Express one: 15 digits


def _holds(value: Any, digits: str) -> bool:
    """Whether ``digits`` appear in ``value`` (JSON), spelt with or without separators."""
    text = orjson.dumps(value, default=str).decode()
    return digits in re.sub(r"[ _-]", "", text)


@pytest.mark.parametrize(
    ("field", "value", "digits"),
    [
        ("method_token", PAN, PAN),
        ("method_token", "4111 1111 1111 1111", PAN),
        ("method_token", "4111-1111-1111-1111", PAN),
        ("method_token", "tok_4111111111111111", PAN),
        ("method_token", AMEX, AMEX),
        ("description", f"card {PAN} exp 12/29", PAN),
        ("payer_ref", f"cust_{AMEX}", AMEX),
    ],
)
def test_a_card_number_is_refused_naming_the_field_and_is_never_stored(
    stack: Stack, field: str, value: str, digits: str
) -> None:
    before = dump_without_idempotency(stack.db)

    answer = stack.create(**{field: value})

    assert answer.status == 422, answer.json
    [error] = answer.json["errors"]
    assert error["field"] == field
    assert "card number" in error["message"]
    assert not _holds(answer.json, digits)
    assert dump_without_idempotency(stack.db) == before
    assert not _holds(dump(stack.db), digits)


def test_a_number_that_fails_luhn_is_only_refused_by_the_token_format(stack: Stack) -> None:
    answer = stack.create(method_token="4111 1111 1111 1112")
    assert answer.status == 422
    assert answer.json["errors"][0]["code"] == "bad_format"  # spaces: not a token at all


@pytest.mark.parametrize("endpoint", ["cancel", "refunds"])
def test_a_card_number_in_a_reason_is_refused(stack: Stack, endpoint: str) -> None:
    payment_id = stack.create(capture_mode="manual").data["id"]
    stack.process()
    before = dump_without_idempotency(stack.db)

    answer = stack.api.post(
        f"/v1/payments/{payment_id}/{endpoint}",
        json={"reason": "customer read out 4111-1111-1111-1111 on the phone"},
        token="admin",
        headers=stack.key(),
    )

    assert answer.status == 422, answer.json
    assert answer.json["errors"][0]["field"] == "reason"
    assert dump_without_idempotency(stack.db) == before
    assert not _holds(dump(stack.db), PAN)


def test_the_providers_refusal_of_an_unknown_token_does_not_echo_it(stack: Stack) -> None:
    token = "tok_made_up_by_the_client_42"
    payment_id = stack.create(method_token=token).data["id"]

    stack.process()

    failed = stack.get(payment_id)
    assert (failed["status"], failed["failure_code"]) == ("failed", "invalid_payment_method")
    assert token not in str(failed["failure_reason"])
    events = [s.to_dict() or {} for s in stack.db.collection("outbox").stream()]
    assert all(token not in str(record.get("data")) for record in events)
