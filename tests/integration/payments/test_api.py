"""The payments HTTP API: validation, idempotency keys, permissions, tenancy and lists.

Every refusal is a 4xx naming the field and leaves the database as it was (but for
the Router's record of the answer under the request's Idempotency-Key).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.integration.payments.conftest import Stack, dump, dump_without_idempotency


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"amount": "10.001"}, "amount", "invalid_amount"),
        ({"amount": "-5.00"}, "amount", "invalid_amount"),
        ({"amount": "0.00"}, "amount", "not_positive"),
        ({"amount": 10.5}, "amount", "wrong_type"),
        ({"amount": "1000", "currency": "JPX"}, "currency", "unknown_currency"),
        ({"currency": "eur"}, "currency", "bad_format"),
        ({"payee_ref": "cust_1"}, "payee_ref", "same_as_payer"),
        ({"payer_ref": "has space"}, "payer_ref", "bad_format"),
        ({"method_token": ""}, "method_token", "bad_format"),
        ({"capture_mode": "later"}, "capture_mode", "not_allowed"),
        ({"card_number": "4111111111111111"}, "card_number", "unknown_field"),
    ],
)
def test_an_invalid_payment_is_refused_naming_the_field_and_writes_nothing(
    stack: Stack, body: dict[str, Any], field: str, code: str
) -> None:
    before = dump_without_idempotency(stack.db)

    answer = stack.create(**body)

    assert answer.status == 422, answer.json
    assert answer.headers["Content-Type"] == "application/problem+json"
    errors = answer.json["errors"]
    assert errors[0]["field"] == field, errors
    assert errors[0]["code"] == code, errors
    assert dump_without_idempotency(stack.db) == before


def test_a_payment_without_an_idempotency_key_is_refused_and_writes_nothing(
    stack: Stack,
) -> None:
    before = dump(stack.db)

    answer = stack.api.post(
        "/v1/payments",
        json={
            "amount": "10.00",
            "currency": "EUR",
            "payer_ref": "cust_1",
            "payee_ref": "merchant_7",
            "method_token": "tok_approve",
        },
        token="clerk",
    )

    assert answer.status == 422
    assert answer.json["errors"][0]["field"] == "Idempotency-Key"
    assert dump(stack.db) == before


def test_a_replayed_key_answers_the_first_response_and_creates_one_payment(
    stack: Stack,
) -> None:
    body = {
        "amount": "10.00",
        "currency": "EUR",
        "payer_ref": "cust_1",
        "payee_ref": "merchant_7",
        "method_token": "tok_approve",
    }
    headers = {"Idempotency-Key": "create-once"}
    first = stack.api.post("/v1/payments", json=body, token="clerk", headers=headers)
    second = stack.api.post("/v1/payments", json=body, token="clerk", headers=headers)

    assert first.status == second.status == 202
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.data == first.data
    assert len(list(stack.db.collection("tenants/tenant-pay/payments").stream())) == 1

    before = dump_without_idempotency(stack.db)
    other = stack.api.post(
        "/v1/payments", json={**body, "amount": "11.00"}, token="clerk", headers=headers
    )
    assert other.status == 422, other.json
    assert other.json["code"] == "idempotency_key_reused"
    assert dump_without_idempotency(stack.db) == before


def test_a_replayed_refund_refunds_once(stack: Stack) -> None:
    payment_id = stack.create(amount="50.00").data["id"]
    stack.process()
    headers = {"Idempotency-Key": "refund-once"}
    path = f"/v1/payments/{payment_id}/refunds"

    first = stack.api.post(path, json={"amount": "5.00"}, token="admin", headers=headers)
    second = stack.api.post(path, json={"amount": "5.00"}, token="admin", headers=headers)

    assert first.status == second.status == 202
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.data["refund"]["id"] == first.data["refund"]["id"]
    stack.process()
    payment = stack.get(payment_id)
    assert len(payment["refunds"]) == 1
    assert payment["refunded_amount"] == "5.00"


@pytest.mark.parametrize(
    ("user", "call", "status"),
    [
        ("viewer", "create", 403),
        ("clerk", "refund", 403),
        ("other-admin", "refund", 404),
        ("other-admin", "capture", 404),
    ],
)
def test_permissions_and_tenancy_are_enforced_and_refusals_write_nothing(
    stack: Stack, user: str, call: str, status: int
) -> None:
    payment_id = stack.create(amount="20.00", capture_mode="manual").data["id"]
    stack.process()
    before = dump_without_idempotency(stack.db)

    if call == "create":
        answer = stack.create(as_user=user)
    elif call == "refund":
        answer = stack.refund(payment_id, as_user=user, amount="1.00")
    else:
        answer = stack.api.post(
            f"/v1/payments/{payment_id}/capture", json={}, token=user, headers=stack.key()
        )

    assert answer.status == status, answer.json
    assert dump_without_idempotency(stack.db) == before


def test_another_tenants_payment_is_not_found(stack: Stack) -> None:
    payment_id = stack.create().data["id"]

    answer = stack.api.get(f"/v1/payments/{payment_id}", token="other-admin")

    assert answer.status == 404
    assert answer.json["code"] == "payment_not_found"


def test_capture_more_than_authorized_is_refused_and_writes_nothing(stack: Stack) -> None:
    payment_id = stack.create(amount="20.00", capture_mode="manual").data["id"]
    stack.process()
    before = dump_without_idempotency(stack.db)

    too_much = stack.api.post(
        f"/v1/payments/{payment_id}/capture",
        json={"amount": "20.01"},
        token="clerk",
        headers=stack.key(),
    )
    assert too_much.status == 422, too_much.json
    assert too_much.json["code"] == "capture_exceeds_authorized"
    too_precise = stack.api.post(
        f"/v1/payments/{payment_id}/capture",
        json={"amount": "1.234"},
        token="clerk",
        headers=stack.key(),
    )
    assert too_precise.status == 422, too_precise.json
    assert too_precise.json["errors"] == [
        {
            "field": "amount",
            "message": too_precise.json["errors"][0]["message"],
            "code": "invalid_amount",
        }
    ]

    assert dump_without_idempotency(stack.db) == before


def test_the_list_filters_by_status_and_pages_with_a_cursor(stack: Stack) -> None:
    settled = [stack.create(amount=f"{n}.00").data["id"] for n in (1, 2, 3)]
    stack.process()
    declined = stack.create(amount="4.00", method_token="tok_decline").data["id"]
    stack.process()

    first = stack.api.get("/v1/payments", token="viewer", query={"limit": 2})
    assert first.status == 200, first.json
    cursor = first.json["meta"]["next_cursor"]
    second = stack.api.get("/v1/payments", token="viewer", query={"limit": 2, "cursor": cursor})
    listed = [p["id"] for p in first.data + second.data]
    assert listed == [declined, *reversed(settled)]
    assert second.json["meta"]["next_cursor"] is None

    failed = stack.api.get("/v1/payments", token="viewer", query={"status": "failed"})
    assert [p["id"] for p in failed.data] == [declined]

    mismatch = stack.api.get(
        "/v1/payments", token="viewer", query={"status": "settled", "cursor": cursor}
    )
    assert mismatch.status == 422
    assert mismatch.json["errors"][0]["field"] == "query.cursor"
    naive = stack.api.get(
        "/v1/payments", token="viewer", query={"created_from": "2030-01-01T00:00"}
    )
    assert naive.status == 422
    assert naive.json["errors"][0]["field"] == "query.created_from"
    unknown = stack.api.get("/v1/payments", token="viewer", query={"colour": "red"})
    assert unknown.status == 422


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"amount": "5.001"}, "amount", "invalid_amount"),
        ({"amount": "0.00"}, "amount", "not_positive"),
        ({"amount": 5}, "amount", "wrong_type"),
        ({"amount": "5.00", "currency": "EUR"}, "currency", "unknown_field"),
    ],
)
def test_an_invalid_refund_is_refused_naming_the_field_and_writes_nothing(
    stack: Stack, body: dict[str, Any], field: str, code: str
) -> None:
    payment_id = stack.create(amount="50.00").data["id"]
    stack.process()
    before = dump_without_idempotency(stack.db)

    answer = stack.refund(payment_id, **body)

    assert answer.status == 422, answer.json
    assert [(e["field"], e["code"]) for e in answer.json["errors"]] == [(field, code)]
    assert dump_without_idempotency(stack.db) == before


def test_a_refund_of_a_payment_not_captured_is_a_conflict_and_writes_nothing(
    stack: Stack,
) -> None:
    payment_id = stack.create(amount="50.00", capture_mode="manual").data["id"]
    stack.process()
    before = dump_without_idempotency(stack.db)

    answer = stack.refund(payment_id, amount="1.00")

    assert answer.status == 409, answer.json
    assert answer.json["code"] == "invalid_payment_transition"
    assert dump_without_idempotency(stack.db) == before


def test_concurrent_capture_and_cancel_accept_exactly_one(stack: Stack) -> None:
    payment_id = stack.create(amount="30.00", capture_mode="manual").data["id"]
    stack.process()
    start = threading.Barrier(2)
    answers: dict[str, int] = {}

    def call(action: str) -> None:
        start.wait()
        answer = stack.api.post(
            f"/v1/payments/{payment_id}/{action}",
            json={},
            token="clerk",
            headers={"Idempotency-Key": f"race-{action}"},
        )
        answers[action] = answer.status

    threads = [threading.Thread(target=call, args=(a,)) for a in ("capture", "cancel")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(answers.values()) == [202, 409], answers
    stack.process()
    final = stack.get(payment_id)["status"]
    winner = next(a for a, status in answers.items() if status == 202)
    assert final == {"capture": "settled", "cancel": "cancelled"}[winner]


def test_if_match_makes_a_capture_conditional_on_the_version_read(stack: Stack) -> None:
    payment_id = stack.create(amount="40.00", capture_mode="manual").data["id"]
    stack.process()
    read = stack.api.get(f"/v1/payments/{payment_id}", token="clerk")
    etag = read.headers["ETag"]
    assert etag == f'"v{read.data["version"]}"'
    before = dump_without_idempotency(stack.db)

    stale = stack.api.post(
        f"/v1/payments/{payment_id}/capture",
        json={},
        token="clerk",
        headers={**stack.key(), "If-Match": f'"v{read.data["version"] - 1}"'},
    )
    assert stale.status == 412, stale.json
    assert stale.json["code"] == "payment_version_mismatch"
    assert stale.headers["ETag"] == etag
    malformed = stack.api.post(
        f"/v1/payments/{payment_id}/capture",
        json={},
        token="clerk",
        headers={**stack.key(), "If-Match": "version-3"},
    )
    assert malformed.status == 400, malformed.json
    assert malformed.json["code"] == "bad_if_match"
    assert dump_without_idempotency(stack.db) == before

    current = stack.api.post(
        f"/v1/payments/{payment_id}/capture",
        json={},
        token="clerk",
        headers={**stack.key(), "If-Match": etag},
    )
    assert current.status == 202, current.json
    assert current.headers["ETag"] == f'"v{current.data["version"]}"'
    assert current.data["version"] > read.data["version"]
