"""At-least-once delivery into process_payment: repeats change nothing, outages lose nothing."""

from __future__ import annotations

import time

import pytest

from shared.deadletters.store import DEAD_LETTER_COLLECTION
from shared.events.event_context import PROCESSED_COLLECTION, processed_document_id
from shared.payments.provider import ProviderUnavailable
from shared.payments.sandbox import set_global_outage
from shared.resilience import CircuitOpenError
from tests.integration.payments.conftest import (
    CLEARING_EUR,
    PAYEE_EUR,
    Stack,
    dump,
    fast_provider,
)


def _forget_processed(stack: Stack, event_id: str) -> None:
    """What a crash after the effects and before the processed record leaves behind."""
    stack.db.collection(PROCESSED_COLLECTION).document(
        processed_document_id("process_payment", event_id)
    ).delete()


def test_a_redelivered_request_is_acknowledged_without_a_second_effect(stack: Stack) -> None:
    payment_id = stack.create(amount="80.00").data["id"]
    [requested] = stack.process()
    state = dump(stack.db)

    stack.push(requested)

    assert dump(stack.db) == state
    assert stack.get(payment_id)["status"] == "settled"


def test_a_redelivery_after_a_crash_finishes_nothing_twice(stack: Stack) -> None:
    payment_id = stack.create(amount="80.00").data["id"]
    [requested] = stack.process()
    assert stack.refund(payment_id, amount="20.00").status == 202
    [refund_requested] = stack.process()
    entries = stack.entry_ids()
    payment = stack.get(payment_id)

    for event in (requested, refund_requested):
        _forget_processed(stack, event.id)
        stack.push(event)

    assert stack.entry_ids() == entries
    again = stack.get(payment_id)
    assert (again["status"], again["version"]) == ("partially_refunded", payment["version"])
    assert stack.balances(CLEARING_EUR)["posted"] == "60.00"
    assert stack.balances(PAYEE_EUR)["posted"] == "60.00"
    assert stack.trial_balance_is_zero()


def test_a_provider_outage_opens_the_circuit_and_the_payment_completes_on_redelivery(
    stack: Stack,
) -> None:
    provider = fast_provider()
    payment_id = stack.create(amount="42.00").data["id"]
    [requested] = stack.pending_requests()
    set_global_outage(True)

    failures: list[type[BaseException]] = []
    for _ in range(5):  # each failed delivery is what makes Pub/Sub redeliver
        with pytest.raises((ProviderUnavailable, CircuitOpenError)) as raised:
            stack.push(requested)
        failures.append(raised.type)
        if raised.type is CircuitOpenError:
            break

    assert failures[0] is ProviderUnavailable
    assert failures[-1] is CircuitOpenError
    assert provider.breaker.state.value == "open"
    assert stack.get(payment_id)["status"] == "requested"
    assert stack.entry_ids() == []
    processed = stack.db.collection(PROCESSED_COLLECTION).document(
        processed_document_id("process_payment", requested.id)
    )
    assert not processed.get().exists
    assert list(stack.db.collection(DEAD_LETTER_COLLECTION).stream()) == []

    set_global_outage(False)
    time.sleep(0.6)  # the breaker's cool-down: the next delivery is its trial call
    stack.push(requested)

    assert stack.get(payment_id)["status"] == "settled"
    assert provider.breaker.state.value == "closed"
    assert stack.balances(CLEARING_EUR)["posted"] == "42.00"
    assert processed.get().exists


def test_an_event_for_a_missing_payment_is_dead_lettered_not_retried(stack: Stack) -> None:
    payment_id = stack.create(amount="10.00").data["id"]
    [requested] = stack.pending_requests()
    stack.db.document(f"tenants/tenant-pay/payments/{payment_id}").delete()

    stack.push(requested)  # returns: acknowledged

    [dead_letter] = [s.to_dict() for s in stack.db.collection(DEAD_LETTER_COLLECTION).stream()]
    assert dead_letter is not None
    assert "does not exist" in dead_letter["reason"]
    assert stack.entry_ids() == []
