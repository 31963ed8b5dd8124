"""The dashboard's reads and actions against the real emulators (no stack, no browser)."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from emulator.dashboard.api import ACTION_HEADER, DashboardApi
from emulator.dashboard.sources import DashboardConfig, DashboardSources
from emulator.mail_sink import MailSink
from emulator.pubsub_setup import PubSubRest, SubscriptionPlan
from emulator.settings import StackConfig
from emulator.webhook_sink import WebhookSink
from shared import errors
from shared.deadletters import store
from shared.ledger import LedgerService
from shared.topology import MANIFEST_PATH, load_manifest
from tests.integration.ledger.conftest import Books, dump

LOCAL = {"Host": "127.0.0.1:8080"}


@pytest.fixture
def pubsub(emulators: Any) -> PubSubRest:
    return PubSubRest(emulators.pubsub_address, emulators.project_id)


def _sources(
    emulators: Any, db: Any, tmp_path: Path, mail_url: str = "", webhook_sink_url: str = ""
) -> DashboardSources:
    config = DashboardConfig(
        project_id=emulators.project_id,
        manifest=load_manifest(MANIFEST_PATH),
        stack=StackConfig(project_id=emulators.project_id, repo_root=tmp_path),
        firestore_address=emulators.firestore_address,
        pubsub_address=emulators.pubsub_address,
        mail_url=mail_url or "http://127.0.0.1:9",
        webhook_sink_url=webhook_sink_url or "http://127.0.0.1:9",
    )
    return DashboardSources(config, db=db)


@pytest.fixture
def sources(emulators: Any, firestore_client: Any, tmp_path: Path) -> DashboardSources:
    return _sources(emulators, firestore_client, tmp_path)


def _pull_subscription(pubsub: PubSubRest, topic: str, name: str) -> None:
    pubsub.ensure_topic(topic)
    pubsub.ensure_subscription(SubscriptionPlan(name, topic, None, 10))


def _pull_all(pubsub: PubSubRest, subscription: str, expected: int) -> list[dict[str, Any]]:
    """Pull (and acknowledge) until ``expected`` messages came, or 10 s passed."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while len(received) < expected and time.monotonic() < deadline:
        received += pubsub.pull(subscription, max_messages=100)
    return received


def _rejected(db: Any, topic: str, message_id: str, tenant: str | None) -> store.DeadLetter:
    envelope = json.dumps({"id": f"ev-{message_id}", "type": "e2e.unknown", "data": {}})
    return store.record_rejected(
        db,
        topic=topic,
        message_id=message_id,
        data=envelope.encode(),
        attributes={"type": "e2e.unknown"},
        reason="type not accepted",
        consumer="send_mail",
        owner=(tenant,),
    )


def test_dead_letters_of_every_tenant_including_none_are_listed(
    sources: DashboardSources, firestore_client: Any
) -> None:
    owned = _rejected(firestore_client, "mail-requests", "m-1", "tenant-a")
    orphan = _rejected(firestore_client, "ledger-posting-requests", "m-2", None)
    listed = {d["id"]: d for d in sources.dead_letters(None)}
    assert listed[owned.id]["tenant_id"] == "tenant-a"
    assert listed[orphan.id]["tenant_id"] is None
    assert [d["id"] for d in sources.dead_letters("discarded")] == []


def test_a_tenantless_dead_letter_is_replayed_to_its_topic(
    sources: DashboardSources, firestore_client: Any, pubsub: PubSubRest, unique_name: Any
) -> None:
    topic = unique_name("dash-replay")
    _pull_subscription(pubsub, topic, f"{topic}-watch")
    orphan = _rejected(firestore_client, topic, "m-3", None)

    replayed = sources.replay_dead_letter(orphan.id)

    assert (replayed["status"], replayed["replay_count"]) == ("replayed", 1)
    [message] = _pull_all(pubsub, f"{topic}-watch", 1)
    assert message["message"]["attributes"]["replayed_from"] == orphan.id
    stored = firestore_client.collection("dead_letters").document(orphan.id).get().to_dict()
    assert stored["replayed_by"] == {"system": "local-dashboard"}


def test_a_discarded_dead_letter_is_kept_and_never_replayed(
    sources: DashboardSources, firestore_client: Any, pubsub: PubSubRest, unique_name: Any
) -> None:
    topic = unique_name("dash-discard")
    _pull_subscription(pubsub, topic, f"{topic}-watch")
    letter = _rejected(firestore_client, topic, "m-4", "tenant-b")
    discarded = sources.discard_dead_letter(letter.id, "known duplicate")
    assert discarded["status"] == "discarded"
    before = dump(firestore_client)

    api = DashboardApi(sources, "demo")
    with pytest.raises(errors.ConflictError) as refused:
        api.handle(
            "POST",
            f"/_dashboard/api/dead-letters/{letter.id}/replay",
            {**LOCAL, ACTION_HEADER: "1"},
            b"",
        )
    assert refused.value.code == "dead_letter_discarded"
    assert dump(firestore_client) == before
    assert pubsub.pull(f"{topic}-watch") == []


def test_an_unknown_dead_letter_is_a_404_naming_it_and_writes_nothing(
    sources: DashboardSources, firestore_client: Any
) -> None:
    _rejected(firestore_client, "mail-requests", "m-5", "tenant-a")
    before = dump(firestore_client)
    for action in (sources.replay_dead_letter, lambda i: sources.discard_dead_letter(i, None)):
        with pytest.raises(errors.NotFoundError) as refused:
            action("rej-nothing")
        assert [e.field for e in refused.value.errors] == ["dead_letter_id"]
    assert dump(firestore_client) == before


def test_the_firestore_browser_reads_collections_documents_and_json(
    sources: DashboardSources, firestore_client: Any
) -> None:
    books = Books(LedgerService(firestore_client, publisher=None), tenant="tenant-fs")
    cash = books.account("1000-cash")
    root = sources.firestore("")
    assert "tenants" in root["collections"]
    assert "tenant-fs" in sources.firestore("tenants")["documents"]
    tenant = sources.firestore("tenants/tenant-fs")
    assert "accounts" in tenant["collections"]
    account = sources.firestore(f"tenants/tenant-fs/accounts/{cash}")
    assert account["exists"] is True
    assert account["data"]["code"] == "1000-cash"
    assert isinstance(account["data"]["created_at"], str)  # an instant, as ISO text
    json.dumps(account)
    with pytest.raises(errors.ValidationError) as refused:
        sources.firestore("tenants/../x")
    assert [e.field for e in refused.value.errors] == ["path"]


def test_the_trial_balance_of_each_tenant(sources: DashboardSources, firestore_client: Any) -> None:
    ledger = LedgerService(firestore_client, publisher=None)
    books = Books(ledger, tenant="tenant-tb")
    cash, equity = books.account("1000-cash"), books.account("3000-equity", "equity")
    books.post((cash, "debit", "250.00"), (equity, "credit", "250.00"))
    assert "tenant-tb" in sources.tenants()
    balance = sources.trial_balance("tenant-tb")
    expected = ledger.trial_balance("tenant-tb").to_json()
    assert balance["balanced"] is True
    assert balance["currencies"] == expected["currencies"]
    [eur] = balance["currencies"]
    assert (eur["total_debits"], eur["total_credits"]) == ("250.00", "250.00")
    with pytest.raises(errors.ValidationError):
        sources.trial_balance("tenant/../x")


def test_a_pull_subscription_is_peeked_and_keeps_its_messages(
    sources: DashboardSources, pubsub: PubSubRest, firestore_client: Any, unique_name: Any
) -> None:
    subscription = unique_name("ledger-events-peek")
    _pull_subscription(pubsub, "ledger-events", subscription)
    for n in range(3):
        pubsub.publish("ledger-events", f"m{n}".encode())
    _rejected(firestore_client, "ledger-events", "m-6", "tenant-a")

    def peeked() -> dict[str, Any]:
        row = next(t for t in sources.topics() if t["name"] == "ledger-events")
        return next(s for s in row["subscriptions"] if s["name"] == subscription) | {
            "stored": row["dead_letters_stored"]
        }

    deadline = time.monotonic() + 10
    while (seen := peeked())["backlog"] < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (seen["type"], seen["backlog"], seen["stored"]) == ("pull", 3, 1)
    # Nothing was consumed: every message is still there for its subscriber.
    assert sorted(m["message"]["data"] for m in _pull_all(pubsub, subscription, 3)) == [
        b"m0",
        b"m1",
        b"m2",
    ]


def test_run_now_publishes_the_schedule_s_tick_and_refuses_other_topics(
    sources: DashboardSources, pubsub: PubSubRest, unique_name: Any
) -> None:
    watch = unique_name("expire-holds-watch")
    _pull_subscription(pubsub, "expire-holds-schedule", watch)
    ran = sources.run_schedule("expire-holds-schedule")
    [tick] = _pull_all(pubsub, watch, 1)
    assert tick["message"]["messageId"] == ran["message_id"]
    assert tick["message"]["attributes"]["type"] == "schedule.tick"
    with pytest.raises(errors.NotFoundError) as refused:
        sources.run_schedule("ledger-events")
    assert [e.field for e in refused.value.errors] == ["topic"]
    assert pubsub.pull(watch) == []


def test_schedules_read_the_scheduler_s_clock_from_its_log(
    sources: DashboardSources, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    log = sources.config.stack.log_dir / "scheduler.log"
    log.parent.mkdir(parents=True)
    started = {"message": "scheduler.started", "time": "2026-01-01T00:00:00Z", "speedup": 60}
    tick = {
        "message": "scheduler.tick",
        "time": "2026-01-01T00:00:30Z",
        "topic": "outbox-relay-schedule",
    }
    log.write_text(json.dumps(started) + "\nplain text\n" + json.dumps(tick) + "\n")
    rows = {
        r["topic"]: r for r in sources.schedules(now=datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC))
    }
    hourly = rows["reconcile-ledger-schedule"]
    # 30 s at 60x is 30 minutes on the scheduler's clock: the next hour is 30 s away.
    assert hourly["next_tick"] == "2026-01-01T00:01:00+00:00"
    assert rows["outbox-relay-schedule"]["last_tick"] == "2026-01-01T00:00:30Z"
    assert hourly["last_tick"] is None and hourly["cron"] == "0 * * * *"


def test_the_mail_panel_reads_a_running_sink_and_says_when_none_runs(
    emulators: Any, firestore_client: Any, tmp_path: Path
) -> None:
    with MailSink(port=0) as sink:
        body = json.dumps({"to": "a@example.com", "subject": "Reset", "text": "token 1"}).encode()
        request = urllib.request.Request(sink.url(), data=body, method="POST")  # noqa: S310
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310
        mail = _sources(emulators, firestore_client, tmp_path, sink.url("")).mail()
        assert mail["running"] is True
        assert [(m["to"], m["subject"]) for m in mail["messages"]] == [("a@example.com", "Reset")]
    stopped = _sources(emulators, firestore_client, tmp_path, sink.url("")).mail()
    assert stopped == {"running": False, "url": f"{sink.url('')}/_mail", "messages": []}


def test_functions_without_a_stack_and_logs_filtered(
    sources: DashboardSources,
) -> None:
    assert sources.functions() == {"running": False, "components": []}
    log_dir = sources.config.stack.log_dir
    log_dir.mkdir(parents=True)
    lines = [
        {
            "severity": "INFO",
            "message": "http.request",
            "time": "2026-01-01T00:00:01Z",
            "correlation_id": "c-1",
            "path": "/v1/x",
        },
        {
            "severity": "ERROR",
            "message": "boom",
            "time": "2026-01-01T00:00:02Z",
            "correlation_id": "c-2",
        },
        {
            "severity": "WARNING",
            "message": "http.error",
            "time": "2026-01-01T00:00:03Z",
            "correlation_id": "c-1",
        },
    ]
    (log_dir / "accounts.log").write_text("\n".join(json.dumps(x) for x in lines) + "\nplain\n")
    (log_dir / "gateway.log").write_text(
        json.dumps({**lines[0], "time": "2026-01-01T00:00:00Z"}) + "\n"
    )
    assert sources.log_names() == ["accounts", "gateway"]
    everything = sources.logs(None, 100, None, None)
    assert [(x["log"], x["message"]) for x in everything][:2] == [
        ("accounts", "plain"),
        ("gateway", "http.request"),
    ]
    warned = sources.logs("accounts", 100, "WARNING", None)
    assert [x["message"] for x in warned] == ["boom", "http.error"]
    one_request = sources.logs("accounts", 100, None, "c-1")
    assert [x["message"] for x in one_request] == ["http.request", "http.error"]
    assert one_request[0]["summary"] == "path=/v1/x"
    assert [x["message"] for x in sources.logs("accounts", 1, None, None)] == ["plain"]
    with pytest.raises(errors.NotFoundError) as refused:
        sources.logs("nothing", 10, None, None)
    assert [e.field for e in refused.value.errors] == ["log"]


def test_the_webhook_panel_names_each_delivery_the_sink_received(
    emulators: Any, firestore_client: Any, tmp_path: Path
) -> None:
    with WebhookSink(port=0) as sink:
        sink.fail_next(1, status=503)
        for attempt in range(2):
            body = json.dumps({"type": "payment.settled", "data": {"n": attempt}}).encode()
            request = urllib.request.Request(  # noqa: S310
                sink.url("/hooks/a"),
                data=body,
                method="POST",
                headers={"webhook-id": "msg_" + "a" * 32, "Content-Type": "application/json"},
            )
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=5).close()  # noqa: S310
        base = sink.url("")
        seen = _sources(emulators, firestore_client, tmp_path, webhook_sink_url=base)
        panel = seen.webhook_deliveries()
    assert panel["running"] is True
    assert [
        (d["path"], d["webhook_id"], d["event_type"], d["answered"]) for d in panel["deliveries"]
    ] == [
        ("/hooks/a", "msg_" + "a" * 32, "payment.settled", 503),
        ("/hooks/a", "msg_" + "a" * 32, "payment.settled", 200),
    ]
    assert "body" not in panel["deliveries"][0] and "headers" not in panel["deliveries"][0]
    stopped = _sources(emulators, firestore_client, tmp_path, webhook_sink_url=base)
    assert stopped.webhook_deliveries()["running"] is False
