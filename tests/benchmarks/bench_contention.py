"""Contention on one aggregate: time to answer N concurrent changes, and what it does to others.

Run from the repository root::

    python tests/benchmarks/bench_contention.py [--contenders 8] [--rounds 8] [--peer-rounds 2]
    python tests/benchmarks/bench_contention.py --quick

It reuses the Firestore emulator at ``FIRESTORE_EMULATOR_HOST`` when one answers there,
and otherwise starts its own (and stops it at the end). For each operation - reversals
of one journal entry, refunds of one payment (each fits, so every one must commit),
captures of one payment - it measures, in one run:

1. **alone** (the baseline): one request on an aggregate nobody else touches;
2. **the design, N instances**: N requests at once on one aggregate, each through its
   own service instance (nothing shared in memory: only the commit preconditions keep
   them apart; the payments' in-process lock is bypassed to model that);
3. **the design, one instance**: the same N requests through one instance, whose
   per-aggregate lock makes them take turns;
4. **the previous design** (the peer): one transaction that reads and writes the
   aggregate, retried on contention, as the use cases did before; N instances.

All along, another tenant posts journal entries on two threads (the **bystander**); its
postings are timed alone first, then attributed to the runs they overlapped. Reported:
p50/p99/max time to answer, the outcomes, and ratios to the baseline. Goal: every
request answered within 2 s at N=8 on the emulator, and the bystander unaffected.
Events are staged in the outbox but not published.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from emulator import emulators as emu  # noqa: E402
from shared.identity.actor import Actor  # noqa: E402

# The retry layer logs every retry at INFO; the previous design retries thousands of times.
os.environ.setdefault("TRIBUTUM_LOG_LEVEL", "WARNING")

PROJECT_ID = "demo-tributum-bench-contention"
TENANT = "bench-contended"
BYSTANDER = "bench-bystander"
ACTOR = Actor.system("bench")
GOAL_SECONDS = 2.0


@dataclass
class Sample:
    seconds: float
    outcome: str  # "ok" or the error code (or exception name)


@dataclass
class Series:
    """Every request of one (operation, design) over all its rounds."""

    label: str
    samples: list[Sample] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)

    @property
    def seconds(self) -> list[float]:
        return [s.seconds for s in self.samples]

    def outcomes(self) -> str:
        counts: dict[str, int] = {}
        for sample in self.samples:
            counts[sample.outcome] = counts.get(sample.outcome, 0) + 1
        return ", ".join(f"{n} {name}" for name, n in sorted(counts.items(), key=lambda c: -c[1]))


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def timed(call: Callable[[], Any]) -> Sample:
    from shared.errors import AppError

    started = time.perf_counter()
    try:
        call()
        outcome = "ok"
    except AppError as exc:
        outcome = f"{exc.status} {exc.code}"
    except Exception as exc:
        outcome = type(exc).__name__
    return Sample(time.perf_counter() - started, outcome)


def race(calls: Sequence[Callable[[], Any]], series: Series) -> None:
    """Release every call at once; record each one's time to answer and the run's window."""
    gate = threading.Barrier(len(calls) + 1)
    samples: list[Sample | None] = [None] * len(calls)

    def run(index: int) -> None:
        gate.wait()
        samples[index] = timed(calls[index])

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    gate.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join(timeout=600)
    series.windows.append((started, time.monotonic()))
    series.samples.extend(s if s is not None else Sample(600.0, "no answer") for s in samples)


# -- the aggregates -----------------------------------------------------------------------------


class Ledger:
    """A tenant's two accounts and fresh entries to reverse."""

    def __init__(self, db: Any, tenant: str) -> None:
        from shared.ledger import CreateAccountRequest, LedgerService, parse_request

        self.db, self.tenant = db, tenant
        self.service = LedgerService(db, publisher=None)
        self.accounts = [
            self.service.create_account(
                tenant,
                parse_request(
                    CreateAccountRequest,
                    {"code": code, "name": code, "type": kind, "currency": "EUR", **extra},
                ),
                actor=ACTOR,
            ).id
            for code, kind, extra in (
                ("cash", "asset", {}),
                ("sales", "revenue", {"balance_shards": 8}),
            )
        ]

    def post(self, amount: str = "1.00") -> str:
        from shared.ledger import PostEntryRequest, parse_request

        cash, sales = self.accounts
        request = parse_request(
            PostEntryRequest,
            {
                "lines": [
                    {"account_id": cash, "side": "debit", "amount": amount},
                    {"account_id": sales, "side": "credit", "amount": amount},
                ]
            },
        )
        return self.service.post_entry(self.tenant, request, actor=ACTOR).id


def new_payment(db: Any, tenant: str, *, captured: bool) -> str:
    """A payment stored as the processor leaves it: settled (captured) or authorized."""
    from shared.payments import domain
    from shared.payments.repository import payment_ref, payment_to_document

    now = datetime.now(UTC)
    payment = domain.new_payment(
        payment_id=domain.new_id(domain.PAYMENT_ID_PREFIX),
        tenant_id=tenant,
        amount="100.00",
        currency="EUR",
        payer_ref="cust_1",
        payee_ref="merchant_1",
        method_token="tok_approve",
        description="bench",
        tax_calculation_id=None,
        capture_mode=domain.CaptureMode.MANUAL,
        created_by=ACTOR.to_audit(),
        now=now,
    )
    payment = domain.authorize(
        payment,
        provider_reference="sbx_auth",
        amount=payment.amount,
        ledger_hold_id=f"{payment.id}-hold",
        expires_at=now + timedelta(days=7),
        now=now,
    )
    if captured:
        payment = domain.capture(payment, amount=payment.amount, ledger_entry_id="ent_x", now=now)
        payment = domain.settle(payment, now=now)
    payment_ref(db, tenant, payment.id).set(payment_to_document(payment))
    return payment.id


# -- the previous design, for comparison -----------------------------------------------------


def previous_reversal(ledger: Any, entry_id: str) -> None:
    """The reversal as it was: one transaction reading the entry, retried on contention."""
    from google.cloud import firestore as fs

    from shared.events.transact import read_retried
    from shared.ledger import domain
    from shared.ledger.model import ENTRY_ID_PREFIX, EntryKind, LineEffect, new_id
    from shared.ledger.repository import entry_from_document, entry_to_document

    service = ledger.service
    reversal_id = new_id(ENTRY_ID_PREFIX)
    entry_ref = service.paths.entry(ledger.tenant, entry_id)

    @fs.transactional
    def attempt(transaction: Any) -> None:
        snapshot = entry_ref.get(transaction=transaction)
        original = entry_from_document(snapshot.id, snapshot.to_dict() or {})
        if original.reversed_by_entry_id == reversal_id:
            return
        proposed = domain.reversal_lines(original)
        accounts = service.store.read_accounts(ledger.tenant, original.account_ids, transaction)
        plan = domain.plan_entry(proposed, accounts, {}, effect=LineEffect.POSTED)
        reversal = replace(
            original,
            id=reversal_id,
            kind=EntryKind.REVERSAL,
            lines=plan.lines,
            reverses_entry_id=entry_id,
            extra={},
        )
        transaction.create(
            service.paths.entry(ledger.tenant, reversal_id), entry_to_document(reversal)
        )
        transaction.update(entry_ref, {"reversed_by_entry_id": reversal_id})
        service.store.add_deltas(transaction, ledger.tenant, accounts, plan.deltas)

    read_retried(lambda: attempt(service.db.transaction(max_attempts=5)), name="previous_reversal")


def previous_payment_change(db: Any, tenant: str, payment_id: str, change: str) -> None:
    """A capture or refund as it was: one transaction reading and writing the payment."""
    from google.cloud import firestore as fs

    from shared.errors import ContentionError
    from shared.payments import domain
    from shared.payments.repository import payment_from_document, payment_ref, payment_to_document
    from shared.resilience import RetryPolicy, is_firestore_contention, retry_call

    ref = payment_ref(db, tenant, payment_id)
    own_id = domain.new_id(domain.REFUND_ID_PREFIX)

    @fs.transactional
    def attempt(transaction: Any) -> None:
        payment = payment_from_document(ref.get(transaction=transaction).to_dict() or {})
        now = datetime.now(UTC)
        if change == "refund":
            if payment.refund(own_id) is not None:
                return
            updated, _ = domain.request_refund(
                payment, Decimal("10.00"), "", refund_id=own_id, now=now
            )
        else:
            if payment.pending_action is not None and payment.pending_action.id == own_id:
                return
            updated = domain.request_capture(payment, None, action_id=own_id, now=now)
        transaction.set(ref, payment_to_document(updated))

    policy = RetryPolicy(max_attempts=8, base_delay_seconds=0.05, max_delay_seconds=1.0)
    try:
        retry_call(
            lambda: attempt(db.transaction(max_attempts=3)),
            policy=policy,
            is_retryable=is_firestore_contention,
        )
    except Exception as exc:
        if not is_firestore_contention(exc):
            raise
        raise ContentionError("busy") from exc


# -- the bystander ------------------------------------------------------------------------------


class Bystander:
    """Another tenant posting on ``threads`` threads, each posting timed with its start."""

    def __init__(self, ledger: Ledger, threads: int = 2) -> None:
        self.ledger = ledger
        self.samples: list[tuple[float, float, str]] = []  # (started, seconds, outcome)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            sample = timed(self.ledger.post)
            with self._lock:
                self.samples.append((started, sample.seconds, sample.outcome))

    @contextmanager
    def running(self) -> Iterator[Bystander]:
        for thread in self._threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(timeout=600)

    def within(self, windows: Sequence[tuple[float, float]]) -> list[float]:
        """Postings that were in flight during any of ``windows``."""
        with self._lock:
            samples = list(self.samples)
        return [
            seconds
            for started, seconds, _ in samples
            if any(started < end and started + seconds > begin for begin, end in windows)
        ]

    def failures(self) -> int:
        with self._lock:
            return sum(1 for _, _, outcome in self.samples if outcome != "ok")


# -- the runs -----------------------------------------------------------------------------------


@contextmanager
def payment_locks_bypassed() -> Iterator[None]:
    """Model separate instances for the payments: no in-process turn-taking."""
    from shared.ledger.aggregate_locks import AggregateLocks
    from shared.payments import store as service

    kept = service._PAYMENT_LOCKS
    service._PAYMENT_LOCKS = AggregateLocks(wait_seconds=0.0)
    try:
        yield
    finally:
        service._PAYMENT_LOCKS = kept


def run_reversals(db: Any, n: int, rounds: int, design: str, series: Series) -> None:
    from shared.ledger import LedgerService

    ledger = Ledger(db, f"{TENANT}-rev-{design}-{uuid.uuid4().hex[:6]}")
    contenders = [ledger.service] * n
    if design != "one instance":
        contenders = [LedgerService(db, publisher=None) for _ in range(n)]
    for _ in range(rounds):
        entry_id = ledger.post("7.00")
        calls: list[Callable[[], Any]] = [
            partial(previous_reversal, ledger, entry_id)
            if design == "previous"
            else partial(service.reverse_entry, ledger.tenant, entry_id, actor=ACTOR)
            for service in contenders
        ]
        race(calls, series)


def run_payments(db: Any, change: str, n: int, rounds: int, design: str, series: Series) -> None:
    from shared.payments import RefundPaymentRequest
    from shared.payments import service as payments

    tenant = f"{TENANT}-{change}"
    refund = RefundPaymentRequest(amount="10.00")
    for _ in range(rounds):
        payment_id = new_payment(db, tenant, captured=change == "refund")
        call: Callable[[], Any]
        if design == "previous":
            call = partial(previous_payment_change, db, tenant, payment_id, change)
        elif change == "refund":
            call = partial(
                payments.request_refund, db, tenant, payment_id, refund, actor=ACTOR, publisher=None
            )
        else:
            call = partial(
                payments.request_capture, db, tenant, payment_id, actor=ACTOR, publisher=None
            )
        calls = [call] * n
        if design == "N instances":
            with payment_locks_bypassed():
                race(calls, series)
        else:
            race(calls, series)


def run(db: Any, operation: str, n: int, rounds: int, design: str) -> Series:
    series = Series(f"{operation}: {design}")
    if operation == "reversal":
        run_reversals(db, n, rounds, design, series)
    else:
        run_payments(db, operation, n, rounds, design, series)
    return series


def print_table(results: dict[str, list[Series]], bystander: Bystander, alone: list[float]) -> bool:
    """The table of times; whether every request of the design met the goal."""
    header = f"{'operation: design':38} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99/base':>8}"
    print(f"\n{header}  outcomes")
    ok = True
    for series_list in results.values():
        baseline = statistics.median(series_list[0].seconds)
        for series in series_list:
            values = series.seconds
            p50, p99, top = statistics.median(values), percentile(values, 0.99), max(values)
            print(
                f"{series.label:38} {p50 * 1000:8.0f} {p99 * 1000:8.0f} {top * 1000:8.0f} "
                f"{p99 / baseline:7.1f}x  {series.outcomes()}"
            )
            if not series.label.endswith("previous") and top > GOAL_SECONDS:
                ok = False
    print(f"\nbystander postings (another tenant, 2 threads), {bystander.failures()} failed:")
    base = statistics.median(alone)
    rows = [("alone (baseline)", alone)]
    for label, designs in (
        ("under the design's runs", ("N instances", "one instance")),
        ("under the previous design's runs", ("previous",)),
    ):
        windows = [
            window
            for series_list in results.values()
            for series in series_list
            if series.label.split(": ")[1] in designs
            for window in series.windows
        ]
        rows.append((label, bystander.within(windows)))
    for label, values in rows:
        if not values:
            continue
        p50 = statistics.median(values)
        print(
            f"  {label:34} p50 {p50 * 1000:6.0f} ms  p99 {percentile(values, 0.99) * 1000:6.0f} ms"
            f"  max {max(values) * 1000:6.0f} ms  p50 {p50 / base:4.1f}x  (n={len(values)})"
        )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contenders", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=8, help="races per design and operation")
    parser.add_argument("--peer-rounds", type=int, default=2, help="races of the previous design")
    parser.add_argument("--quick", action="store_true", help="2 rounds, 1 of the previous design")
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "8993")))
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.peer_rounds = 2, 1

    started: emu.RunningEmulator | None = None
    address = os.environ.get("FIRESTORE_EMULATOR_HOST", "")
    host, _, port = address.rpartition(":")
    if not (address and emu.is_answering(host or "127.0.0.1", int(port))):
        started = emu.start_emulator(
            emu.FIRESTORE,
            port=args.port,
            project_id=PROJECT_ID,
            log_dir=Path(tempfile.mkdtemp(prefix="bench-contention-")),
        )
        address = started.address
        os.environ["FIRESTORE_EMULATOR_HOST"] = address
    try:
        from google.cloud import firestore

        emu.clear_firestore(address, PROJECT_ID)
        db = firestore.Client(project=PROJECT_ID)
        n = args.contenders
        # Warm up the emulator's JIT and the client's channel before measuring.
        run(db, "reversal", n, 1, "N instances")
        run(db, "refund", n, 1, "N instances")
        bystander = Bystander(Ledger(db, BYSTANDER))
        results: dict[str, list[Series]] = {}
        with bystander.running():
            time.sleep(3.0)
            alone = [seconds for _, seconds, _ in list(bystander.samples)]
            for operation in ("reversal", "refund", "capture"):
                results[operation] = [
                    run(db, operation, 1, args.rounds, "alone"),
                    run(db, operation, n, args.rounds, "N instances"),
                    run(db, operation, n, args.rounds, "one instance"),
                ]
                if args.peer_rounds:
                    results[operation].append(run(db, operation, n, args.peer_rounds, "previous"))
        print(
            f"\nFirestore emulator at {address}; {n} concurrent requests on one aggregate, "
            f"{args.rounds} rounds ({args.peer_rounds} for the previous design); "
            "times to answer, p99/base = p99 over the median alone"
        )
        ok = print_table(results, bystander, alone)
        print(
            f"\ngoal: every request answered within {GOAL_SECONDS:.0f} s at N={n}: "
            f"{'met' if ok else 'MISSED'}"
        )
        return 0 if ok else 1
    finally:
        if started is not None:
            emu.stop_process_group(started.pgid)


if __name__ == "__main__":
    raise SystemExit(main())
