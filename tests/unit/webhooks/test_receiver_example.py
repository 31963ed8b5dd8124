"""The receiver example of shared/webhooks/README.md, run against real deliveries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from emulator.webhook_sink import ReceivedDelivery, WebhookSink
from shared.webhooks.signing import delivery_headers, new_secret
from shared.webhooks.transport import Transport
from shared.webhooks.urls import UrlPolicy

README = Path(__file__).resolve().parents[3] / "shared" / "webhooks" / "README.md"
BODY = orjson.dumps({"type": "payment.settled", "timestamp": "2026-01-01T00:00:00+00:00",
                     "data": {"payment_id": "pay_1"}})  # fmt: skip


def example_source() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Receiving webhooks") :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```", start)]


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink(port=0) as running:
        yield running


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = new_secret()
    monkeypatch.setenv("TRIBUTUM_WEBHOOK_SECRET", value)
    return value


@pytest.fixture
def receiver(secret: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "receiver_example"}
    exec(compile(example_source(), str(README), "exec"), namespace)  # noqa: S102 - our own doc
    return namespace


def _deliver(sink: WebhookSink, secrets: list[str], webhook_id: str) -> ReceivedDelivery:
    policy = UrlPolicy(allowed_private_hosts=frozenset({f"127.0.0.1:{sink.port}"}))
    headers = delivery_headers(secrets, webhook_id, int(time.time()), BODY)
    result = Transport().attempt("wh1", sink.url("/hooks"), BODY, headers, policy)
    assert result.status_code == 200
    return sink.deliveries[-1]


def test_a_delivery_is_verified_and_handled_once(
    receiver: dict[str, Any], sink: WebhookSink, secret: str
) -> None:
    first = _deliver(sink, [secret], "msg_" + "a" * 32)
    again = _deliver(sink, [secret], "msg_" + "a" * 32)

    assert receiver["receive"](first.body, first.headers) == 200
    assert receiver["receive"](again.body, again.headers) == 200
    assert [e["data"]["payment_id"] for e in receiver["handled_events"]] == ["pay_1"]


def test_during_a_rotation_the_old_secret_still_verifies(
    receiver: dict[str, Any], sink: WebhookSink, secret: str
) -> None:
    delivery = _deliver(sink, [new_secret(), secret], "msg_" + "b" * 32)

    assert receiver["receive"](delivery.body, delivery.headers) == 200


def test_forged_or_tampered_deliveries_are_refused(
    receiver: dict[str, Any], sink: WebhookSink, secret: str
) -> None:
    forged = _deliver(sink, [new_secret()], "msg_" + "c" * 32)
    genuine = _deliver(sink, [secret], "msg_" + "d" * 32)
    stale_headers = delivery_headers([secret], "msg_" + "e" * 32, int(time.time()) - 3600, BODY)

    assert receiver["receive"](forged.body, forged.headers) == 400
    assert receiver["receive"](genuine.body + b" ", genuine.headers) == 400
    assert receiver["receive"](BODY, stale_headers) == 400
    assert receiver["handled_events"] == []
