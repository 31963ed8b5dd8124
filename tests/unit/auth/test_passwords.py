"""argon2id hashing: parameters, verify/rehash, unknown users cost a real verification."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from argon2 import PasswordHasher as Argon2
from argon2 import Type, extract_parameters
from argon2.exceptions import VerifyMismatchError

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


class _VerifyRecorder:
    """Stands in for the argon2 hasher and records each verification it completes."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.verified: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def verify(self, hash: str, password: str) -> bool:
        try:
            return bool(self._real.verify(hash, password))
        except VerifyMismatchError:
            self.verified.append(hash)  # a full verification that found no match
            raise


@pytest.mark.parametrize(
    "stored_hash",
    [None, "$argon2id$broken", "plaintext-from-a-bad-import"],
    ids=["unknown user", "corrupt hash", "not a hash"],
)
def test_a_miss_without_a_usable_hash_costs_one_full_verification(
    stored: str, stored_hash: str | None
) -> None:
    # The cost of a miss is the work done, not a timing: without the dummy verification
    # it would answer in microseconds instead of one argon2id run with the same parameters.
    hasher = PasswordHasher()
    recorder = _VerifyRecorder(hasher._hasher)
    hasher._hasher = recorder  # type: ignore[assignment]
    assert hasher.verify(stored_hash, "wrong password!") == PasswordCheck(matched=False)
    assert hasher.verify(stored, "wrong password!") == PasswordCheck(matched=False)
    dummy, real = recorder.verified
    assert dummy != stored
    assert extract_parameters(dummy) == extract_parameters(real)


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
