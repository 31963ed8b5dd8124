"""Response headers for a JSON API: security headers and CORS from an allow-list."""

from __future__ import annotations

from collections.abc import Iterable

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    # A JSON API never needs to be framed, run scripts or load anything.
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
    # Responses carry tenant data: never cache them in shared caches.
    ("Cache-Control", "no-store"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)

CORS_ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Correlation-ID, traceparent"
CORS_EXPOSED_HEADERS = "X-Correlation-ID, Idempotent-Replayed, Retry-After, Location"


def cors_headers(origin: str | None, allowed_origins: Iterable[str]) -> list[tuple[str, str]]:
    """Headers for a simple (non-preflight) request from ``origin``, if it is allowed."""
    if not origin or origin not in allowed_origins:
        return []
    return [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Expose-Headers", CORS_EXPOSED_HEADERS),
        ("Vary", "Origin"),
    ]


def preflight_headers(
    origin: str, methods: Iterable[str], max_age_seconds: int
) -> list[tuple[str, str]]:
    return [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Methods", ", ".join(sorted(set(methods)))),
        ("Access-Control-Allow-Headers", CORS_ALLOWED_HEADERS),
        ("Access-Control-Max-Age", str(max_age_seconds)),
        ("Vary", "Origin"),
    ]
