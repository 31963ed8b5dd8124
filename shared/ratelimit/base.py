"""The limiter interface shared by every backend."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from shared.errors import RateLimitedError


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``limit`` units per ``window_seconds``."""

    limit: int
    window_seconds: int

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("limit must be at least 1")
        if self.window_seconds < 1:
            raise ValueError("window_seconds must be at least 1")


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    allowed: bool
    limit: int
    remaining: int
    # Seconds until a request of the same cost would be allowed; 0 when allowed now.
    retry_after_seconds: int

    def raise_if_denied(self, detail: str | None = None) -> None:
        if not self.allowed:
            raise RateLimitedError(self.retry_after_seconds, detail)

    def headers(self) -> dict[str, str]:
        """``RateLimit-Limit`` / ``RateLimit-Remaining`` for a response, when useful."""
        return {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining)}


class RateLimiter(Protocol):
    """One limit applied per key; implementations are thread-safe."""

    @property
    def rate(self) -> RateLimit: ...

    def hit(self, key: str, *, cost: int = 1, detail: str | None = None) -> RateLimitDecision:
        """Count ``cost`` units for ``key``; raise ``RateLimitedError`` if over the limit."""
        ...

    def peek(self, key: str) -> RateLimitDecision:
        """The state of ``key`` without counting anything."""
        ...

    def reset(self, key: str) -> None:
        """Forget what ``key`` has used."""
        ...


def key_digest(key: str) -> str:
    """Keys may hold emails or addresses: stored state keeps only this digest."""
    if not key:
        raise ValueError("a rate-limit key must not be empty")
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
