"""Login throttling: per client address and per account, held across instances."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.ratelimit.base import RateLimit, RateLimiter
from shared.ratelimit.firestore import FirestoreFixedWindowLimiter

if TYPE_CHECKING:
    from google.cloud import firestore

# Per account: enough for a user fumbling a password, far too few to guess one.
LOGIN_ACCOUNT_RATE = RateLimit(limit=10, window_seconds=900)
# Per client address: room for an office behind one NAT, not for credential stuffing.
LOGIN_ADDRESS_RATE = RateLimit(limit=50, window_seconds=900)
LOGIN_THROTTLED_DETAIL = "too many login attempts; try again later"
# Per user, for changing one's password: the current password is checked, so a stolen
# access token must not become a way to guess it.
PASSWORD_CHANGE_RATE = RateLimit(limit=5, window_seconds=900)


class LoginThrottle:
    """Count every login attempt before the password is checked.

    Counting before checking (rather than counting failures afterwards) is what makes
    the limit exact under concurrency: N parallel guesses are N atomic increments, so
    the (limit+1)-th is refused however they interleave. The address is counted first
    and a refused address does not count against the account, so one source cannot
    lock many accounts beyond its own budget. A successful login clears the account's
    counter (a user who finally gets it right starts afresh); the address counter is
    never cleared by a success, or one valid account would reset an attacker's budget.
    Both refusals say the same thing, so a client cannot tell which limit it hit.
    """

    def __init__(self, per_account: RateLimiter, per_address: RateLimiter) -> None:
        self._per_account = per_account
        self._per_address = per_address

    @classmethod
    def firestore(
        cls,
        client: firestore.Client,
        *,
        account_rate: RateLimit = LOGIN_ACCOUNT_RATE,
        address_rate: RateLimit = LOGIN_ADDRESS_RATE,
    ) -> LoginThrottle:
        return cls(
            FirestoreFixedWindowLimiter(client, "login-account", account_rate),
            FirestoreFixedWindowLimiter(client, "login-address", address_rate),
        )

    def attempt(self, *, account: str, address: str | None) -> None:
        """Count one attempt; ``RateLimitedError`` if the address or the account is exhausted.

        ``account`` is the canonical email (``shared.identity.normalize_email``) so that
        spellings of one address share a budget.
        """
        if address:
            self._per_address.hit(address, detail=LOGIN_THROTTLED_DETAIL)
        self._per_account.hit(account, detail=LOGIN_THROTTLED_DETAIL)

    def succeeded(self, *, account: str) -> None:
        self._per_account.reset(account)


def password_change_limiter(
    client: firestore.Client, rate: RateLimit = PASSWORD_CHANGE_RATE
) -> FirestoreFixedWindowLimiter:
    """The per-user limiter of password changes (key: the user id)."""
    return FirestoreFixedWindowLimiter(client, "password-change", rate)
