"""Signup throttling: per client address and for the whole application, across instances."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from shared.ratelimit.base import RateLimit, RateLimiter
from shared.ratelimit.firestore import FirestoreFixedWindowLimiter

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.http import RequestContext

# Per client address: a few tenants from one office an hour, not a script's thousands.
SIGNUP_ADDRESS_RATE = RateLimit(limit=10, window_seconds=3600)
# Everyone together: one signup a second on average, far above real demand, and the
# most one counter document takes on (Firestore sustains about one write a second on
# a document), so a distributed flood is capped whatever addresses it comes from.
SIGNUP_GLOBAL_RATE = RateLimit(limit=300, window_seconds=300)
SIGNUP_THROTTLED_DETAIL = "too many signups; try again later"
# The one key of the application-wide limiter, and the bucket of callers with no address.
GLOBAL_KEY = "all"
UNKNOWN_ADDRESS = "unknown"


class SignupThrottle:
    """Count every signup attempt before anything is checked or written.

    The address is counted first and a refused address does not count against the
    global budget, so one source cannot exhaust everyone's signups beyond its own
    budget. Both refusals say the same thing. Counting happens before the request body
    is read (a ``before`` hook), so refused requests never reach the idempotency store.
    """

    def __init__(self, per_address: RateLimiter, overall: RateLimiter) -> None:
        self._per_address = per_address
        self._overall = overall

    @classmethod
    def firestore(
        cls,
        client: firestore.Client,
        *,
        address_rate: RateLimit = SIGNUP_ADDRESS_RATE,
        global_rate: RateLimit = SIGNUP_GLOBAL_RATE,
    ) -> SignupThrottle:
        return cls(
            FirestoreFixedWindowLimiter(client, "signup-address", address_rate),
            FirestoreFixedWindowLimiter(client, "signup-global", global_rate),
        )

    def attempt(self, *, address: str | None) -> None:
        """Count one signup; ``RateLimitedError`` (429, ``Retry-After``) when over a limit."""
        self._per_address.hit(address or UNKNOWN_ADDRESS, detail=SIGNUP_THROTTLED_DETAIL)
        self._overall.hit(GLOBAL_KEY, detail=SIGNUP_THROTTLED_DETAIL)


def count_signup(throttle: Callable[[], SignupThrottle]) -> Callable[[RequestContext], None]:
    """A router ``before`` hook counting each request in ``throttle()`` by client address."""

    def before(ctx: RequestContext) -> None:
        throttle().attempt(address=ctx.client_ip)

    return before
