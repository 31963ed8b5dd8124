"""The local webhook sink: records what it gets, fails on request, shows deliveries."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
import requests

from emulator.__main__ import build_parser
from emulator.runtime_contract import environment_sources
from emulator.webhook_sink import DEFAULT_SINK_PORT, SINK_HOST, WebhookSink, describe
from shared.topology import load_manifest


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink(port=0) as running:
        yield running


def test_it_records_each_delivery_and_answers_200(sink: WebhookSink) -> None:
    answer = requests.post(
        sink.url("/hooks/a"),
        data=b'{"type":"payment.settled"}',
        headers={"webhook-id": "msg_1", "webhook-signature": "v1,x"},
        timeout=5,
    )

    assert answer.status_code == 200
    [delivery] = sink.deliveries
    assert (delivery.path, delivery.webhook_id, delivery.body) == (
        "/hooks/a", "msg_1", b'{"type":"payment.settled"}',
    )  # fmt: skip
    assert "type=payment.settled" in describe(delivery)
    assert "webhook-id=msg_1" in describe(delivery) and describe(delivery).endswith("-> 200")


def test_the_switch_fails_exactly_the_next_n_deliveries(sink: WebhookSink) -> None:
    switched = requests.post(
        sink.url("/_sink/fail-next"), json={"count": 2, "status": 429}, timeout=5
    )
    statuses = [requests.post(sink.url(), data=b"{}", timeout=5).status_code for _ in range(3)]

    assert switched.status_code == 200
    assert statuses == [429, 429, 200]
    listed = requests.get(sink.url("/_sink/deliveries"), timeout=5).json()
    assert [d["answered"] for d in listed] == [429, 429, 200]
    assert requests.delete(sink.url("/_sink/deliveries"), timeout=5).status_code == 204
    assert sink.deliveries == []


def test_the_switch_from_python(sink: WebhookSink) -> None:
    sink.fail_next(1)

    statuses = [requests.post(sink.url(), data=b"{}", timeout=5).status_code for _ in range(2)]

    assert statuses == [503, 200]
    assert orjson.loads(requests.get(sink.url("/_sink/nothing"), timeout=5).content) == {
        "error": "unknown control route"
    }


def test_the_cli_runs_it_where_the_local_stack_may_reach_it() -> None:
    args = build_parser().parse_args(["webhook-sink"])
    manifest = load_manifest()
    allowed = {
        orjson.loads(environment_sources(fn, project_id="demo-x", log_level="INFO")[
            "webhook_private_hosts"
        ])[0]
        for fn in manifest.functions
    }  # fmt: skip

    assert (args.host, args.port) == (SINK_HOST, DEFAULT_SINK_PORT)
    assert allowed == {f"{SINK_HOST}:{DEFAULT_SINK_PORT}"}
