"""Group commit (batching, isolation of outcomes), the contention retry, storage codecs, ids."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime

import pytest
from google.api_core.exceptions import Aborted, DeadlineExceeded, NotFound
from google.cloud import firestore

from shared import resilience
from shared.errors import BusinessRuleError, ServiceUnavailableError
from shared.events.transact import read_retried, transact
from shared.ledger.group_commit import BatchOutcome, GroupCommitter
from shared.ledger.model import (
    Entry,
    EntryKind,
    EntryStatus,
    Line,
    Side,
    new_id,
)
from shared.ledger.repository import (
    AccountCache,
    account_from_document,
    account_to_document,
    decode_line,
    encode_line,
    entry_from_document,
    entry_to_document,
)
from shared.resilience import RetryPolicy, is_firestore_contention
from tests.unit import firestore_memory
from tests.unit.firestore_memory import MemoryFirestore
from tests.unit.ledger.support import account

# -- group commit -----------------------------------------------------------------------


class Recorder:
    """A commit function that records its batches and is slow enough for others to queue."""

    def __init__(self, delay: float = 0.02) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.after_release_calls = 0
        self.lock = threading.Lock()

    def __call__(self, key: str, commands: Sequence[int]) -> BatchOutcome[int]:
        with self.lock:
            self.batches.append(list(commands))
        time.sleep(self.delay)

        def after() -> None:
            with self.lock:
                self.after_release_calls += 1

        outcomes: list[int | BaseException] = [
            BusinessRuleError("odd", code="odd") if c % 2 else c * 10 for c in commands
        ]
        return BatchOutcome(outcomes, after)


def submit_all(committer: GroupCommitter[int, int], commands: list[int]) -> dict[int, object]:
    results: dict[int, object] = {}
    gate = threading.Barrier(len(commands))

    def run(command: int) -> None:
        gate.wait()
        try:
            results[command] = committer.submit("tenant", command)
        except Exception as exc:
            results[command] = exc

    threads = [threading.Thread(target=run, args=(c,)) for c in commands]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_a_lone_command_commits_alone_and_at_once() -> None:
    recorder = Recorder(delay=0)
    committer = GroupCommitter(recorder, linger_seconds=1.0)
    started = time.monotonic()
    assert committer.submit("t", 4) == 40
    assert time.monotonic() - started < 0.5  # no linger without earlier load
    assert recorder.batches == [[4]]
    assert recorder.after_release_calls == 1


def test_concurrent_commands_share_batches_and_keep_their_own_outcomes() -> None:
    recorder = Recorder()
    committer: GroupCommitter[int, int] = GroupCommitter(recorder)
    commands = list(range(20))
    results = submit_all(committer, commands)
    for command in commands:
        if command % 2:
            assert isinstance(results[command], BusinessRuleError)
        else:
            assert results[command] == command * 10
    assert sorted(c for batch in recorder.batches for c in batch) == commands
    assert len(recorder.batches) < len(commands)  # some were coalesced
    assert committer.commands_committed == 20


def test_batches_respect_count_and_weight_limits() -> None:
    recorder = Recorder()
    committer: GroupCommitter[int, int] = GroupCommitter(
        recorder, max_batch=4, max_weight=10, weight=lambda c: 3
    )
    submit_all(committer, list(range(16)))
    assert max(len(batch) for batch in recorder.batches) <= 3  # 3 * 3 <= 10 < 4 * 3


def test_one_batch_in_flight_per_key() -> None:
    active: list[int] = []
    peak = [0]
    lock = threading.Lock()

    def commit(key: str, commands: Sequence[int]) -> BatchOutcome[int]:
        with lock:
            active.append(1)
            peak[0] = max(peak[0], len(active))
        time.sleep(0.01)
        with lock:
            active.pop()
        return BatchOutcome(list(commands))

    committer: GroupCommitter[int, int] = GroupCommitter(commit)
    submit_all(committer, list(range(12)))
    assert peak[0] == 1


def test_a_failed_commit_fails_every_command_of_its_batch() -> None:
    def commit(key: str, commands: Sequence[int]) -> BatchOutcome[int]:
        raise Aborted("contention")

    committer: GroupCommitter[int, int] = GroupCommitter(commit)
    results = submit_all(committer, list(range(5)))
    assert all(isinstance(result, Aborted) for result in results.values())
    # Nothing is left in flight: the next submission leads its own batch (and fails alike).
    with pytest.raises(Aborted):
        committer.submit("t", 1)


def test_a_wrong_number_of_outcomes_is_an_error_for_everyone() -> None:
    committer: GroupCommitter[int, int] = GroupCommitter(lambda k, c: BatchOutcome([]))
    with pytest.raises(RuntimeError):
        committer.submit("t", 1)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        GroupCommitter(Recorder(), max_batch=0)


# -- retry ------------------------------------------------------------------------------
# The ledger commits through ``shared.events.transact`` with ``LedgerSettings.retry``
# passed as ``retry=``, and retries its reads outside a transaction with ``read_retried``.


@pytest.fixture
def memory_db(monkeypatch: pytest.MonkeyPatch) -> MemoryFirestore:
    monkeypatch.setattr(firestore, "transactional", firestore_memory.transactional)
    return MemoryFirestore()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff waits, recorded instead of slept."""
    taken: list[float] = []
    monkeypatch.setattr(resilience.SystemClock, "sleep", lambda _self, s: taken.append(s))
    return taken


def test_contention_errors_are_recognised() -> None:
    assert is_firestore_contention(Aborted("lock timeout"))
    assert is_firestore_contention(DeadlineExceeded("slow"))
    wrapped = ValueError("Failed to commit transaction in 5 attempts.")
    wrapped.__cause__ = Aborted("x")
    assert is_firestore_contention(wrapped)
    assert not is_firestore_contention(ValueError("Failed to commit transaction in 5 attempts."))
    assert not is_firestore_contention(NotFound("missing"))
    assert not is_firestore_contention(BusinessRuleError("no"))


def test_retry_backs_off_with_jitter_then_succeeds(
    memory_db: MemoryFirestore, sleeps: list[float]
) -> None:
    memory_db.fail_commits = [Aborted("busy")] * 3
    calls: list[int] = []

    def decide(transaction: object) -> str:
        calls.append(1)
        return "done"

    policy = RetryPolicy(max_attempts=5, base_delay_seconds=0.1, max_delay_seconds=0.3)
    result = transact(memory_db, decide, name="ledger", retry=policy)  # type: ignore[arg-type]
    assert result == "done"
    assert len(calls) == memory_db.commits == 4
    assert len(sleeps) == 3
    assert all(0 <= s <= min(0.3, 0.1 * 2**i) for i, s in enumerate(sleeps))


def test_retry_gives_up_with_a_503(memory_db: MemoryFirestore, sleeps: list[float]) -> None:
    memory_db.fail_commits = [Aborted("busy")] * 3

    with pytest.raises(ServiceUnavailableError) as excinfo:
        transact(
            memory_db,  # type: ignore[arg-type]
            lambda transaction: None,
            name="ledger",
            retry=RetryPolicy(max_attempts=3),
        )
    assert excinfo.value.code == "contention"
    assert excinfo.value.headers == {"Retry-After": "1"}

    def always() -> None:
        raise Aborted("busy")

    with pytest.raises(ServiceUnavailableError) as read_excinfo:
        read_retried(always, name="ledger.read", retry=RetryPolicy(max_attempts=3))
    assert read_excinfo.value.code == "contention"
    assert read_excinfo.value.headers == {"Retry-After": "1"}


def test_retry_does_not_retry_rule_errors(memory_db: MemoryFirestore, sleeps: list[float]) -> None:
    calls: list[int] = []

    def refused(*_args: object) -> None:
        calls.append(1)
        raise BusinessRuleError("no", code="no")

    with pytest.raises(BusinessRuleError):
        transact(memory_db, refused, name="ledger")  # type: ignore[arg-type]
    with pytest.raises(BusinessRuleError):
        read_retried(refused, name="ledger.read")
    assert calls == [1, 1]
    assert sleeps == []


# -- storage codecs and ids -------------------------------------------------------------


def test_lines_round_trip_through_their_stored_form() -> None:
    line = Line("acc_01H", Side.CREDIT, 123456, "KWD")
    assert encode_line(line) == "credit|123456|KWD|acc_01H"
    assert decode_line(encode_line(line)) == line


def test_entries_round_trip_and_store_no_nulls() -> None:
    now = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    entry = Entry(
        id="ent_1",
        kind=EntryKind.PENDING,
        status=EntryStatus.PENDING,
        effective_date=date(2025, 1, 2),
        description="",
        metadata={},
        lines=(Line("a", Side.DEBIT, 5, "EUR"), Line("b", Side.CREDIT, 5, "EUR")),
        created_at=now,
        created_by={"user_id": "u", "role": "admin"},
        expires_at=now,
    )
    document = entry_to_document(entry, fingerprint="f")
    assert None not in document.values()
    assert document["account_ids"] == ["a", "b"]
    assert document["pending_expires_at"] == now
    decoded = entry_from_document("ent_1", document)
    assert decoded.lines == entry.lines
    assert decoded.expires_at == now
    assert decoded.reversed_by_entry_id is None


def test_accounts_round_trip() -> None:
    original = account("acc_1", shards=8)
    assert account_from_document("acc_1", account_to_document(original)) == original.with_changes(
        max_balance_shards=8
    )


def test_ids_are_unique_and_sort_by_creation_time() -> None:
    first = [new_id("ent") for _ in range(500)]
    time.sleep(0.002)
    later = new_id("ent")
    assert len(set(first)) == 500
    assert all(identifier < later for identifier in first)
    assert len(later) == len("ent_") + 26
    assert later.startswith("ent_")


def test_the_account_cache_trusts_only_its_version() -> None:
    cache = AccountCache(max_tenants=2)
    cache.store("t1", 3, [account("a")])
    assert set(cache.lookup("t1", 3, ["a", "b"])) == {"a"}
    assert cache.lookup("t1", 4, ["a"]) == {}
    cache.store("t1", 2, [account("b")])  # older than what is cached: ignored
    assert set(cache.lookup("t1", 3, ["a", "b"])) == {"a"}
    cache.store("t1", 5, [account("b")])  # newer: replaces the old version's accounts
    assert set(cache.lookup("t1", 5, ["a", "b"])) == {"b"}
    cache.store("t2", 1, [account("c")])
    cache.store("t3", 1, [account("d")])  # evicts the least recently used tenant
    assert cache.lookup("t1", 5, ["b"]) == {}
