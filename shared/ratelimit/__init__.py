"""Rate limiting: per-instance token buckets and Firestore fixed windows (see README.md)."""

from shared.ratelimit.base import RateLimit, RateLimitDecision, RateLimiter, key_digest
from shared.ratelimit.firestore import RATE_LIMITS_COLLECTION, FirestoreFixedWindowLimiter
from shared.ratelimit.http import limit_route
from shared.ratelimit.login import (
    LOGIN_ACCOUNT_RATE,
    LOGIN_ADDRESS_RATE,
    LOGIN_THROTTLED_DETAIL,
    LoginThrottle,
)
from shared.ratelimit.memory import TokenBucketLimiter

__all__ = [
    "LOGIN_ACCOUNT_RATE",
    "LOGIN_ADDRESS_RATE",
    "LOGIN_THROTTLED_DETAIL",
    "RATE_LIMITS_COLLECTION",
    "FirestoreFixedWindowLimiter",
    "LoginThrottle",
    "RateLimit",
    "RateLimitDecision",
    "RateLimiter",
    "TokenBucketLimiter",
    "key_digest",
    "limit_route",
]
