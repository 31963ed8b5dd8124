"""The ledger_postings consumer: posting requests from other systems, answered on the results
topic; accepted, rejected, duplicate, reused and malformed requests."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from google.api_core.exceptions import AlreadyExists

from shared.events.envelope import EventEnvelope, new_event
from shared.identity.actor import Actor
from shared.ledger import LedgerService, PostEntryRequest, parse_request
from shared.ledger.idempotency import entry_id_for_request
from shared.ledger.inbound import (
    REQUEST_TYPE,
    REQUESTS_TOPIC,
    RESULTS_TOPIC,
    SCHEMA_DIR,
    SCHEMA_FILES,
    PostingResultMessage,
)
from shared.producers import CREDENTIAL_ATTRIBUTE, CreateProducerKeyRequest, create_key
from tests.integration.events.conftest import PullSubscription, push_event
from tests.integration.ledger_functions.conftest import OTHER_TENANT, TENANT, Api
from tests.support.http import load_function


@pytest.fixture
def results(emulators: Any, pubsub_subscriber: Any, unique_name: Any) -> Iterator[PullSubscription]:
    topic = f"projects/{emulators.project_id}/topics/{RESULTS_TOPIC}"
    path = pubsub_subscriber.subscription_path(emulators.project_id, unique_name("results-sub"))
    pubsub_subscriber.create_subscription(name=path, topic=topic)
    yield PullSubscription(RESULTS_TOPIC, path, pubsub_subscriber)
    pubsub_subscriber.delete_subscription(subscription=path)


@pytest.fixture
def chart(api: Api) -> dict[str, str]:
    return {
        "cash": api.create_account("1000-cash"),
        "revenue": api.create_account("4000-revenue", "revenue"),
    }


def _request(request_id: str, posting: dict[str, Any], tenant: str = TENANT) -> EventEnvelope:
    return new_event(
        REQUEST_TYPE,
        source="billing",
        subject=f"invoices/{request_id}",
        tenant_id=tenant,
        data={"request_id": request_id, "posting": posting},
    )


def _sale(chart: dict[str, str], amount: str = "19.99", **fields: Any) -> dict[str, Any]:
    return {
        "description": "Invoice",
        "lines": [
            {"account_id": chart["cash"], "side": "debit", "amount": amount},
            {"account_id": chart["revenue"], "side": "credit", "amount": amount},
        ],
        **fields,
    }


@pytest.fixture(autouse=True)
def credentials(credentials_client: Any) -> dict[str, str]:
    """A ``ledger:post`` producer key per tenant, as each tenant's admin would create it."""
    CREDENTIALS.clear()
    for tenant in (TENANT, OTHER_TENANT):
        request = CreateProducerKeyRequest(name="billing", scopes=["ledger:post"])
        created = create_key(credentials_client, tenant, request, actor=Actor.user("u-admin"))
        CREDENTIALS[tenant] = created.credential
    return CREDENTIALS


CREDENTIALS: dict[str, str] = {}


def _push(emulators: Any, envelope: EventEnvelope) -> Any:
    """The push of ``envelope`` as its tenant's producer publishes it, with its key."""
    attributes = {**envelope.attributes(), CREDENTIAL_ATTRIBUTE: CREDENTIALS[envelope.tenant_id]}
    return push_event(
        emulators.project_id,
        REQUESTS_TOPIC,
        envelope.to_bytes(),
        attributes,
        publish_time=envelope.time,
    )


def _deliver(emulators: Any, envelope: EventEnvelope) -> None:
    load_function("ledger_postings").handle(_push(emulators, envelope))


def _schema(topic: str) -> dict[str, Any]:
    return dict(json.loads((SCHEMA_DIR / SCHEMA_FILES[topic]).read_text()))


def _results(subscription: PullSubscription, expected: int) -> list[dict[str, Any]]:
    messages = subscription.receive(expected=expected)
    documents = [orjson.loads(m.data) for m in messages]
    for message, document in zip(messages, documents, strict=True):
        jsonschema.validate(document, _schema(RESULTS_TOPIC))
        PostingResultMessage.model_validate_json(message.data)
        assert message.attributes["type"] == "ledger.posting_result"
    return documents


def _entries(db: Any, tenant: str = TENANT) -> list[str]:
    return [s.id for s in db.collection("tenants").document(tenant).collection("entries").stream()]


def test_a_valid_request_is_posted_and_accepted(
    api: Api, chart: dict[str, str], emulators: Any, results: PullSubscription, platform: Any
) -> None:
    request = _request("INV-1", _sale(chart))
    jsonschema.validate(orjson.loads(request.to_bytes()), _schema(REQUESTS_TOPIC))

    _deliver(emulators, request)

    [result] = _results(results, expected=1)
    data = result["data"]
    assert (result["tenant_id"], result["correlation_id"]) == (TENANT, request.correlation_id)
    assert (data["status"], data["request_id"]) == ("accepted", "INV-1")
    assert data["entry_id"] == entry_id_for_request("INV-1")
    assert data["entry"]["lines"][0]["amount"] == "19.99"
    created_by = data["entry"]["created_by"]
    assert created_by["system"] == "ledger_postings"
    assert (created_by["source"], created_by["producer"]) == ("billing", "billing")
    assert created_by["producer_key_id"] == CREDENTIALS[TENANT].split("_")[2]
    assert (data["code"], data["errors"]) == (None, [])
    assert _entries(platform) == [data["entry_id"]]
    assert api.balances(chart["revenue"])["posted"] == "19.99"


def test_an_invalid_request_is_rejected_with_the_field_and_posts_nothing(
    api: Api, chart: dict[str, str], emulators: Any, results: PullSubscription, platform: Any
) -> None:
    unbalanced = _sale(chart)
    unbalanced["lines"][1]["amount"] = "19.98"
    number = _sale(chart)
    number["lines"][0]["amount"] = 19.99
    missing = _sale(chart)
    missing["lines"][1]["account_id"] = "acc_missing"

    _deliver(emulators, _request("INV-unbalanced", unbalanced))
    _deliver(emulators, _request("INV-number", number))
    _deliver(emulators, _request("INV-missing", missing))

    outcomes = {
        r["data"]["request_id"]: (r["data"]["status"], r["data"]["code"], r["data"]["errors"])
        for r in _results(results, expected=3)
    }
    assert outcomes["INV-unbalanced"][:2] == ("rejected", "entry_unbalanced")
    assert [e["field"] for e in outcomes["INV-unbalanced"][2]] == ["posting.lines"]
    assert outcomes["INV-number"][:2] == ("rejected", "validation_error")
    assert [(e["field"], e["code"]) for e in outcomes["INV-number"][2]] == [
        ("posting.lines.0.amount", "wrong_type")
    ]
    assert outcomes["INV-missing"][:2] == ("rejected", "account_not_found")
    assert [e["field"] for e in outcomes["INV-missing"][2]] == ["posting.lines.1.account_id"]
    assert _entries(platform) == []
    assert api.balances(chart["cash"])["posted"] == "0.00"


def test_another_tenants_account_is_not_found_for_the_requesting_tenant(
    api: Api, chart: dict[str, str], emulators: Any, results: PullSubscription, platform: Any
) -> None:
    _deliver(emulators, _request("INV-9", _sale(chart), tenant=OTHER_TENANT))

    [result] = _results(results, expected=1)
    assert (result["tenant_id"], result["data"]["code"]) == (OTHER_TENANT, "account_not_found")
    assert _entries(platform, OTHER_TENANT) == []
    assert _entries(platform) == []


def test_a_repeated_request_id_posts_once_and_republishes_the_same_result(
    api: Api, chart: dict[str, str], emulators: Any, results: PullSubscription, platform: Any
) -> None:
    first = _request("INV-2", _sale(chart))
    resent = _request("INV-2", _sale(chart))  # the producer sent it again: a new message

    _deliver(emulators, first)
    _deliver(emulators, resent)
    _deliver(emulators, first)  # Pub/Sub redelivered the first message: nothing happens

    answers = _results(results, expected=2)
    assert len(answers) == 2
    assert answers[0]["data"] == answers[1]["data"]
    assert answers[0]["data"]["request_event_id"] == first.id
    assert answers[0]["id"] != answers[1]["id"]
    assert _entries(platform) == [entry_id_for_request("INV-2")]
    assert api.balances(chart["cash"])["posted"] == "19.99"


def test_a_rejection_is_also_answered_the_same_way_again(
    chart: dict[str, str], emulators: Any, results: PullSubscription, api: Api
) -> None:
    """The outcome is decided once: unfreezing the account later does not post the request."""
    frozen = api.accounts.patch(
        f"/v1/accounts/{chart['revenue']}", json={"status": "frozen"}, token="accountant"
    )
    assert frozen.status == 200
    _deliver(emulators, _request("INV-3", _sale(chart)))
    api.accounts.patch(
        f"/v1/accounts/{chart['revenue']}", json={"status": "active"}, token="accountant"
    )
    _deliver(emulators, _request("INV-3", _sale(chart)))

    answers = _results(results, expected=2)
    assert [a["data"]["code"] for a in answers] == ["account_frozen", "account_frozen"]
    assert api.balances(chart["cash"])["posted"] == "0.00"


def test_a_request_id_reused_for_other_data_is_rejected_and_changes_nothing(
    api: Api, chart: dict[str, str], emulators: Any, results: PullSubscription, platform: Any
) -> None:
    _deliver(emulators, _request("INV-4", _sale(chart, "10.00")))
    _deliver(emulators, _request("INV-4", _sale(chart, "99.00")))

    first, reused = _results(results, expected=2)
    assert first["data"]["status"] == "accepted"
    assert (reused["data"]["status"], reused["data"]["code"]) == ("rejected", "request_id_reused")
    assert reused["data"]["errors"][0]["field"] == "request_id"
    assert _entries(platform) == [entry_id_for_request("INV-4")]
    assert api.balances(chart["cash"])["posted"] == "10.00"
    # The stored outcome is still the first one: a resend of the original replays it.
    _deliver(emulators, _request("INV-4", _sale(chart, "10.00")))
    [replayed] = _results(results, expected=1)
    assert replayed["data"] == first["data"]


def test_a_crash_after_the_posting_before_the_result_does_not_post_twice(
    api: Api, chart: dict[str, str], emulators: Any, results: PullSubscription, platform: Any
) -> None:
    """The entry committed, then the instance died: the redelivery finds the entry."""
    LedgerService(platform, publisher=None).post_entry(
        TENANT,
        parse_request(PostEntryRequest, {**_sale(chart), "entry_id": entry_id_for_request("I5")}),
        actor=Actor.system("ledger_postings", source="billing"),
    )

    _deliver(emulators, _request("I5", _sale(chart)))

    [result] = _results(results, expected=1)
    assert (result["data"]["status"], result["data"]["entry_id"]) == (
        "accepted",
        entry_id_for_request("I5"),
    )
    assert _entries(platform) == [entry_id_for_request("I5")]
    assert api.balances(chart["cash"])["posted"] == "19.99"


def _dead_letters(db: Any) -> list[dict[str, Any]]:
    return [s.to_dict() or {} for s in db.collection("dead_letters").stream()]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json at all", "malformed envelope"),
        (
            orjson.dumps(
                {
                    "id": "e-1",
                    "type": REQUEST_TYPE,
                    "source": "billing",
                    "subject": "invoices/1",
                    "time": "2026-11-23T10:00:00Z",
                    "correlation_id": "c-1",
                    "schema_version": 1,
                    "data": {"request_id": "INV-1", "posting": {"lines": []}},
                }
            ),
            "tenant_id",
        ),
        (None, "data.request_id"),
        ("bad-id", "data.request_id"),
    ],
    ids=["not_json", "no_tenant", "no_request_id", "invalid_request_id"],
)
def test_a_message_that_cannot_be_answered_is_dead_lettered_with_the_reason(
    data: bytes | str | None,
    reason: str,
    emulators: Any,
    results: PullSubscription,
    platform: Any,
    api: Api,
) -> None:
    if data is None or isinstance(data, str):
        body: dict[str, Any] = {"posting": {"lines": []}}
        if data is not None:
            body["request_id"] = "/" + data  # a '/' cannot be part of a request id
        data = new_event(
            REQUEST_TYPE, source="billing", subject="s", tenant_id=TENANT, data=body
        ).to_bytes()

    load_function("ledger_postings").handle(
        push_event(
            emulators.project_id,
            REQUESTS_TOPIC,
            data,
            {"type": REQUEST_TYPE, CREDENTIAL_ATTRIBUTE: CREDENTIALS[TENANT]},
        )
    )

    [dead_letter] = _dead_letters(platform)
    assert dead_letter["consumer"] == "ledger_postings"
    assert dead_letter["topic"] == REQUESTS_TOPIC
    assert reason in dead_letter["reason"]
    # Filed under the key's tenant, never under one the message names; no credential kept.
    assert dead_letter["tenant_id"] == TENANT
    assert CREDENTIAL_ATTRIBUTE not in dead_letter["attributes"]
    assert results.receive(expected=0, timeout=1, settle=1) == []
    assert _entries(platform) == []


def test_the_producer_example_in_the_docs_publishes_a_request_that_gets_posted(
    api: Api,
    chart: dict[str, str],
    emulators: Any,
    pubsub_publisher: Any,
    pubsub_subscriber: Any,
    unique_name: Any,
    results: PullSubscription,
    monkeypatch: pytest.MonkeyPatch,
    platform: Any,
) -> None:
    topic = pubsub_publisher.topic_path(emulators.project_id, REQUESTS_TOPIC)
    with contextlib.suppress(AlreadyExists):
        pubsub_publisher.create_topic(name=topic)
    inbox = pubsub_subscriber.subscription_path(emulators.project_id, unique_name("inbox"))
    pubsub_subscriber.create_subscription(name=inbox, topic=topic)
    _subscribe, producer, reader = _doc_examples()
    monkeypatch.setenv("TRIBUTUM_TENANT_ID", TENANT)
    monkeypatch.setenv("TRIBUTUM_PRODUCER_KEY", CREDENTIALS[TENANT])
    monkeypatch.setenv("CASH_ACCOUNT_ID", chart["cash"])
    monkeypatch.setenv("REVENUE_ACCOUNT_ID", chart["revenue"])

    exec(compile(producer, "docs/producers.md", "exec"), {"__name__": "__main__"})  # noqa: S102

    [message] = PullSubscription(REQUESTS_TOPIC, inbox, pubsub_subscriber).receive(expected=1)
    jsonschema.validate(orjson.loads(message.data), _schema(REQUESTS_TOPIC))
    load_function("ledger_postings").handle(
        push_event(emulators.project_id, REQUESTS_TOPIC, message.data, dict(message.attributes))
    )
    # The reader example pulls from a subscription on the results topic.
    monkeypatch.setenv("RESULTS_SUBSCRIPTION", results.path.rsplit("/", 1)[1])
    printed: list[Any] = []
    exec(  # noqa: S102
        compile(reader, "docs/producers.md", "exec"),
        {"__name__": "__main__", "print": lambda *a: printed.append(a)},
    )
    assert [p[1:3] for p in printed] == [("INV-2026-0001", "accepted")]
    assert len(_entries(platform)) == 1
    pubsub_subscriber.delete_subscription(subscription=inbox)


def _doc_examples() -> list[str]:
    """The Python programs of the walkthrough: subscribe, publish, read (heredocs of bash)."""
    text = (Path(__file__).resolve().parents[3] / "docs" / "producers.md").read_text()
    return [block.split("\nPY\n", 1)[0] for block in text.split("<<'PY'\n")[1:]]


def test_a_concurrent_batch_with_duplicates_and_invalid_requests_loses_nothing(
    api: Api, chart: dict[str, str], emulators: Any, results: PullSubscription, platform: Any
) -> None:
    valid = {f"B-{n}": _sale(chart, f"{n + 1}.00") for n in range(8)}
    invalid = {f"B-bad-{n}": _sale(chart, "0.00") for n in range(3)}
    batch = [_request(rid, posting) for rid, posting in {**valid, **invalid}.items()]
    # The producer resent some requests (new messages, same request ids).
    batch += [_request(rid, valid[rid]) for rid in ("B-0", "B-0", "B-3", "B-7")]
    handle = load_function("ledger_postings").handle
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(batch))

    def deliver(envelope: EventEnvelope) -> None:
        barrier.wait()
        # Pub/Sub redelivers what failed (a 500): do the same until it is acknowledged.
        for _ in range(5):
            try:
                handle(_push(emulators, envelope))
                return
            except Exception as exc:
                failures.append(exc)
        raise AssertionError("never acknowledged")

    threads = [threading.Thread(target=deliver, args=(e,)) for e in batch]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    answers = _results(results, expected=len(batch))
    assert len(answers) == len(batch), f"retried deliveries: {failures}"
    by_request: dict[str, list[dict[str, Any]]] = {}
    for answer in answers:
        by_request.setdefault(answer["data"]["request_id"], []).append(answer["data"])
    assert set(by_request) == set(valid) | set(invalid)
    for request_id, outcomes in by_request.items():
        assert all(o == outcomes[0] for o in outcomes), f"{request_id} answered differently"
        expected = "accepted" if request_id in valid else "rejected"
        assert outcomes[0]["status"] == expected
    assert sorted(_entries(platform)) == sorted(entry_id_for_request(r) for r in valid)
    assert api.balances(chart["revenue"])["posted"] == f"{sum(range(1, 9))}.00"
