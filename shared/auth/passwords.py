"""Password hashing with argon2id, sized for the functions that log users in.

Parameters: ``m = 46 MiB (47104 KiB), t = 2, p = 1``. That is at or above both of
OWASP's argon2id minimums (m=19 MiB/t=2/p=1 and m=46 MiB/t=1/p=1). The memory is
sized for a function of 512 MiB serving a concurrency of 4:

    4 concurrent hashes x 46 MiB            = 184 MiB
    Python + functions-framework + Firestore
    client + PyJWT/cryptography (measured)  ≈  80-120 MiB
    total at peak                           ≈ 264-304 MiB of 512 MiB

which leaves over 200 MiB for request handling and garbage. argon2-cffi's default
(64 MiB, 4 lanes) would put 256 MiB in hashes alone. A semaphore caps concurrent
hashes per hasher at ``max_concurrent`` (4), so the arithmetic holds even if the
server runs more threads than the configured concurrency. One verification takes
about 80 ms on one core, so four at once stay well under a second.

``verify`` returns whether the password matched and whether the stored hash should
be replaced (its parameters differ from the current ones). An unknown user is
verified against a dummy hash with the current parameters, so "no such email" and
"wrong password" cost the same time and cannot be told apart.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from argon2 import PasswordHasher as _Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shared.identity.passwords import MAX_PASSWORD_LENGTH, normalize_password
from shared.logger import get_logger

MEMORY_COST_KIB = 47_104  # 46 MiB
TIME_COST = 2
PARALLELISM = 1
HASH_LENGTH = 32
SALT_LENGTH = 16
MAX_CONCURRENT_HASHES = 4

OWASP_MIN_MEMORY_KIB = 19_456
OWASP_MIN_TIME_COST = 2


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    matched: bool
    needs_rehash: bool = False


class PasswordHasher:
    """argon2id hashing; create one per instance (it owns the concurrency cap)."""

    def __init__(
        self,
        *,
        memory_cost_kib: int = MEMORY_COST_KIB,
        time_cost: int = TIME_COST,
        parallelism: int = PARALLELISM,
        max_concurrent: int = MAX_CONCURRENT_HASHES,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._hasher = _Argon2Hasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            hash_len=HASH_LENGTH,
            salt_len=SALT_LENGTH,
            type=Type.ID,
        )
        self._slots = threading.BoundedSemaphore(max_concurrent)
        # Made now, not on the first unknown user, so that request is not the slow one.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))

    @property
    def parameters(self) -> dict[str, int]:
        return {
            "memory_cost_kib": self._hasher.memory_cost,
            "time_cost": self._hasher.time_cost,
            "parallelism": self._hasher.parallelism,
        }

    def hash(self, password: str) -> str:
        """The encoded argon2id hash (``$argon2id$v=19$m=...``) of ``password``."""
        normalized = normalize_password(password)
        if len(normalized) > MAX_PASSWORD_LENGTH:
            raise ValueError(f"passwords are at most {MAX_PASSWORD_LENGTH} characters")
        with self._slots:
            return self._hasher.hash(normalized)

    def verify(self, stored_hash: str | None, password: str) -> PasswordCheck:
        """Check ``password`` against ``stored_hash``; ``None`` means the user is unknown."""
        normalized = normalize_password(password)
        if stored_hash is None or len(normalized) > MAX_PASSWORD_LENGTH:
            self._spend_dummy(normalized)
            return PasswordCheck(matched=False)
        try:
            with self._slots:
                self._hasher.verify(stored_hash, normalized)
        except VerifyMismatchError:
            return PasswordCheck(matched=False)
        except (InvalidHashError, VerificationError) as exc:
            # A corrupt stored hash must not open the door nor answer faster than a miss.
            get_logger("shared.auth").error(
                "stored_password_hash_unusable", error=type(exc).__name__
            )
            self._spend_dummy(normalized)
            return PasswordCheck(matched=False)
        return PasswordCheck(
            matched=True, needs_rehash=self._hasher.check_needs_rehash(stored_hash)
        )

    def _spend_dummy(self, normalized: str) -> None:
        """Do the work of a real verification whose answer is always "no"."""
        try:
            with self._slots:
                self._hasher.verify(self._dummy_hash, normalized[:MAX_PASSWORD_LENGTH])
        except VerificationError:
            return
