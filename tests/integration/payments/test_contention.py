"""Many requests on one payment at once, through the API and the processor.

Every request is answered by what the payment allows once the others are accounted
for: one capture, refunds that together never exceed the capture, and the processor
completes every accepted refund. Outcomes are asserted, never timings (see
``tests/benchmarks/bench_contention.py`` for those).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import pytest

from shared.ledger.aggregate_locks import AggregateLocks
from shared.payments import service as payments
from shared.payments import store
from tests.integration.payments.conftest import CLEARING_EUR, PAYEE_EUR, Stack
from tests.support.http import Answer

CONTENDERS = 8
D = Decimal
R = TypeVar("R")


def race(calls: Sequence[Callable[[], R]]) -> list[R]:
    """Run every call at once; their results in order (an exception fails the test)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    failures: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert failures == []
    assert not any(thread.is_alive() for thread in threads)
    return results


def post(stack: Stack, payment_id: str, verb: str, body: dict[str, Any], key: str) -> Answer:
    user = "admin" if verb == "refunds" else "clerk"
    return stack.api.post(
        f"/v1/payments/{payment_id}/{verb}",
        json=body,
        token=user,
        headers={"Idempotency-Key": key},
    )


def captured_payment(stack: Stack, amount: str) -> str:
    payment_id = str(stack.create(amount=amount).data["id"])
    stack.process()
    assert stack.get(payment_id)["status"] == "settled"
    return payment_id


def process_concurrently(stack: Stack) -> None:
    """Deliver the pending events at once, as Pub/Sub does to several instances."""
    while pending := stack.pending_requests():
        race([partial(stack.push, envelope) for envelope in pending])
        stack.delivered.update(envelope.id for envelope in pending)


def test_concurrent_full_refunds_accept_one_and_refuse_the_rest(stack: Stack) -> None:
    payment_id = captured_payment(stack, "80.00")

    answers = race(
        [
            partial(post, stack, payment_id, "refunds", {}, f"refund-all-{n}")
            for n in range(CONTENDERS)
        ]
    )

    assert sorted(a.status for a in answers) == [202] + [422] * (CONTENDERS - 1)
    refused = {a.json["code"] for a in answers if a.status != 202}
    assert refused == {"refund_exceeds_captured"}
    assert {a.json["refundable_amount"] for a in answers if a.status != 202} == {"0.00"}
    process_concurrently(stack)
    payment = stack.get(payment_id)
    assert (payment["status"], payment["refunded_amount"]) == ("refunded", "80.00")
    assert len(payment["refunds"]) == 1
    assert stack.posted(CLEARING_EUR) == D("0.00")
    assert stack.trial_balance_is_zero()


def test_concurrent_partial_refunds_all_fit_or_are_refused_and_never_exceed_the_capture(
    stack: Stack,
) -> None:
    payment_id = captured_payment(stack, "100.00")

    answers = race(
        [
            partial(post, stack, payment_id, "refunds", {"amount": "30.00"}, f"part-{n}")
            for n in range(CONTENDERS)
        ]
    )

    accepted = [a for a in answers if a.status == 202]
    assert len(accepted) == 3, [a.json for a in answers]
    assert {a.json["code"] for a in answers if a.status != 202} == {"refund_exceeds_captured"}
    assert len({a.data["refund"]["id"] for a in accepted}) == 3
    process_concurrently(stack)
    payment = stack.get(payment_id)
    assert (payment["status"], payment["refunded_amount"]) == ("partially_refunded", "90.00")
    assert [r["status"] for r in payment["refunds"]] == ["succeeded"] * 3
    assert stack.posted(CLEARING_EUR) == D("10.00")
    assert stack.posted(PAYEE_EUR) == D("10.00")
    assert stack.trial_balance_is_zero()


def test_refunds_racing_from_separate_instances_never_exceed_the_capture(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the in-process turns, writers race to commit; the losers decide again."""
    monkeypatch.setattr(store, "_PAYMENT_LOCKS", AggregateLocks(wait_seconds=0.0))
    payment_id = captured_payment(stack, "100.00")

    answers = race(
        [
            partial(post, stack, payment_id, "refunds", {"amount": "30.00"}, f"apart-{n}")
            for n in range(CONTENDERS)
        ]
    )

    assert sorted(a.status for a in answers) == [202] * 3 + [422] * (CONTENDERS - 3)
    assert {a.json["code"] for a in answers if a.status != 202} == {"refund_exceeds_captured"}
    payment = stack.get(payment_id)
    assert payment["refundable_amount"] == "10.00"
    assert sorted(r["id"] for r in payment["refunds"]) == sorted(
        a.data["refund"]["id"] for a in answers if a.status == 202
    )
    process_concurrently(stack)
    assert stack.get(payment_id)["refunded_amount"] == "90.00"
    assert stack.trial_balance_is_zero()


def test_concurrent_small_refunds_are_all_accepted_and_all_completed(stack: Stack) -> None:
    """The processor records eight refunds of one payment at once; none is lost or retried."""
    payment_id = captured_payment(stack, "100.00")

    answers = race(
        [
            partial(post, stack, payment_id, "refunds", {"amount": "5.00"}, f"small-{n}")
            for n in range(CONTENDERS)
        ]
    )
    assert [a.status for a in answers] == [202] * CONTENDERS
    process_concurrently(stack)

    payment = stack.get(payment_id)
    assert (payment["status"], payment["refunded_amount"]) == ("partially_refunded", "40.00")
    assert [r["status"] for r in payment["refunds"]] == ["succeeded"] * CONTENDERS
    assert stack.posted(CLEARING_EUR) == D("60.00")
    assert stack.trial_balance_is_zero()


def test_concurrent_captures_accept_one_and_the_others_see_it_pending(stack: Stack) -> None:
    payment_id = str(stack.create(amount="50.00", capture_mode="manual").data["id"])
    stack.process()

    answers = race(
        [partial(post, stack, payment_id, "capture", {}, f"capture-{n}") for n in range(CONTENDERS)]
    )

    assert sorted(a.status for a in answers) == [202] + [409] * (CONTENDERS - 1)
    assert {a.json["code"] for a in answers if a.status != 202} == {"payment_action_pending"}
    process_concurrently(stack)
    payment = stack.get(payment_id)
    assert (payment["status"], payment["captured_amount"]) == ("settled", "50.00")
    assert stack.posted(CLEARING_EUR) == D("50.00")


def test_a_refund_retried_after_its_answer_was_lost_is_not_made_twice(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment_id = captured_payment(stack, "60.00")
    original = payments.request_refund

    def dies_after_commit(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        raise RuntimeError("the instance died before answering")

    monkeypatch.setattr(payments, "request_refund", dies_after_commit)
    lost = post(stack, payment_id, "refunds", {"amount": "10.00"}, "refund-once")
    monkeypatch.undo()
    retry = post(stack, payment_id, "refunds", {"amount": "10.00"}, "refund-once")

    assert lost.status == 500
    assert retry.status == 202, retry.json
    payment = stack.get(payment_id)
    assert [r["id"] for r in payment["refunds"]] == [retry.data["refund"]["id"]]
    assert payment["refundable_amount"] == "50.00"
