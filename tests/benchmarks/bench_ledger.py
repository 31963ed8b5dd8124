"""Ledger throughput on the Firestore emulator, against its raw single-document write rate.

Run from the repository root::

    python tests/benchmarks/bench_ledger.py [--clients 16] [--postings 40] [--naive-postings 8]

It reuses the emulator at ``FIRESTORE_EMULATOR_HOST`` when one answers there, and
otherwise starts its own (and stops it at the end). In one run it measures:

1. the emulator's raw write rate on one document: ``--clients`` threads doing ``set()``;
2. postings per second with ``--clients`` concurrent clients, half of them posting
   to one hot revenue account, through ``LedgerService`` (sharded balances, group
   commit, retry): failed postings are counted and every balance is checked exact
   afterwards, and a reconciliation must report no drift;
3. the same with group commit off (sharding and retry only), for comparison;
4. a naive design: each posting one transaction that reads and rewrites the balance
   kept in the account document, with nothing but ``@firestore.transactional``'s own
   five attempts: its rate and its failures.

Events are staged in the outbox (that cost is measured) but not published to
Pub/Sub: the outbox relay would publish them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from emulator import emulators as emu  # noqa: E402

PROJECT_ID = "demo-tributum-bench"


@dataclass
class Measurement:
    name: str
    operations: int
    seconds: float
    failures: int
    exact: str = "-"
    # Postings per group commit (only for the ledger with group commit on).
    mean_batch: float | None = None

    @property
    def rate(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0


@dataclass
class Run:
    seconds: float
    successes: list[int]  # per client
    failure_samples: list[str]
    failures: int


def run_clients(clients: int, per_client: int, operation: Callable[[int, int], None]) -> Run:
    """Run ``operation(client, n)`` on ``clients`` threads, counting what failed."""
    failures: list[str] = []
    successes = [0] * clients
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        start_gate.wait()
        for n in range(per_client):
            try:
                operation(index, n)
            except Exception as exc:
                with lock:
                    failures.append(f"{type(exc).__name__}: {str(exc)[:120]}")
            else:
                successes[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return Run(time.perf_counter() - started, successes, failures[:3], len(failures))


def raw_single_document(db: Any, clients: int, per_client: int) -> Measurement:
    # A fresh document each time: the emulator keeps every version of a document
    # (for reads in the past), and writes to a long-lived one slow down run by run.
    ref = db.collection("bench_raw").document(uuid.uuid4().hex)
    ref.set({"n": 0})
    run = run_clients(clients, per_client, lambda i, n: ref.set({"client": i, "n": n}))
    return Measurement("raw set() on one document", sum(run.successes), run.seconds, run.failures)


def ledger_design(
    db: Any, clients: int, per_client: int, *, group_commit: bool, tenant: str
) -> tuple[Measurement, list[str]]:
    from shared.identity.actor import Actor
    from shared.ledger.requests import CreateAccountRequest, PostEntryRequest, parse_request
    from shared.ledger.service import LedgerService, LedgerSettings

    service = LedgerService(db, publisher=None, settings=LedgerSettings(group_commit=group_commit))
    actor = Actor.system("bench")

    def account(code: str, kind: str, shards: int) -> str:
        request = parse_request(
            CreateAccountRequest,
            {"code": code, "name": code, "type": kind, "currency": "EUR", "balance_shards": shards},
        )
        return service.create_account(tenant, request, actor=actor).id

    hot = account("hot-revenue", "revenue", 16)
    own = [account(f"client-{i}", "asset", 1) for i in range(clients)]
    cold = [account(f"cold-{i}", "revenue", 1) for i in range(clients)]
    amount = "1.25"

    def post(client: int, n: int) -> None:
        counterpart = hot if client % 2 == 0 else cold[client]
        request = parse_request(
            PostEntryRequest,
            {
                "description": f"bench {client}/{n}",
                "lines": [
                    {"account_id": own[client], "side": "debit", "amount": amount},
                    {"account_id": counterpart, "side": "credit", "amount": amount},
                ],
            },
        )
        service.post_entry(tenant, request, actor=actor)

    run = run_clients(clients, per_client, post)
    # Exact: every balance equals what the successful postings imply, the trial
    # balance nets to zero and reconciliation finds no drift.
    hot_expected = sum(run.successes[i] for i in range(0, clients, 2)) * 125
    exact = service.get_account(tenant, hot).balances.totals.credits_posted == hot_expected
    for i in range(clients):
        got = service.get_account(tenant, own[i]).balances.totals.debits_posted
        exact = exact and got == run.successes[i] * 125
    trial = service.trial_balance(tenant)
    report = service.reconcile(tenant)[0]
    verdict = "yes" if exact and trial.balanced and report.clean else "NO"
    label = "ledger: shards + group commit" if group_commit else "ledger: shards, no group commit"
    commits, postings = service.posting_batches
    mean_batch = postings / commits if group_commit and commits else None
    measurement = Measurement(
        label, sum(run.successes), run.seconds, run.failures, verdict, mean_batch
    )
    return measurement, run.failure_samples


def naive_design(db: Any, clients: int, per_client: int) -> tuple[Measurement, list[str]]:
    """Balance in the account document, read-modify-written by every posting."""
    from google.cloud import firestore

    accounts = db.collection("bench_naive_accounts")
    hot = accounts.document("hot")
    hot.set({"balance": 0})
    own = [accounts.document(f"client-{i}") for i in range(clients)]
    cold = [accounts.document(f"cold-{i}") for i in range(clients)]
    for ref in own + cold:
        ref.set({"balance": 0})

    def post(client: int, n: int) -> None:
        counterpart = hot if client % 2 == 0 else cold[client]

        @firestore.transactional
        def attempt(transaction: Any) -> None:
            debit, credit = transaction.get_all([own[client], counterpart])
            snapshots = {s.id: s for s in (debit, credit)}
            transaction.update(
                own[client], {"balance": snapshots[own[client].id].get("balance") + 125}
            )
            transaction.update(
                counterpart, {"balance": snapshots[counterpart.id].get("balance") - 125}
            )
            transaction.create(
                db.collection("bench_naive_entries").document(uuid.uuid4().hex),
                {"client": client, "n": n, "amount_minor": 125, "at": datetime.now(UTC)},
            )

        attempt(db.transaction())

    run = run_clients(clients, per_client, post)
    hot_expected = -125 * sum(run.successes[i] for i in range(0, clients, 2))
    exact = hot.get().get("balance") == hot_expected
    measurement = Measurement(
        "naive: balance in the account doc",
        sum(run.successes),
        run.seconds,
        run.failures,
        "yes" if exact else "NO",
    )
    return measurement, run.failure_samples


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians win")
    parser.add_argument("--raw-writes", type=int, default=150, help="set() calls per client")
    parser.add_argument("--postings", type=int, default=40, help="postings per client")
    parser.add_argument("--naive-postings", type=int, default=4, help="naive postings per client")
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "8991")))
    args = parser.parse_args()

    started: emu.RunningEmulator | None = None
    address = os.environ.get("FIRESTORE_EMULATOR_HOST", "")
    host, _, port = address.rpartition(":")
    if not (address and emu.is_answering(host or "127.0.0.1", int(port))):
        started = emu.start_emulator(
            emu.FIRESTORE,
            port=args.port,
            project_id=PROJECT_ID,
            log_dir=Path(tempfile.mkdtemp(prefix="bench-ledger-")),
        )
        address = started.address
        os.environ["FIRESTORE_EMULATOR_HOST"] = address
    try:
        from google.cloud import firestore

        emu.clear_firestore(address, PROJECT_ID)
        db = firestore.Client(project=PROJECT_ID)
        # Warm up the emulator's JIT and the client's channel before measuring.
        raw_single_document(db, args.clients, 30)
        ledger_design(db, args.clients, 5, group_commit=True, tenant="bench-warmup")
        # The machine may be shared: rounds interleave the designs so that a busy
        # moment hits all of them, and the medians are compared.
        rounds: dict[str, list[Measurement]] = {"raw": [], "grouped": [], "single": []}
        samples: dict[str, list[str]] = {"grouped": [], "single": []}
        for number in range(args.rounds):
            rounds["raw"].append(raw_single_document(db, args.clients, args.raw_writes))
            for name, grouped in (("grouped", True), ("single", False)):
                measurement, failures = ledger_design(
                    db,
                    args.clients,
                    args.postings,
                    group_commit=grouped,
                    tenant=f"bench-{name}-{number}",
                )
                rounds[name].append(measurement)
                samples[name].extend(failures)
        naive, naive_failures = naive_design(db, args.clients, args.naive_postings)
        raw_rate = median([m.rate for m in rounds["raw"]])
        print(
            f"\nFirestore emulator at {address}; {args.clients} concurrent clients, half of "
            f"the postings on one hot account; median of {args.rounds} interleaved rounds\n"
        )
        columns = f"{'ops/s':>8} {'vs raw':>7} {'failed':>7} {'exact':>6}"
        print(f"{'design':36} {columns}  per round (ops/s)")
        for name in ("raw", "grouped", "single"):
            measured = rounds[name]
            rate = median([m.rate for m in measured])
            failures = sum(m.failures for m in measured)
            exact = (
                "-"
                if name == "raw"
                else ("yes" if all(m.exact == "yes" for m in measured) else "NO")
            )
            per_round = " ".join(f"{m.rate:.0f}" for m in measured)
            print(
                f"{measured[0].name:36} {rate:8.1f} {rate / raw_rate:6.2f}x {failures:7d} "
                f"{exact:>6}  {per_round}"
            )
        print(
            f"{naive.name:36} {naive.rate:8.1f} {naive.rate / raw_rate:6.2f}x "
            f"{naive.failures:7d} {naive.exact:>6}  "
            f"({naive.operations} of {naive.operations + naive.failures} committed)"
        )
        batches = [m.mean_batch for m in rounds["grouped"] if m.mean_batch is not None]
        if batches:
            print(
                "group commit: postings per commit, by round: "
                + " ".join(f"{b:.1f}" for b in batches)
                + f" (of at most {args.clients} clients in flight)"
            )
        for label, failures in (
            ("ledger (group commit)", samples["grouped"][:3]),
            ("ledger (no group commit)", samples["single"][:3]),
            ("naive", naive_failures),
        ):
            for sample in failures:
                print(f"  {label} failure: {sample}")
        ok = all(m.failures == 0 and m.exact == "yes" for m in rounds["grouped"] + rounds["single"])
        return 0 if ok else 1
    finally:
        if started is not None:
            emu.stop_process_group(started.pgid)


if __name__ == "__main__":
    raise SystemExit(main())
