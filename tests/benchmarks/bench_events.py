"""Events benchmark: publish -> push -> effect, through the shared consumer vs a bare function.

    python tests/benchmarks/bench_events.py [--quick] [--events N] [--rounds R]

Both targets run under functions-framework as CloudEvent functions in their own
process groups, each fed by a Pub/Sub emulator push subscription exactly as the
local stack feeds consumers. Each applies one Firestore write per event:

* bare (``functions/bare_event.py``): decode the push, ``set()`` the effect document;
* consumer (``functions/consumer_event.py``): ``shared.events.consumer.event_consumer``
  (push decoding, envelope validation, schema check, processed-record lookup) and the
  effect in a ``run_once`` transaction with the processed record (deduplication).

For each round, N envelopes are published at once; the run ends when N effect documents
exist (or a timeout). Reported: events/s from the first publish to the last effect,
the ratio consumer / bare (goal >= 0.8x), and publish-to-effect lag p50/p99. Bare and
consumer alternate over the rounds so drift hits both alike. Uses the emulators at
FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST when they answer, else starts its own
(on those addresses' ports when set);
every process started here is stopped by process group, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_platform import SERVER_THREADS, server_env

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

BENCH_FUNCTIONS = Path(__file__).resolve().parent / "functions"
HOST = "127.0.0.1"
PROJECT_ID = "demo-tributum-bench"
GOAL_RATIO = 0.8
EVENT_TYPE = "bench.event_published"
ROUND_TIMEOUT_SECONDS = 180.0


@dataclass(frozen=True)
class Target:
    label: str
    source: Path
    collection: str


BARE = Target("bare", BENCH_FUNCTIONS / "bare_event.py", "bench_effects_bare")
CONSUMER = Target("consumer", BENCH_FUNCTIONS / "consumer_event.py", "bench_effects_consumer")


@dataclass
class RoundResult:
    events: int
    seconds: float
    lags: list[float]

    @property
    def per_second(self) -> float:
        return self.events / self.seconds

    def lag_ms(self, q: float) -> float:
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


_groups: list[int] = []


def _stop_group(pgid: int) -> None:
    from emulator.emulators import stop_process_group

    stop_process_group(pgid)
    if pgid in _groups:
        _groups.remove(pgid)


@contextmanager
def stopping_everything() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        yield
    finally:
        for pgid in list(_groups):
            _stop_group(pgid)
        signal.signal(signal.SIGTERM, previous)


def ensure_emulators(log_dir: Path) -> dict[str, str]:
    """Addresses of Firestore and Pub/Sub emulators: configured ones, else our own."""
    from emulator import emulators as emu

    addresses = {}
    for variable, spec in (
        ("FIRESTORE_EMULATOR_HOST", emu.FIRESTORE),
        ("PUBSUB_EMULATOR_HOST", emu.PUBSUB),
    ):
        configured = os.environ.get(variable, "")
        host, _, port = configured.rpartition(":")
        if configured and emu.is_answering(host or HOST, int(port)):
            addresses[variable] = configured
            continue
        # Configured but silent: start it there; unconfigured: on any free port.
        running = emu.start_emulator(
            spec,
            port=int(port) if configured else free_port(),
            project_id=PROJECT_ID,
            log_dir=log_dir,
            host=HOST,
        )
        _groups.append(running.pgid)
        addresses[variable] = running.address
    return addresses


def start_function(target: Target, env: dict[str, str], log_dir: Path) -> int:
    port = free_port()
    with (log_dir / f"{target.label}-{port}.log").open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "functions_framework",
                "--source",
                str(target.source),
                "--target",
                "handle",
                "--host",
                HOST,
                "--port",
                str(port),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _groups.append(process.pid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{target.label} exited early; see {log_dir}")
        with suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return port
        time.sleep(0.05)
    raise RuntimeError(f"{target.label} did not listen within 60 s")


def subscribe(publisher: Any, subscriber: Any, port: int, label: str) -> str:
    """A topic with a push subscription to the function; returns the topic path."""
    name = f"bench-{label}-{uuid.uuid4().hex[:8]}"
    topic = publisher.topic_path(PROJECT_ID, name)
    publisher.create_topic(name=topic)
    subscriber.create_subscription(
        name=subscriber.subscription_path(PROJECT_ID, f"{name}--{label}"),
        topic=topic,
        push_config={"push_endpoint": f"http://{HOST}:{port}/projects/{PROJECT_ID}/topics/{name}"},
        ack_deadline_seconds=60,
    )
    return str(topic)


def run_round(publisher: Any, db: Any, topic: str, target: Target, events: int) -> RoundResult:
    from shared.events.envelope import new_event

    collection = db.collection(target.collection)
    started = time.time()
    futures = []
    for index in range(events):
        envelope = new_event(
            EVENT_TYPE,
            source="bench",
            subject=f"bench/{index}",
            tenant_id="tenant-bench",
            data={"published_at": time.time(), "index": index},
        )
        futures.append(publisher.publish(topic, envelope.to_bytes(), **envelope.attributes()))
    for future in futures:
        future.result(timeout=60)
    deadline = time.monotonic() + ROUND_TIMEOUT_SECONDS
    done = 0
    while time.monotonic() < deadline:
        done = int(collection.count().get()[0][0].value)
        if done >= events:
            break
        time.sleep(0.1)
    documents = [s.to_dict() or {} for s in collection.stream()]
    if len(documents) < events:
        raise RuntimeError(f"{target.label}: {len(documents)} of {events} effects after timeout")
    last = max(d["done_at"] for d in documents)
    for snapshot in collection.list_documents():
        snapshot.delete()
    return RoundResult(
        events=len(documents),
        seconds=last - started,
        lags=[d["done_at"] - d["published_at"] for d in documents],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 events, one round")
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    events, rounds = (100, 1) if args.quick else (args.events, args.rounds)
    if not 1 <= events <= 20_000 or not 1 <= rounds <= 10:
        parser.error("--events must be 1..20000 and --rounds 1..10")
    log_dir = Path(tempfile.mkdtemp(prefix="bench-events-"))
    with stopping_everything():
        addresses = ensure_emulators(log_dir)
        os.environ.update(addresses)
        os.environ.update({"GOOGLE_CLOUD_PROJECT": PROJECT_ID, "TRIBUTUM_PROJECT_ID": PROJECT_ID})
        from google.cloud import firestore, pubsub_v1

        from emulator import emulators as emu

        emu.clear_firestore(addresses["FIRESTORE_EMULATOR_HOST"], PROJECT_ID)
        env = server_env(
            {
                **addresses,
                "TRIBUTUM_LOG_LEVEL": "WARNING",
                "TRIBUTUM_PROJECT_ID": PROJECT_ID,
                "GOOGLE_CLOUD_PROJECT": PROJECT_ID,
            }
        )
        publisher = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
        db = firestore.Client(project=PROJECT_ID)
        topics = {}
        for target in (BARE, CONSUMER):
            port = start_function(target, env, log_dir)
            topics[target.label] = subscribe(publisher, subscriber, port, target.label)
        print(
            f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
            f"functions-framework THREADS={SERVER_THREADS}; {events} events x {rounds} rounds; "
            f"logs in {log_dir}"
        )
        results: dict[str, list[RoundResult]] = {BARE.label: [], CONSUMER.label: []}
        # One warm-up event each: the first delivery pays for imports and channels.
        for target in (BARE, CONSUMER):
            run_round(publisher, db, topics[target.label], target, 1)
        for _ in range(rounds):
            for target in (BARE, CONSUMER):
                results[target.label].append(
                    run_round(publisher, db, topics[target.label], target, events)
                )
        subscriber.close()

    def summary(label: str) -> tuple[float, float, float]:
        rows = results[label]
        rate = statistics.median(r.per_second for r in rows)
        lags = RoundResult(0, 1, [lag for r in rows for lag in r.lags])
        return rate, lags.lag_ms(0.5), lags.lag_ms(0.99)

    print(f"\n   {'':10}{'events/s':>10}{'lag p50 ms':>12}{'lag p99 ms':>12}")
    for label in (BARE.label, CONSUMER.label):
        rate, p50, p99 = summary(label)
        print(f"   {label:10}{rate:10.1f}{p50:12.0f}{p99:12.0f}")
    ratio = summary(CONSUMER.label)[0] / summary(BARE.label)[0]
    verdict = "met" if ratio >= GOAL_RATIO else "MISSED"
    print(f"   ratio consumer / bare: {ratio:.2f}x (goal >= {GOAL_RATIO:.2f}x) {verdict}")
    return 0 if ratio >= GOAL_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
