"""The reconcile_ledger consumer: clean books report clean; a tampered balance is reported,
logged for the alert policy and published as ledger.discrepancy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from google.cloud import firestore

from shared.events.envelope import SCHEDULE_TICK_TYPE, EventEnvelope, new_event
from tests.integration.events.conftest import PullSubscription, json_logs, push_envelope
from tests.integration.ledger_functions.conftest import TENANT, Api
from tests.support.http import load_function

__all__ = ["json_logs"]  # the fixture, used by name below


def _tick() -> EventEnvelope:
    return new_event(
        SCHEDULE_TICK_TYPE,
        source="scheduler",
        subject="reconcile-ledger-schedule",
        tenant_id="*",
        data={"topic": "reconcile-ledger-schedule"},
    )


@pytest.fixture
def ledger_events(
    emulators: Any, pubsub_subscriber: Any, unique_name: Any
) -> Iterator[PullSubscription]:
    """A pull subscription on ledger-events, made before anything is published."""
    topic = f"projects/{emulators.project_id}/topics/ledger-events"
    path = pubsub_subscriber.subscription_path(emulators.project_id, unique_name("ledger-sub"))
    pubsub_subscriber.create_subscription(name=path, topic=topic)
    yield PullSubscription("ledger-events", path, pubsub_subscriber)
    pubsub_subscriber.delete_subscription(subscription=path)


def _books(api: Api) -> tuple[str, str]:
    cash = api.create_account("1000-cash")
    revenue = api.create_account("4000-revenue", "revenue")
    assert api.post((cash, "debit", "20.00"), (revenue, "credit", "20.00")).status == 201
    return cash, revenue


def test_clean_books_give_a_clean_report_and_no_discrepancy_log(
    api: Api, emulators: Any, json_logs: Any
) -> None:
    _books(api)

    load_function("reconcile_ledger").handle(
        push_envelope(emulators.project_id, "reconcile-ledger-schedule", _tick())
    )

    report = api.accounts.get("/v1/ledger/reconciliations/latest", token="accountant")
    assert report.status == 200, report.json
    assert (report.data["status"], report.data["discrepancy_count"]) == ("clean", 0)
    assert (report.data["accounts_checked"], report.data["entries_checked"]) == (2, 1)
    assert not [line for line in json_logs() if line["message"] == "ledger.discrepancy"]


def test_a_tampered_balance_is_reported_logged_and_published(
    api: Api,
    emulators: Any,
    platform: Any,
    json_logs: Any,
    ledger_events: PullSubscription,
) -> None:
    cash, _ = _books(api)
    # Someone edits a balance document behind the ledger's back.
    shard = (
        platform.collection("tenants")
        .document(TENANT)
        .collection("accounts")
        .document(cash)
        .collection("balance_shards")
        .document("0")
    )
    shard.set({"debits_posted": firestore.Increment(1)}, merge=True)

    load_function("reconcile_ledger").handle(
        push_envelope(emulators.project_id, "reconcile-ledger-schedule", _tick())
    )

    report = api.accounts.get("/v1/ledger/reconciliations/latest", token="accountant").data
    assert report["status"] == "discrepancies"
    drift = [d for d in report["discrepancies"] if d["kind"] == "balance_drift"]
    assert [(d["account_id"], d["field"], d["stored"], d["recomputed"]) for d in drift] == [
        (cash, "debits_posted", "20.01", "20.00")
    ]
    assert "currency_not_zero_sum" in {d["kind"] for d in report["discrepancies"]}
    # One ERROR line per discrepancy, in the shape the log-based metric counts.
    lines = [line for line in json_logs() if line["message"] == "ledger.discrepancy"]
    assert len(lines) == report["discrepancy_count"]
    assert {line["severity"] for line in lines} == {"ERROR"}
    assert all(line["logging.googleapis.com/labels"]["function"] for line in lines)
    assert {line["discrepancy_kind"] for line in lines} == {
        d["kind"] for d in report["discrepancies"]
    }
    received = ledger_events.receive(expected=report["discrepancy_count"])
    published = [orjson.loads(m.data) for m in received]
    discrepancy_events = [e for e in published if e["type"] == "ledger.discrepancy"]
    assert len(discrepancy_events) == report["discrepancy_count"]
    assert {e["data"]["reconciliation_id"] for e in discrepancy_events} == {report["id"]}
