"""Automatic disabling, spent retries, and sending deliveries again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from shared.webhooks import DeliveryRetryError
from shared.webhooks.rules import AUTO_DISABLE_AFTER_FAILED_DELIVERIES, MAX_DELIVERY_ATTEMPTS
from shared.webhooks.rules import webhook_id as derived_id
from shared.webhooks.store import delivery_ref
from tests.integration.events.conftest import PullSubscription
from tests.integration.webhooks.conftest import TENANT, Webhooks, payment_event


def _audits(subscription: PullSubscription, expected: int) -> list[dict[str, Any]]:
    return [
        orjson.loads(m.data)["data"] for m in subscription.receive(expected, timeout=10, settle=0.5)
    ]


def test_an_endpoint_is_disabled_after_a_run_of_failed_deliveries(
    hooks: Webhooks, audit_messages: PullSubscription
) -> None:
    endpoint = hooks.create(["payment.*"])
    hooks.sink.fail_next(AUTO_DISABLE_AFTER_FAILED_DELIVERIES, 410)
    for n in range(AUTO_DISABLE_AFTER_FAILED_DELIVERIES):
        hooks.dispatch(payment_event(payment_id=f"pay_{n}"))
        [message] = hooks.published(1)
        hooks.deliver(message)

    disabled = hooks.endpoint(endpoint["id"])
    hooks.dispatch(payment_event(payment_id="pay_late"))

    assert (disabled["enabled"], disabled["disabled_reason"]) == (False, "consecutive_failures")
    assert disabled["consecutive_failures"] == AUTO_DISABLE_AFTER_FAILED_DELIVERIES
    assert hooks.published(0, settle=1.0) == []
    actions = [(a["action"], a["actor"]) for a in _audits(audit_messages, 2)]
    assert ("webhook_endpoint.disabled", {"system": "webhooks.auto_disable"}) in actions


def test_a_success_resets_the_run_of_failures(hooks: Webhooks) -> None:
    endpoint = hooks.create(["payment.*"])
    for n, fail in enumerate([True, True, False, True]):
        if fail:
            hooks.sink.fail_next(1, 400)
        hooks.dispatch(payment_event(payment_id=f"pay_{n}"))
        [message] = hooks.published(1)
        hooks.deliver(message)

    after = hooks.endpoint(endpoint["id"])

    assert (after["enabled"], after["consecutive_failures"]) == (True, 1)


def test_the_last_attempt_of_a_round_ends_in_the_dead_letters(hooks: Webhooks) -> None:
    endpoint = hooks.create(["payment.*"])
    event = payment_event()
    hooks.dispatch(event)
    [message] = hooks.published(1)
    delivery_id = derived_id(event.id, endpoint["id"])
    hooks.sink.fail_next(2, 503)
    with pytest.raises(DeliveryRetryError):
        hooks.deliver(message)
    # As if Pub/Sub had delivered it all but once more (attempts in between elided).
    delivery_ref(hooks.db, TENANT, endpoint["id"], delivery_id).update(
        {"round_attempts": MAX_DELIVERY_ATTEMPTS - 1}
    )

    hooks.deliver(message)  # the last attempt: acknowledged into the dead letters

    failed = hooks.delivery(endpoint["id"], delivery_id)
    assert (failed["status"], failed["last_attempt"]["outcome"]) == ("failed", "retriable")
    [letter] = [s.to_dict() or {} for s in hooks.db.collection("dead_letters").stream()]
    assert letter["consumer"] == "webhook_deliver"
    assert delivery_id in letter["reason"] and "whsec_" not in str(letter)
    assert hooks.endpoint(endpoint["id"])["consecutive_failures"] == 1

    # Replaying the dead letter starts a new series of attempts.
    hooks.deliver(message)
    assert hooks.delivery(endpoint["id"], delivery_id)["status"] == "delivered"
    assert [d.answered for d in hooks.sink.deliveries] == [503, 503, 200]


def test_a_delivery_is_resent_under_the_same_webhook_id(
    hooks: Webhooks, audit_messages: PullSubscription
) -> None:
    endpoint = hooks.create(["payment.*"])
    event = payment_event()
    hooks.dispatch(event)
    [first] = hooks.published(1)
    hooks.sink.fail_next(1, 400)
    hooks.deliver(first)
    delivery_id = derived_id(event.id, endpoint["id"])

    answer = hooks.api.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/deliveries/{delivery_id}/resend", token="admin"
    )
    [resent] = hooks.published(1)
    hooks.deliver(resent)
    hooks.deliver(first)  # the old round's message again: superseded, nothing sent

    assert answer.status == 202, answer.json
    assert (answer.data["status"], answer.data["round"]) == ("pending", 1)
    assert [(d.webhook_id, d.answered) for d in hooks.sink.deliveries] == [
        (delivery_id, 400),
        (delivery_id, 200),
    ]
    done = hooks.delivery(endpoint["id"], delivery_id)
    assert (done["status"], done["round"], done["attempt_count"]) == ("delivered", 1, 2)
    assert [(a["number"], a["round"]) for a in done["attempts"]] == [(2, 1), (1, 0)]
    actions = {a["action"] for a in _audits(audit_messages, 2)}
    assert "webhook_delivery.resent" in actions


def test_resend_since_sends_every_kept_event_including_those_missed_while_disabled(
    hooks: Webhooks,
) -> None:
    endpoint = hooks.create(["payment.settled"])
    base = f"/v1/webhooks/endpoints/{endpoint['id']}"
    delivered = payment_event(payment_id="pay_1")
    hooks.dispatch(delivered)
    [message] = hooks.published(1)
    hooks.deliver(message)
    hooks.api.post(f"{base}/disable", token="admin")
    missed = payment_event(payment_id="pay_2")
    hooks.dispatch(missed)
    hooks.dispatch(payment_event("payment.failed", payment_id="pay_3"))  # not subscribed
    refused = hooks.api.post(
        f"{base}/resend", json={"since": "2020-01-01T00:00:00Z"}, token="admin"
    )
    hooks.api.patch(base, json={"enabled": True}, token="admin")
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

    answer = hooks.api.post(f"{base}/resend", json={"since": since}, token="admin")
    messages = hooks.published(2)
    for resend in messages:
        hooks.deliver(resend)

    assert refused.status == 422 and refused.json["code"] == "webhook_endpoint_disabled"
    assert answer.status == 202, answer.json
    assert answer.data == {"resent": 2, "truncated": False, "next_since": None}
    ids = [str(d.webhook_id) for d in hooks.sink.deliveries]
    assert ids[0] == derived_id(delivered.id, endpoint["id"])
    assert sorted(ids[1:]) == sorted(
        [derived_id(delivered.id, endpoint["id"]), derived_id(missed.id, endpoint["id"])]
    )
    rounds = {
        d["id"]: d["round"]
        for d in hooks.api.get(f"{base}/deliveries", token="admin").data
    }  # fmt: skip
    assert rounds == {
        derived_id(delivered.id, endpoint["id"]): 1,
        derived_id(missed.id, endpoint["id"]): 0,
    }


def test_resend_since_the_future_is_refused(hooks: Webhooks) -> None:
    endpoint = hooks.create()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    answer = hooks.api.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/resend", json={"since": later}, token="admin"
    )

    assert answer.status == 422
    assert [e["field"] for e in answer.json["errors"]] == ["since"]


def test_the_delivery_log_is_paged_newest_first(hooks: Webhooks) -> None:
    endpoint = hooks.create(["payment.*"])
    events = [payment_event(payment_id=f"pay_{n}") for n in range(5)]
    for event in events:
        hooks.dispatch(event)
    base = f"/v1/webhooks/endpoints/{endpoint['id']}/deliveries"

    first = hooks.api.get(base, token="admin", query={"limit": 3})
    second = hooks.api.get(
        base, token="admin", query={"limit": 3, "cursor": first.json["meta"]["next_cursor"]}
    )
    forged = hooks.api.get(base, token="admin", query={"cursor": "v1.abc.def"})

    listed = [d["event_id"] for d in first.data + second.data]
    assert listed == [e.id for e in reversed(events)]
    assert second.json["meta"]["next_cursor"] is None
    assert forged.status == 400
    assert hooks.api.get(f"{base}/msg_{'0' * 32}", token="admin").status == 404
    assert hooks.api.get(f"{base}/not-a-webhook-id", token="admin").status in (404, 422)
