"""Webhook delivery latency: ledger postings to signed POSTs at a receiver, vs one bare push.

    python tests/benchmarks/bench_webhooks.py [--quick] [--events N] [--rounds R] [--no-dead]

The real ``webhook_dispatch`` and ``webhook_deliver`` functions run under
functions-framework in their own process groups (THREADS as the manifest deploys
them), each fed by a Pub/Sub emulator push subscription with the manifest's retry
policy, as the local stack feeds them. A round posts N journal entries through
``LedgerService`` (8 threads), whose ``ledger.entry_posted`` events are published
after each commit; one endpoint of the round's tenant subscribes to them, at a
``WebhookSink`` on a free port (the only private address the functions may reach).
Per event the path is: ``ledger-events`` push -> dispatch (one transaction, delivery
staged in the outbox) -> ``webhook-deliveries`` push -> deliver (reads, signs, POSTs,
records the attempt) -> sink.

Latency is the sink's receipt time minus the event's own time (the envelope's
``time``, set in the posting's transaction: the body's ``timestamp``), split into
stages: to the outbox record's ``published_at``, on to the delivery's ``created_at``
(the dispatcher's transaction), on to the receipt. The baseline is a bare Pub/Sub
push subscription whose endpoint is the same sink: N messages are published at the
same offsets from the round's start as the round's events were made, and latency is
receipt minus the publish call. Reported: p50, p90, p99 and max, deliveries per
second (N over first event to last receipt) and the ratios to the baseline. Every
delivery is verified with the Standard Webhooks reference library.

A last round (unless ``--no-dead``) gives the tenant a second endpoint, subscribed
alike, whose requests hang past the 10 s delivery deadline, and measures the healthy
endpoint's latency beside it. The deliverer is fed by both of its lanes
(``webhook-deliveries`` and ``webhook-deliveries-slow``), as the manifest deploys it.

Uses the emulators at FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST when they
answer, else starts its own; its own project id, so nothing it writes meets other
runs. Every process started here is stopped by process group, and the subscriptions
it made are deleted, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench_events import Target, ensure_emulators, start_function, stopping_everything
from bench_platform import server_env

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from shared.identity.actor import Actor  # noqa: E402

HOST = "127.0.0.1"
PROJECT_ID = "demo-tributum-bench-hooks"
SOURCE_TOPIC = "ledger-events"
DELIVERIES_TOPIC = "webhook-deliveries"
SLOW_DELIVERIES_TOPIC = "webhook-deliveries-slow"
BASELINE_TOPIC = "bench-webhook-baseline"
# Topics the functions and the ledger publish to (audit records go along with each change).
TOPICS = (SOURCE_TOPIC, DELIVERIES_TOPIC, SLOW_DELIVERIES_TOPIC, "audit-events", BASELINE_TOPIC)
POSTING_THREADS = 8
WARM_UP_EVENTS = 5
ROUND_TIMEOUT_SECONDS = 300.0
ACTOR = Actor.system("bench")
STAGES = ("published", "dispatched", "received")

DISPATCH = Target("webhook_dispatch", REPO_ROOT / "functions/webhook_dispatch/main.py", "")
DELIVER = Target("webhook_deliver", REPO_ROOT / "functions/webhook_deliver/main.py", "")


def quantile_ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@dataclass
class Latencies:
    """One round of one path: seconds from each event's time to its receipt."""

    label: str
    lags: list[float]
    seconds: float  # first event to last receipt
    # Webhooks only, per stage: seconds from the event's time to its publication
    # (the outbox record's published_at), on to the delivery's creation by the
    # dispatcher, and on to the receipt.
    stages: dict[str, list[float]] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return len(self.lags) / self.seconds

    def quantile_ms(self, q: float) -> float:
        return quantile_ms(self.lags, q)


def merged(rounds: list[Latencies]) -> Latencies:
    return Latencies(
        rounds[0].label,
        [lag for r in rounds for lag in r.lags],
        sum(r.seconds for r in rounds),
        {stage: [lag for r in rounds for lag in r.stages.get(stage, [])] for stage in STAGES},
    )


# -- Pub/Sub plumbing -------------------------------------------------------------------------


class Plumbing:
    """The topics and push subscriptions of the run; the subscriptions go at the end."""

    def __init__(self) -> None:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        self.subscriptions: list[str] = []

    def topics(self) -> None:
        from google.api_core.exceptions import AlreadyExists

        for topic in TOPICS:
            with contextlib.suppress(AlreadyExists):
                self.publisher.create_topic(name=self.publisher.topic_path(PROJECT_ID, topic))

    def push(self, topic: str, endpoint: str, label: str, retry: Any = None) -> None:
        """A push subscription; ``retry`` (the manifest's policy) sets its backoff and
        ack deadline as the local stack does (without one, the emulator redelivers a
        failed message at once)."""
        name = self.subscriber.subscription_path(
            PROJECT_ID, f"{topic}--{label}-{uuid.uuid4().hex[:8]}"
        )
        policy: dict[str, Any] = {"ack_deadline_seconds": 60}
        if retry is not None:
            policy = {
                "ack_deadline_seconds": retry.ack_deadline_seconds,
                "retry_policy": {
                    "minimum_backoff": {"seconds": retry.minimum_backoff_seconds},
                    "maximum_backoff": {"seconds": retry.maximum_backoff_seconds},
                },
            }
        self.subscriber.create_subscription(
            request={
                "name": name,
                "topic": self.publisher.topic_path(PROJECT_ID, topic),
                "push_config": {"push_endpoint": endpoint},
                **policy,
            }
        )
        self.subscriptions.append(name)

    def close(self) -> None:
        for name in self.subscriptions:
            with contextlib.suppress(Exception):
                self.subscriber.delete_subscription(subscription=name)
        self.subscriber.close()


def push_endpoint(port: int, topic: str) -> str:
    from emulator.pubsub_setup import push_endpoint as endpoint_for

    return endpoint_for(HOST, port, PROJECT_ID, topic)


# -- one round --------------------------------------------------------------------------------


def wait_until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + ROUND_TIMEOUT_SECONDS
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


class DeadPaths:
    """The sink's hook: requests to ``/dead/...`` hang past the delivery deadline."""

    PREFIX = "/dead/"

    def __init__(self) -> None:
        from shared.webhooks.rules import DELIVERY_TIMEOUT_SECONDS

        self.hold_seconds = DELIVERY_TIMEOUT_SECONDS + 5
        self.released = threading.Event()

    def __call__(self, delivery: Any) -> None:
        if delivery.path.startswith(self.PREFIX):
            self.released.wait(self.hold_seconds)


def webhook_round(
    db: Any, sink: Any, events: int, label: str, *, beside_dead: bool = False
) -> tuple[Latencies, list[float]]:
    """Post ``events`` entries for a fresh tenant; returns the latencies and each event's
    offset from the round's start (the schedule the baseline replays). ``beside_dead``:
    the tenant has a second endpoint, subscribed alike, whose requests hang."""
    from standardwebhooks.webhooks import Webhook

    from shared.events.outbox import OUTBOX_COLLECTION
    from shared.ledger.requests import CreateAccountRequest, PostEntryRequest, parse_request
    from shared.ledger.service import LedgerService
    from shared.webhooks import CreateEndpointRequest, create_endpoint, delete_endpoint
    from shared.webhooks.store import deliveries_collection

    tenant = f"bench-hooks-{label}-{uuid.uuid4().hex[:6]}"
    path = f"/hooks/{tenant}"

    def endpoint(url_path: str) -> Any:
        request = CreateEndpointRequest(url=sink.url(url_path), event_types=["ledger.entry_posted"])
        return create_endpoint(db, tenant, request, actor=ACTOR)

    created = endpoint(path)
    dead = endpoint(f"{DeadPaths.PREFIX}{tenant}") if beside_dead else None
    service = LedgerService(db)

    def account(code: str, kind: str) -> str:
        body = {"code": code, "name": code, "type": kind, "currency": "EUR", "balance_shards": 4}
        return service.create_account(
            tenant, parse_request(CreateAccountRequest, body), actor=ACTOR
        ).id

    cash, revenue = account("1000-cash", "asset"), account("4000-sales", "revenue")

    def post(index: int) -> None:
        body = {
            "description": f"bench {index}",
            "lines": [
                {"account_id": cash, "side": "debit", "amount": "1.00"},
                {"account_id": revenue, "side": "credit", "amount": "1.00"},
            ],
        }
        service.post_entry(tenant, parse_request(PostEntryRequest, body), actor=ACTOR)

    started = time.time()
    with ThreadPoolExecutor(POSTING_THREADS) as pool:
        list(pool.map(post, range(events)))

    def received() -> list[Any]:
        return [d for d in sink.deliveries if d.path == path and d.answered == 200]

    wait_until(lambda: len({d.webhook_id for d in received()}) >= events, f"{events} webhooks")
    if dead is not None:  # its retries would go on: the deliverer drops them once it is gone
        delete_endpoint(db, tenant, dead.endpoint.id, actor=ACTOR)
    verifier = Webhook(created.secret)
    first: dict[str, Any] = {}
    for delivery in received():
        first.setdefault(delivery.webhook_id, delivery)
    dispatched = {
        s.id: (s.to_dict() or {})["created_at"].timestamp()
        for s in deliveries_collection(db, tenant, created.endpoint.id).stream()
    }
    lags, times = [], []
    stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
    events_by_delivery = {}
    for webhook_id, delivery in first.items():
        event = verifier.verify(delivery.body, delivery.headers)
        events_by_delivery[webhook_id] = event["id"]
        occurred = datetime.fromisoformat(event["timestamp"]).timestamp()
        times.append(occurred)
        lags.append(delivery.received_at.timestamp() - occurred)
    outbox = db.collection(OUTBOX_COLLECTION)
    published = {
        s.id: (s.to_dict() or {})["published_at"].timestamp()
        for s in db.get_all([outbox.document(e) for e in events_by_delivery.values()])
    }
    for (webhook_id, event_id), occurred, lag in zip(
        events_by_delivery.items(), times, lags, strict=True
    ):
        stages["published"].append(published[event_id] - occurred)
        stages["dispatched"].append(dispatched[webhook_id] - published[event_id])
        stages["received"].append(occurred + lag - dispatched[webhook_id])
    last = max(d.received_at.timestamp() for d in first.values())
    offsets = sorted(t - started for t in times)
    name = "beside dead" if beside_dead else "webhooks"
    return Latencies(name, lags, last - min(times), stages), offsets


def baseline_round(plumbing: Plumbing, sink: Any, offsets: list[float], number: int) -> Latencies:
    """One bare push per event, published at the same offsets the events were made at."""
    run = f"{number}-{uuid.uuid4().hex[:6]}"
    topic = plumbing.publisher.topic_path(PROJECT_ID, BASELINE_TOPIC)
    started = time.time()
    futures = []
    for index, offset in enumerate(offsets):
        time.sleep(max(0.0, started + offset - time.time()))
        data = json.dumps({"run": run, "index": index, "sent_at": time.time()}).encode()
        futures.append(plumbing.publisher.publish(topic, data))
    for future in futures:
        future.result(timeout=60)

    def received() -> dict[int, tuple[float, float]]:
        found: dict[int, tuple[float, float]] = {}
        for delivery in sink.deliveries:
            if not delivery.path.startswith("/baseline"):
                continue
            message = json.loads(delivery.body)["message"]
            data = json.loads(base64.b64decode(message["data"]))
            if data["run"] == run:
                found.setdefault(data["index"], (data["sent_at"], delivery.received_at.timestamp()))
        return found

    wait_until(lambda: len(received()) >= len(offsets), f"{len(offsets)} baseline pushes")
    pairs = list(received().values())
    first_sent = min(sent for sent, _ in pairs)
    last_received = max(got for _, got in pairs)
    return Latencies("bare push", [got - sent for sent, got in pairs], last_received - first_sent)


# -- the run ----------------------------------------------------------------------------------


@contextlib.contextmanager
def sink_running(dead_paths: DeadPaths) -> Iterator[Any]:
    from emulator.webhook_sink import WebhookSink

    # A free port, outside any stack's ranges.
    with WebhookSink(HOST, 0, on_delivery=dead_paths) as sink:
        try:
            yield sink
        finally:
            dead_paths.released.set()


def deployed(name: str) -> Any:
    """The function as the manifest deploys it."""
    from shared.topology import load_manifest

    return next(f for f in load_manifest().functions if f.name == name)


def function_env(addresses: dict[str, str], name: str, allowed: str) -> dict[str, str]:
    return server_env(
        {
            **addresses,
            "THREADS": str(deployed(name).scaling.concurrency),  # as deployed
            "TRIBUTUM_LOG_LEVEL": "WARNING",
            "TRIBUTUM_PROJECT_ID": PROJECT_ID,
            "GOOGLE_CLOUD_PROJECT": PROJECT_ID,
            "TRIBUTUM_FUNCTION_NAME": name,
            "TRIBUTUM_WEBHOOKS__ALLOWED_PRIVATE_HOSTS": allowed,
        }
    )


def report(results: dict[str, list[Latencies]]) -> None:
    rows = {label: merged(rounds) for label, rounds in results.items() if rounds}
    rate = {
        label: sorted(r.per_second for r in rounds)[len(rounds) // 2]
        for label, rounds in results.items()
        if rounds
    }
    print(
        f"\n   {'':12}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'per s':>9}"
        f"{'events':>8}   p50 / p99 ms: to published, on to dispatched, on to received"
    )
    for label, row in rows.items():
        split = "   " + ", ".join(
            f"{quantile_ms(lags, 0.5):.0f} / {quantile_ms(lags, 0.99):.0f}"
            for lags in (row.stages.get(stage) for stage in STAGES)
            if lags
        )
        print(
            f"   {label:12}{row.quantile_ms(0.5):9.0f}{row.quantile_ms(0.9):9.0f}"
            f"{row.quantile_ms(0.99):9.0f}{max(row.lags) * 1000:9.0f}{rate[label]:9.1f}"
            f"{len(row.lags):8d}{split}"
        )
    bare = rows["bare push"]
    for label in ("webhooks", "beside dead"):
        if label not in rows:
            continue
        row = rows[label]
        ratios = " / ".join(
            f"{row.quantile_ms(q) / bare.quantile_ms(q):.1f}x" for q in (0.5, 0.9, 0.99)
        )
        slower = max(row.lags) / max(bare.lags)
        print(
            f"   {label} / bare push: latency p50 / p90 / p99 {ratios}, max {slower:.1f}x, "
            f"deliveries/s {rate[label] / rate['bare push']:.2f}x"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 events, one round")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--no-dead", action="store_true", help="skip the round beside a hanging endpoint"
    )
    args = parser.parse_args(argv)
    events, rounds = (50, 1) if args.quick else (args.events, args.rounds)
    os.environ["TRIBUTUM_LOG_LEVEL"] = "WARNING"  # before the first log line configures it
    if not 1 <= events <= 5_000 or not 1 <= rounds <= 10:
        parser.error("--events must be 1..5000 and --rounds 1..10")
    log_dir = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    with stopping_everything(), sink_running(DeadPaths()) as sink:
        addresses = ensure_emulators(log_dir)
        allowed = json.dumps([f"{HOST}:{sink.port}"])
        os.environ.update(addresses)
        os.environ.update(
            {
                "GOOGLE_CLOUD_PROJECT": PROJECT_ID,
                "TRIBUTUM_PROJECT_ID": PROJECT_ID,
                "TRIBUTUM_ENV": "local",
                "TRIBUTUM_LOG_LEVEL": "WARNING",
                "TRIBUTUM_WEBHOOKS__ALLOWED_PRIVATE_HOSTS": allowed,
            }
        )
        from google.cloud import firestore

        from emulator import emulators as emu
        from shared.config import reset_settings

        reset_settings()  # read again, with the sink allowed

        emu.clear_firestore(addresses["FIRESTORE_EMULATOR_HOST"], PROJECT_ID)
        plumbing = Plumbing()
        try:
            plumbing.topics()
            # The deliverer takes both lanes, each its own push subscription, as deployed.
            lanes = (DELIVERIES_TOPIC, SLOW_DELIVERIES_TOPIC)
            for target, topics in ((DISPATCH, (SOURCE_TOPIC,)), (DELIVER, lanes)):
                env = function_env(addresses, target.label, allowed)
                port = start_function(target, env, log_dir)
                for topic in topics:
                    retry = next(
                        c.retry for c in deployed(target.label).consumes if c.topic == topic
                    )
                    plumbing.push(topic, push_endpoint(port, topic), target.label, retry)
            plumbing.push(BASELINE_TOPIC, sink.url("/baseline"), "baseline")
            db = firestore.Client(project=PROJECT_ID)
            print(
                f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
                f"functions THREADS as in the manifest; {events} postings x {rounds} "
                f"rounds, {POSTING_THREADS} posting threads; logs in {log_dir}"
            )
            # Warm-up: the first deliveries pay for imports, channels and the JIT.
            _, offsets = webhook_round(db, sink, WARM_UP_EVENTS, "warm-up")
            baseline_round(plumbing, sink, offsets, 0)
            results: dict[str, list[Latencies]] = {
                "bare push": [],
                "webhooks": [],
                "beside dead": [],
            }
            for number in range(1, rounds + 1):
                hooks, offsets = webhook_round(db, sink, events, str(number))
                results["webhooks"].append(hooks)
                results["bare push"].append(baseline_round(plumbing, sink, offsets, number))
                sink.clear()
            if not args.no_dead:
                # Last: failed pushes may shrink the emulator's push window for a while.
                beside, _ = webhook_round(db, sink, events, "dead", beside_dead=True)
                results["beside dead"].append(beside)
        finally:
            plumbing.close()
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
