"""Structured logging: Cloud Logging JSON in the cloud, readable lines locally.

* One JSON object per line in Cloud Logging's shape: ``severity``, ``message``,
  ``time``, ``logging.googleapis.com/trace`` / ``spanId`` when a trace header came
  in, and ``logging.googleapis.com/labels`` with the function name.
* Request context (correlation id, trace, tenant...) lives in contextvars, so the
  threads functions-framework serves requests on never mix their fields.
* Sensitive keys are redacted at any depth before anything is written.
* Lines go to whatever ``sys.stdout`` is at the moment of writing, as text. Cloud
  Functions sets ``LOG_EXECUTION_ID=true``, and functions-framework then swaps
  ``sys.stdout`` for a text wrapper during each request (it re-reads each JSON line
  and adds the execution id): a stream captured at start, or its byte ``buffer``,
  would bypass or break that wrapper.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import threading
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson
import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars
from structlog.typing import EventDict, WrappedLogger

REDACTED = "[REDACTED]"
# The platform's id for the request being served, carried into the ``execution_id``
# label: Cloud Functions sends it, and functions-framework's middleware generates one
# when it is missing.
EXECUTION_ID_HEADER = "Function-Execution-Id"

# Key fragments that mark a value as sensitive wherever they appear in a key name.
_SENSITIVE_FRAGMENTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "authorization",
    "cookie",
    "apikey",
    "api_key",
    "private_key",
    "privatekey",
    "credential",
    "card_number",
    "cardnumber",
    "pan",
    "cvv",
    "cvc",
    "iban",
    "ssn",
    "social_security",
    "tax_id_full",
    "signature",
    "otp",
    "pin",
)
# Fragments above that are too short to match inside longer words.
_WHOLE_WORD_ONLY = frozenset({"pan", "otp", "pin", "ssn", "cvv", "cvc"})
_SPLIT = re.compile(r"[^a-z0-9]+")
_MAX_DEPTH = 8


@lru_cache(maxsize=4096)
def is_sensitive_key(key: str) -> bool:
    """Whether a key names a secret (``password``, ``X-Api-Key``, ``cardNumber``...)."""
    lowered = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower().replace("-", "_")
    words = set(_SPLIT.split(lowered))
    compact = lowered.replace("_", "")
    for fragment in _SENSITIVE_FRAGMENTS:
        if fragment in _WHOLE_WORD_ONLY:
            if fragment in words:
                return True
        elif fragment in lowered or fragment.replace("_", "") in compact:
            return True
    return False


# Values that cannot hold a secret under a key: returned as they are without inspection.
# Checked by exact type, because isinstance() against the Mapping ABC on every value was
# most of a log line's cost.
_LEAF_TYPES = frozenset({str, int, float, bool, type(None), bytes, Decimal, datetime, date, UUID})


def redact(value: Any, depth: int = 0) -> Any:
    """Copy of ``value`` with sensitive keys' values replaced, at any depth."""
    kind = type(value)
    if kind in _LEAF_TYPES:
        return value
    is_mapping = kind is dict or isinstance(value, Mapping)
    if not is_mapping and not isinstance(value, list | tuple):
        return value
    if depth > _MAX_DEPTH:
        # Too deep to inspect cheaply: never let an unchecked container reach the logs.
        return REDACTED
    if is_mapping:
        return {
            k: (
                REDACTED
                if isinstance(k, str) and is_sensitive_key(k)
                else (v if type(v) in _LEAF_TYPES else redact(v, depth + 1))
            )
            for k, v in value.items()
        }
    return [item if type(item) in _LEAF_TYPES else redact(item, depth + 1) for item in value]


def _redact_processor(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key, value in event_dict.items():
        if is_sensitive_key(key):
            event_dict[key] = REDACTED
        elif type(value) not in _LEAF_TYPES:
            event_dict[key] = redact(value)
    return event_dict


_SEVERITY = {
    "debug": "DEBUG",
    "info": "INFO",
    "warning": "WARNING",
    "warn": "WARNING",
    "error": "ERROR",
    "exception": "ERROR",
    "critical": "CRITICAL",
}


class _CloudLoggingShape:
    """Rename structlog's fields to the ones Cloud Logging reads from stdout JSON."""

    def __init__(self, project_id: str, function_name: str) -> None:
        self._project_id = project_id
        self._function_name = function_name
        self._labels = {"function": function_name}

    def __call__(self, _: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        event_dict["severity"] = _SEVERITY.get(event_dict.pop("level", method), "DEFAULT")
        event_dict["message"] = event_dict.pop("event", "")
        event_dict["time"] = event_dict.pop("timestamp", None)
        trace = event_dict.pop("trace_id", None)
        if trace:
            event_dict["logging.googleapis.com/trace"] = (
                f"projects/{self._project_id}/traces/{trace}"
            )
        span = event_dict.pop("span_id", None)
        if span:
            event_dict["logging.googleapis.com/spanId"] = span
        execution_id = event_dict.pop("execution_id", None)
        event_dict["logging.googleapis.com/labels"] = (
            {"function": self._function_name, "execution_id": execution_id}
            if execution_id
            else self._labels
        )
        return event_dict


# Characters JSON lets a string hold raw that many line readers (Python's splitlines,
# editors, some log shippers) take for line breaks; a request path or a field a client
# sent can carry them. Escaped, every event stays one line for every reader.
_LINE_BREAKS_IN_STRINGS = (
    ("\u0085".encode(), b"\\u0085"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def _orjson_dumps(event_dict: EventDict, **_: Any) -> bytes:
    line = orjson.dumps(event_dict, default=str)
    # Non-ASCII bytes occur only inside strings, where the escape means the same.
    if not line.isascii():
        for raw, escaped in _LINE_BREAKS_IN_STRINGS:
            line = line.replace(raw, escaped)
    return line


class StdoutLineLogger:
    """Writes each rendered line, as text, to the ``sys.stdout`` of the moment.

    Looked up on every write because functions-framework replaces ``sys.stdout``
    while it serves a request when ``LOG_EXECUTION_ID`` is on (the cloud's default);
    flushed on every line because a process's stdout is a pipe, not a terminal.
    """

    _lock = threading.Lock()

    def msg(self, message: bytes | str) -> None:
        line = message.decode() if isinstance(message, bytes) else message
        with self._lock:
            stream = sys.stdout
            # The line and its newline in two writes, as print() does: functions-framework's
            # wrapper treats each write as one log entry and skips a lone newline.
            stream.write(line)
            stream.write("\n")
            stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


class _StdoutLineLoggerFactory:
    def __call__(self, *_: Any) -> StdoutLineLogger:
        return _STDOUT_LOGGER


_STDOUT_LOGGER = StdoutLineLogger()


_configured = False
_configure_lock = threading.Lock()


def configure_logging(
    *,
    project_id: str,
    function_name: str,
    level: str = "INFO",
    fmt: str = "json",
    stream: Any = None,
) -> None:
    """Configure structlog once per process (later calls replace the configuration)."""
    global _configured
    with _configure_lock:
        shared: list[Any] = [
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_processor,
            structlog.processors.format_exc_info,
        ]
        if fmt == "json":
            processors = [
                *shared,
                _CloudLoggingShape(project_id, function_name),
                structlog.processors.JSONRenderer(serializer=_orjson_dumps),
            ]
        else:
            processors = [*shared, structlog.dev.ConsoleRenderer(colors=False)]
        factory: Any
        if stream is None:
            factory = _StdoutLineLoggerFactory()
        elif fmt == "json":
            factory = structlog.BytesLoggerFactory(file=stream)
        else:
            factory = structlog.PrintLoggerFactory(file=stream)
        structlog.configure(
            processors=processors,
            wrapper_class=structlog.make_filtering_bound_logger(
                logging.getLevelNamesMapping()[level]
            ),
            logger_factory=factory,
            cache_logger_on_first_use=True,
        )
        _configured = True


def _ensure_configured() -> None:
    if not _configured:
        from shared.config import get_settings

        settings = get_settings()
        configure_logging(
            project_id=settings.project_id,
            function_name=settings.function_name,
            level=settings.log_level,
            fmt=settings.effective_log_format,
        )


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger; configured from settings on first use."""
    _ensure_configured()
    logger = structlog.get_logger(name) if name else structlog.get_logger()
    return logger.bind(**initial) if initial else logger


def bind_request_context(**fields: Any) -> None:
    """Start a fresh per-request context (correlation id, trace, tenant, ...)."""
    clear_contextvars()
    bind_contextvars(**{k: v for k, v in fields.items() if v is not None})


def bind_context(**fields: Any) -> None:
    """Add fields to the current request's context."""
    bind_contextvars(**{k: v for k, v in fields.items() if v is not None})


def clear_request_context() -> None:
    clear_contextvars()


def current_correlation_id() -> str | None:
    value = get_contextvars().get("correlation_id")
    return str(value) if value else None


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current request's trace, to hand on to its events.

    The parent id is the request's span when it came with one; otherwise a new span id
    (the trace id is what Cloud Logging groups by).
    """
    context = get_contextvars()
    trace_id = context.get("trace_id")
    if not trace_id:
        return None
    span_id = context.get("span_id") or secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01"


_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/([0-9]+))?")


def parse_trace_headers(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(trace id, span id) from ``traceparent`` or ``X-Cloud-Trace-Context``."""
    traceparent = headers.get("traceparent")
    if traceparent:
        match = _TRACEPARENT.match(traceparent.strip().lower())
        if match and match.group(1) != "0" * 32:
            return match.group(1), match.group(2)
    cloud = headers.get("X-Cloud-Trace-Context")
    if cloud:
        match = _CLOUD_TRACE.match(cloud.strip())
        if match:
            span = match.group(2)
            return match.group(1).lower(), (f"{int(span):016x}" if span else None)
    return None, None
