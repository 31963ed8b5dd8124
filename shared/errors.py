"""One error format for every function: RFC 9457 problem details.

Every failure a client can see is an :class:`AppError` subclass with a stable
machine-readable ``code``, an HTTP ``status`` and a ``severity`` (for logs and
alerting). Domain modules raise these directly (they carry no I/O); the HTTP
layer renders them with :func:`problem_document`; an unexpected exception
becomes :class:`InternalError` and never leaks its internals.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
_TYPE_BASE = "https://tributum.dev/problems/"


class Severity(StrEnum):
    """How loud a failure is in the logs: client faults are INFO/WARNING, ours ERROR+."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def log_level(self) -> str:
        return {"low": "info", "medium": "warning", "high": "error", "critical": "critical"}[
            self.value
        ]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input: ``field`` is a dotted path (``lines.1.amount``)."""

    field: str
    message: str
    code: str = "invalid"

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}


class AppError(Exception):
    """Base of every error with a client-facing meaning."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"
    severity: Severity = Severity.HIGH

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        self.errors = tuple(errors)
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        super().__init__(self.detail)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


class ValidationError(AppError):
    status, code, title, severity = 422, "validation_error", "Invalid request", Severity.LOW

    @classmethod
    def for_field(cls, field: str, message: str, code: str = "invalid") -> ValidationError:
        return cls(f"{field}: {message}", errors=[FieldError(field, message, code)])


class BadRequestError(AppError):
    status, code, title, severity = 400, "bad_request", "Bad request", Severity.LOW


class UnauthorizedError(AppError):
    status, code, title, severity = 401, "unauthorized", "Unauthorized", Severity.MEDIUM

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="tributum"'})
        super().__init__(detail, **kwargs)


class ForbiddenError(AppError):
    status, code, title, severity = 403, "forbidden", "Forbidden", Severity.MEDIUM


class NotFoundError(AppError):
    status, code, title, severity = 404, "not_found", "Not found", Severity.LOW


class MethodNotAllowedError(AppError):
    status, code, title, severity = 405, "method_not_allowed", "Method not allowed", Severity.LOW

    def __init__(self, allowed: Sequence[str]) -> None:
        allow = ", ".join(sorted(set(allowed)))
        super().__init__(f"allowed methods: {allow}", headers={"Allow": allow})


class ConflictError(AppError):
    status, code, title, severity = 409, "conflict", "Conflict", Severity.LOW


class PreconditionFailedError(AppError):
    """An ``If-Match`` that no longer matches: the resource changed since it was read."""

    status, code, title, severity = 412, "precondition_failed", "Precondition failed", Severity.LOW


class BadPreconditionError(AppError):
    """An ``If-Match`` header that is not an entity tag this API issued."""

    status, code, title, severity = 400, "bad_precondition", "Bad precondition", Severity.LOW


class BusinessRuleError(AppError):
    """A well-formed request that the rules refuse (unbalanced entry, closed account...)."""

    status, code, title, severity = 422, "business_rule_violation", "Rule violated", Severity.LOW


class PayloadTooLargeError(AppError):
    status, code, title, severity = 413, "payload_too_large", "Payload too large", Severity.LOW


class UnsupportedMediaTypeError(AppError):
    status, code, title, severity = (
        415,
        "unsupported_media_type",
        "Unsupported media type",
        Severity.LOW,
    )


class RateLimitedError(AppError):
    status, code, title, severity = 429, "rate_limited", "Too many requests", Severity.MEDIUM

    def __init__(self, retry_after_seconds: int, detail: str | None = None) -> None:
        self.retry_after_seconds = max(1, int(retry_after_seconds))
        super().__init__(detail, headers={"Retry-After": str(self.retry_after_seconds)})


class ServiceUnavailableError(AppError):
    status, code, title, severity = (
        503,
        "service_unavailable",
        "Service unavailable",
        Severity.HIGH,
    )


class ContentionError(ServiceUnavailableError):
    """Concurrent changes to the same documents outlasted the retries: one code for every
    domain, and a hint to retry in a second."""

    code = "contention"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


class InternalError(AppError):
    status, code, title, severity = 500, "internal_error", "Internal error", Severity.CRITICAL


class ProtocolError(AppError):
    """A refusal by the HTTP server underneath, before any route ran (werkzeug's own
    404 for a path it cannot route, http.server's 400 for a malformed request line,
    414, 431, 505...): the status it chose, as a problem document like any other."""

    def __init__(self, status: int, detail: str | None = None) -> None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "HTTP error"
        self.status = status
        self.title = phrase
        self.code = re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")
        self.severity = Severity.LOW if status < 500 else Severity.HIGH
        super().__init__(detail)


def problem_document(
    error: AppError, *, correlation_id: str | None, instance: str | None = None
) -> dict[str, Any]:
    """Render ``error`` as an RFC 9457 problem document."""
    doc: dict[str, Any] = {
        "type": _TYPE_BASE + error.code,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
        "correlation_id": correlation_id,
    }
    if instance:
        doc["instance"] = instance
    if error.errors:
        doc["errors"] = [e.to_json() for e in error.errors]
    if error.extra:
        doc.update({k: v for k, v in error.extra.items() if k not in doc})
    return doc
