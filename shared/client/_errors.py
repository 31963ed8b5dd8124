"""Problem documents (RFC 9457) as typed exceptions, one class per status family."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

# A body that is not a problem document (a proxy's HTML page) is quoted this far.
_RAW_DETAIL_CHARS = 300


class TributumError(Exception):
    """Base of every error this client raises itself."""


@dataclass(frozen=True)
class FieldError:
    """One invalid input: ``field`` is its location, e.g. ``lines.1.amount`` or ``query.cursor``."""

    field: str
    message: str
    code: str


class ApiError(TributumError):
    """The API refused a request with a problem document.

    ``status``, ``code`` (stable, machine-readable), ``title``, ``detail``,
    ``correlation_id`` (quote it in a support request), ``errors`` (per field) and
    the whole ``problem`` as it came.
    """

    def __init__(self, status: int, problem: dict[str, Any], headers: httpx.Headers) -> None:
        self.status = status
        self.problem = problem
        self.headers = headers
        self.code: str = str(problem.get("code") or f"http_{status}")
        self.title: str = str(problem.get("title") or "")
        self.detail: str = str(problem.get("detail") or self.title)
        self.type: str | None = problem.get("type")
        self.correlation_id: str | None = problem.get("correlation_id") or headers.get(
            "X-Correlation-ID"
        )
        self.errors: list[FieldError] = [
            FieldError(str(e.get("field", "")), str(e.get("message", "")), str(e.get("code", "")))
            for e in problem.get("errors") or []
            if isinstance(e, dict)
        ]
        super().__init__(f"{status} {self.code}: {self.detail}")

    def field_codes(self) -> dict[str, str]:
        """Each invalid field's error code, by field."""
        return {error.field: error.code for error in self.errors}


class ValidationError(ApiError):
    """400, 413, 415 or 422: the request is malformed or a rule refused its input."""


class AuthenticationError(ApiError):
    """401: no credentials, or credentials that are invalid or expired."""


class PermissionDenied(ApiError):
    """403: the caller's role does not permit the operation."""


class NotFound(ApiError):
    """404: no such resource (also another tenant's)."""


class Conflict(ApiError):
    """409 or 412: a concurrent change, a state that forbids it, a reused key."""


class RateLimited(ApiError):
    """429: too many requests; ``retry_after`` seconds (when the API said) to wait."""

    def __init__(self, status: int, problem: dict[str, Any], headers: httpx.Headers) -> None:
        super().__init__(status, problem, headers)
        self.retry_after = retry_after_seconds(headers)


class ServerError(ApiError):
    """5xx: the API failed; ``retry_after`` seconds when it said when to come back."""

    def __init__(self, status: int, problem: dict[str, Any], headers: httpx.Headers) -> None:
        super().__init__(status, problem, headers)
        self.retry_after = retry_after_seconds(headers)


_BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    412: Conflict,
    413: ValidationError,
    415: ValidationError,
    422: ValidationError,
    429: RateLimited,
}


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """``Retry-After`` in seconds (the API sends delta-seconds), or None."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_class(status: int) -> type[ApiError]:
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, ApiError)


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the typed error of a 4xx or 5xx response; return on anything else."""
    if response.status_code < 400:
        return
    raise error_class(response.status_code)(
        response.status_code, _problem(response), response.headers
    )


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        document = json.loads(response.content)
    except ValueError:
        document = None
    if isinstance(document, dict):
        return document
    text = response.content.decode("utf-8", "replace")[:_RAW_DETAIL_CHARS]
    return {"status": response.status_code, "title": response.reason_phrase, "detail": text}
