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
import time
from collections.abc import Mapping
from contextvars import ContextVar, copy_context
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

# Key names already judged. A dict whose keys are all known harmless passes in one set
# operation (C-level) instead of one call per key: an event's keys repeat from line to
# line, so after the first line only the dicts that hold a sensitive key are rebuilt. Each
# set only ever holds keys ``is_sensitive_key`` judged so; bounded, because keys can come
# from data (a dict keyed by ids).
_HARMLESS_KEYS: set[str] = set()
_SENSITIVE_KEYS: set[str] = set()
_KNOWN_KEYS_LIMIT = 4096


def _judge_key(key: Any) -> bool:
    """Whether ``key`` is sensitive, remembered for the next line."""
    if not isinstance(key, str):
        return False
    sensitive = is_sensitive_key(key)
    known = _SENSITIVE_KEYS if sensitive else _HARMLESS_KEYS
    if len(known) >= _KNOWN_KEYS_LIMIT:
        known.clear()
    known.add(key)
    return sensitive


def redact(value: Any, depth: int = 0) -> Any:
    """``value`` with sensitive keys' values replaced, at any depth.

    ``value`` itself is never modified: a container that holds something to replace comes
    back as a copy (a mapping as a dict, a sequence as a list). One that holds nothing to
    replace comes back as it is, except a dict with keys not seen before, which is copied
    while they are judged.
    """
    kind = type(value)
    if kind is not dict and kind is not list and kind is not tuple:
        if kind in _LEAF_TYPES:
            return value
        if isinstance(value, Mapping):
            # Not a dict: the JSON renderer could not take it as it is.
            value = dict(value.items())
        elif isinstance(value, list | tuple):
            value = list(value)
        else:
            return value
        kind = type(value)
    if depth > _MAX_DEPTH:
        # Too deep to inspect cheaply: never let an unchecked container reach the logs.
        return REDACTED
    copy: Any = None
    if kind is dict:
        if not _HARMLESS_KEYS.issuperset(value):
            return {
                k: (
                    REDACTED
                    if k in _SENSITIVE_KEYS or (k not in _HARMLESS_KEYS and _judge_key(k))
                    else (v if type(v) in _LEAF_TYPES else redact(v, depth + 1))
                )
                for k, v in value.items()
            }
        for k, v in value.items():
            if type(v) not in _LEAF_TYPES:
                redacted = redact(v, depth + 1)
                if redacted is not v:
                    if copy is None:
                        copy = value.copy()
                    copy[k] = redacted
        return value if copy is None else copy
    for index, item in enumerate(value):
        if type(item) not in _LEAF_TYPES:
            redacted = redact(item, depth + 1)
            if redacted is not item:
                if copy is None:
                    copy = list(value)
                copy[index] = redacted
    return value if copy is None else copy


def _redact_event(event_dict: EventDict) -> None:
    """Redact a line's fields in place (the dict is the line's own; what it holds is not)."""
    if _HARMLESS_KEYS.issuperset(event_dict):
        for key, value in event_dict.items():
            if type(value) not in _LEAF_TYPES:
                event_dict[key] = redact(value)
        return
    for key, value in event_dict.items():
        if key in _SENSITIVE_KEYS or (key not in _HARMLESS_KEYS and _judge_key(key)):
            event_dict[key] = REDACTED
        elif type(value) not in _LEAF_TYPES:
            event_dict[key] = redact(value)


def _redact_processor(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    _redact_event(event_dict)
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


# The second last formatted, and its text: (seconds since the epoch, "YYYY-MM-DDTHH:MM:SS").
_stamped_second: tuple[int, str] = (-1, "")


def _utc_now_iso() -> str:
    """Now in UTC as structlog's ``TimeStamper(fmt="iso", utc=True)`` writes it
    (``2026-12-03T23:40:18.123456Z``; no fraction on a whole second), from a date and time
    formatted once a second: ``datetime.isoformat`` on every line cost a microsecond."""
    global _stamped_second
    second, nanos = divmod(time.time_ns(), 1_000_000_000)
    stamped, prefix = _stamped_second
    if second != stamped:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _stamped_second = (second, prefix)
    micros = nanos // 1000
    return f"{prefix}.{micros:06d}Z" if micros else f"{prefix}Z"


# Characters JSON lets a string hold raw that many line readers (Python's splitlines,
# editors, some log shippers) take for line breaks; a request path or a field a client
# sent can carry them. Escaped, every event stays one line for every reader.
_LINE_BREAKS_IN_STRINGS = (
    ("\u0085".encode(), b"\\u0085"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)
_CONTEXT_PREFIX = structlog.contextvars.STRUCTLOG_KEY_PREFIX
# Each context variable's field name ("" for variables that are not structlog's).
_CONTEXT_FIELDS: dict[ContextVar[Any], str] = {}


def _context_field(variable: ContextVar[Any]) -> str:
    name = variable.name
    field = name[len(_CONTEXT_PREFIX) :] if name.startswith(_CONTEXT_PREFIX) else ""
    if len(_CONTEXT_FIELDS) >= _KNOWN_KEYS_LIMIT:
        _CONTEXT_FIELDS.clear()
    _CONTEXT_FIELDS[variable] = field
    return field


class _CloudLoggingLine:
    """The whole JSON chain in one processor: one Cloud Logging line, as bytes.

    Does what ``merge_contextvars``, ``add_log_level``, ``TimeStamper(fmt="iso",
    utc=True)``, redaction, ``format_exc_info``, the renaming to Cloud Logging's fields
    and ``JSONRenderer`` did as separate processors, in the same order and with the same
    result, without a call and a dict lookup per step: a log line's own cost is mostly
    such overhead.
    """

    def __init__(self, project_id: str, function_name: str) -> None:
        self._trace_prefix = f"projects/{project_id}/traces/"
        self._function_name = function_name
        self._labels = {"function": function_name}

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> bytes:
        # structlog's merge_contextvars, with each variable's field name looked up once.
        for variable, value in copy_context().items():
            if value is not Ellipsis:
                field = _CONTEXT_FIELDS.get(variable)
                if field is None:
                    field = _context_field(variable)
                if field and field not in event_dict:
                    event_dict[field] = value
        # Set by the chain, never taken from the call: a caller's own would be replaced.
        if "level" in event_dict:
            del event_dict["level"]
        if "timestamp" in event_dict:
            del event_dict["timestamp"]
        _redact_event(event_dict)
        if "exc_info" in event_dict:
            structlog.processors.format_exc_info(logger, method, event_dict)
        event_dict["severity"] = _SEVERITY.get(method, "DEFAULT")
        event_dict["message"] = event_dict.pop("event", "")
        event_dict["time"] = _utc_now_iso()
        trace = event_dict.pop("trace_id", None)
        if trace:
            event_dict["logging.googleapis.com/trace"] = f"{self._trace_prefix}{trace}"
        span = event_dict.pop("span_id", None)
        if span:
            event_dict["logging.googleapis.com/spanId"] = span
        execution_id = event_dict.pop("execution_id", None)
        event_dict["logging.googleapis.com/labels"] = (
            {"function": self._function_name, "execution_id": execution_id}
            if execution_id
            else self._labels
        )
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


def _with_direct_rendering(base: type[Any]) -> type[Any]:
    """``base`` (structlog's level-filtering logger) with its call path shortened for a
    chain whose last processor returns the line: the event dict is built with one copy
    (structlog's own re-packs the fields twice) and the line goes straight to the writer
    (structlog's packs it into an argument tuple and a dict first). What a line holds is
    unchanged: the bound context, then the call's fields, then the event, through the
    same processors."""

    class DirectRenderingBoundLogger(base):  # type: ignore[misc]
        def _proxy_to_logger(self, method_name: str, event: Any = None, **event_kw: Any) -> Any:
            event_dict = self._context.copy()
            event_dict.update(event_kw)
            if event is not None:
                event_dict["event"] = event
            try:
                for processor in self._processors:
                    event_dict = processor(self._logger, method_name, event_dict)
            except structlog.DropEvent:
                return None
            return getattr(self._logger, method_name)(event_dict)

    return DirectRenderingBoundLogger


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
        processors: list[Any]
        if fmt == "json":
            processors = [_CloudLoggingLine(project_id, function_name)]
        else:
            processors = [
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                _redact_processor,
                structlog.processors.format_exc_info,
                structlog.dev.ConsoleRenderer(colors=False),
            ]
        factory: Any
        if stream is None:
            factory = _StdoutLineLoggerFactory()
        elif fmt == "json":
            factory = structlog.BytesLoggerFactory(file=stream)
        else:
            factory = structlog.PrintLoggerFactory(file=stream)
        wrapper_class = structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level])
        if fmt == "json":
            wrapper_class = _with_direct_rendering(wrapper_class)
        structlog.configure(
            processors=processors,
            wrapper_class=wrapper_class,
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
