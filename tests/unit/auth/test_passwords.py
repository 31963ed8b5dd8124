"""argon2id hashing: parameters, verify/rehash, unknown users cost a real verification."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher as Argon2
from argon2 import Type, extract_parameters

from shared.auth import PasswordCheck, PasswordHasher
from shared.auth.passwords import (
    MEMORY_COST_KIB,
    OWASP_MIN_MEMORY_KIB,
    OWASP_MIN_TIME_COST,
    PARALLELISM,
    TIME_COST,
)

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher()


@pytest.fixture(scope="module")
def stored(hasher: PasswordHasher) -> str:
    return hasher.hash(PASSWORD)


def test_parameters_meet_owasp_and_the_memory_budget() -> None:
    assert MEMORY_COST_KIB >= OWASP_MIN_MEMORY_KIB
    assert TIME_COST >= OWASP_MIN_TIME_COST
    assert PARALLELISM == 1
    # 4 concurrent hashes must leave most of a 512 MiB instance to the runtime.
    assert 4 * MEMORY_COST_KIB / 1024 <= 512 * 0.4


def test_hash_is_argon2id_with_the_chosen_parameters(stored: str) -> None:
    assert stored.startswith("$argon2id$v=19$")
    parameters = extract_parameters(stored)
    assert parameters.type is Type.ID
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
        MEMORY_COST_KIB,
        TIME_COST,
        PARALLELISM,
    )
    assert parameters.salt_len == 16 and parameters.hash_len == 32


def test_salts_differ(hasher: PasswordHasher, stored: str) -> None:
    assert hasher.hash(PASSWORD) != stored


def test_correct_password_matches(hasher: PasswordHasher, stored: str) -> None:
    assert hasher.verify(stored, PASSWORD) == PasswordCheck(matched=True, needs_rehash=False)


def test_wrong_password_does_not_match(hasher: PasswordHasher, stored: str) -> None:
    assert hasher.verify(stored, PASSWORD + "!") == PasswordCheck(matched=False)
    assert hasher.verify(stored, PASSWORD.upper()) == PasswordCheck(matched=False)


def test_old_parameters_match_and_ask_for_a_rehash(hasher: PasswordHasher) -> None:
    weaker = Argon2(time_cost=2, memory_cost=19_456, parallelism=1, type=Type.ID).hash(PASSWORD)
    assert hasher.verify(weaker, PASSWORD) == PasswordCheck(matched=True, needs_rehash=True)
    assert hasher.verify(weaker, "nope") == PasswordCheck(matched=False, needs_rehash=False)


def test_password_is_verified_in_nfkc_form(hasher: PasswordHasher) -> None:
    stored = hasher.hash("\ufb01" * 12)  # "ﬁ" ligatures
    assert hasher.verify(stored, "fi" * 12).matched


def test_unknown_user_is_a_miss(hasher: PasswordHasher) -> None:
    assert hasher.verify(None, PASSWORD) == PasswordCheck(matched=False)


def test_corrupt_stored_hash_is_a_miss(hasher: PasswordHasher) -> None:
    assert hasher.verify("$argon2id$garbage", PASSWORD) == PasswordCheck(matched=False)
    assert hasher.verify("plaintext-from-a-bad-import", PASSWORD) == PasswordCheck(matched=False)


def test_overlong_password_is_refused_for_hashing_and_never_matches(
    hasher: PasswordHasher, stored: str
) -> None:
    with pytest.raises(ValueError, match="at most 128"):
        hasher.hash("x" * 129)
    assert hasher.verify(stored, "x" * 10_000) == PasswordCheck(matched=False)


def _median_seconds(action: Callable[[], Any], runs: int = 7) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def test_unknown_user_costs_the_same_as_a_wrong_password(
    hasher: PasswordHasher, stored: str
) -> None:
    wrong = _median_seconds(lambda: hasher.verify(stored, "wrong password!"))
    unknown = _median_seconds(lambda: hasher.verify(None, "wrong password!"))
    corrupt = _median_seconds(lambda: hasher.verify("$argon2id$broken", "wrong password!"))
    # Both do one full argon2id verification with the same parameters; a missing dummy
    # verification would make them faster by orders of magnitude.
    assert 0.5 < unknown / wrong < 2.0
    assert 0.5 < corrupt / wrong < 2.0


class _ConcurrencyProbe:
    """Stands in for the argon2 hasher and records how many calls overlap."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def hash(self, password: str) -> str:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(0.05)
            return str(self._real.hash(password))
        finally:
            with self._lock:
                self.active -= 1


def test_concurrent_hashes_are_capped() -> None:
    capped = PasswordHasher(memory_cost_kib=8192, time_cost=1, max_concurrent=2)
    probe = _ConcurrencyProbe(capped._hasher)
    capped._hasher = probe  # type: ignore[assignment]
    threads = [threading.Thread(target=capped.hash, args=(PASSWORD,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert probe.peak == 2
