"""Rate limiting: per-instance token buckets and Firestore fixed windows (see README.md)."""

from shared.ratelimit.base import RateLimit, RateLimitDecision, RateLimiter, key_digest
from shared.ratelimit.firestore import RATE_LIMITS_COLLECTION, FirestoreFixedWindowLimiter
from shared.ratelimit.http import limit_route
from shared.ratelimit.login import (
    LOGIN_ACCOUNT_RATE,
    LOGIN_ADDRESS_RATE,
    LOGIN_THROTTLED_DETAIL,
    PASSWORD_CHANGE_RATE,
    LoginThrottle,
    password_change_limiter,
)
from shared.ratelimit.memory import TokenBucketLimiter
from shared.ratelimit.signup import (
    SIGNUP_ADDRESS_RATE,
    SIGNUP_GLOBAL_RATE,
    SIGNUP_THROTTLED_DETAIL,
    SignupThrottle,
    count_signup,
)

__all__ = [
    "LOGIN_ACCOUNT_RATE",
    "LOGIN_ADDRESS_RATE",
    "LOGIN_THROTTLED_DETAIL",
    "PASSWORD_CHANGE_RATE",
    "RATE_LIMITS_COLLECTION",
    "SIGNUP_ADDRESS_RATE",
    "SIGNUP_GLOBAL_RATE",
    "SIGNUP_THROTTLED_DETAIL",
    "FirestoreFixedWindowLimiter",
    "LoginThrottle",
    "RateLimit",
    "RateLimitDecision",
    "RateLimiter",
    "SignupThrottle",
    "TokenBucketLimiter",
    "count_signup",
    "key_digest",
    "limit_route",
    "password_change_limiter",
]
