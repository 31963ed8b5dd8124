"""``/_dashboard``: the page, its script and style, and the small JSON API it reads.

The dashboard is local tooling, served only by the local gateway on its loopback
address and never deployed. Every answer of its API is JSON; every refusal a problem
document naming the parameter. Two guards keep other web pages out of it: the
``Host`` must be a loopback name (a page elsewhere cannot rebind its own name to the
gateway), and an action (POST) must carry :data:`ACTION_HEADER`, which a cross-site
page cannot send without a CORS permission the gateway never grants.
"""

from __future__ import annotations

import json
import re
import urllib.error
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote

from emulator.dashboard.sources import SEVERITIES
from shared import errors

DASHBOARD_PATH = "/_dashboard"
API_PREFIX = f"{DASHBOARD_PATH}/api/"
STATIC_PREFIX = f"{DASHBOARD_PATH}/static/"
ACTION_HEADER = "X-Tributum-Dashboard"
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
DEAD_LETTER_STATUSES = ("stored", "replayed", "discarded")
MAX_NOTE_LENGTH = 500
_LOOPBACK_HOSTS = re.compile(r"^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d{1,5})?$")
_DEAD_LETTER_ACTION = re.compile(r"^dead-letters/([^/]{1,200})/(replay|discard)$")
_SCHEDULE_RUN = re.compile(r"^schedules/([^/]{1,200})/run$")


class Sources(Protocol):
    """What the API reads and does (``DashboardSources``; tests give a fake)."""

    def functions(self) -> dict[str, Any]: ...
    def log_names(self) -> list[str]: ...
    def logs(
        self, name: str | None, lines: int, severity: str | None, correlation_id: str | None
    ) -> list[dict[str, Any]]: ...
    def topics(self) -> list[dict[str, Any]]: ...
    def dead_letters(self, status: str | None) -> list[dict[str, Any]]: ...
    def replay_dead_letter(self, dead_letter_id: str) -> dict[str, Any]: ...
    def discard_dead_letter(self, dead_letter_id: str, note: str | None) -> dict[str, Any]: ...
    def firestore(self, path: str) -> dict[str, Any]: ...
    def schedules(self) -> list[dict[str, Any]]: ...
    def run_schedule(self, topic: str) -> dict[str, Any]: ...
    def mail(self) -> dict[str, Any]: ...
    def webhook_deliveries(self) -> dict[str, Any]: ...
    def tenants(self) -> list[str]: ...
    def trial_balance(self, tenant_id: str) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content_type: str
    body: bytes


def is_dashboard_path(path: str) -> bool:
    return path == DASHBOARD_PATH or path.startswith(DASHBOARD_PATH + "/")


def allowed_methods(path: str) -> tuple[str, ...]:
    relative = path.removeprefix(API_PREFIX)
    if path.startswith(API_PREFIX) and (
        _DEAD_LETTER_ACTION.match(relative) or _SCHEDULE_RUN.match(relative)
    ):
        return ("POST",)
    return ("GET", "HEAD")


def _invalid(field: str, message: str) -> errors.ValidationError:
    return errors.ValidationError.for_field(field, message)


class _Query:
    """The query string, each parameter once; unknown ones are refused by name."""

    def __init__(self, raw: str, known: tuple[str, ...]) -> None:
        parsed = parse_qs(raw, keep_blank_values=True)
        for name, values in parsed.items():
            if name not in known:
                takes = ", ".join(known) or "none"
                raise _invalid(name, f"unknown parameter; this endpoint takes {takes}")
            if len(values) > 1:
                raise _invalid(name, "give this parameter once")
        self._values = {name: values[0] for name, values in parsed.items()}

    def text(self, name: str) -> str | None:
        value = self._values.get(name)
        return value if value else None

    def choice(self, name: str, allowed: tuple[str, ...]) -> str | None:
        value = self.text(name)
        if value is not None and value not in allowed:
            raise _invalid(name, f"one of {', '.join(allowed)}")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        if not value.isdigit() or not low <= int(value) <= high:
            raise _invalid(name, f"a whole number from {low} to {high}")
        return int(value)


def _note(body: bytes) -> str | None:
    """The optional ``note`` of a discard: ``{}``, ``{"note": "..."}`` or no body."""
    if not body.strip():
        return None
    try:
        document = json.loads(body)
    except ValueError:
        raise _invalid("body", "a JSON object") from None
    if not isinstance(document, dict):
        raise _invalid("body", "a JSON object")
    unknown = sorted(set(document) - {"note"})
    if unknown:
        raise _invalid(unknown[0], "unknown field; a discard takes only note")
    note = document.get("note")
    if note is None:
        return None
    if not isinstance(note, str) or len(note) > MAX_NOTE_LENGTH:
        raise _invalid("note", f"text of at most {MAX_NOTE_LENGTH} characters")
    return note or None


def _json(value: Any, status: int = 200) -> Answer:
    return Answer(status, "application/json", json.dumps(value, indent=1).encode())


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    """What a stopped emulator raises: sockets, urllib, and the Google client's errors."""
    found: list[type[BaseException]] = [OSError, urllib.error.URLError]
    try:
        from google.api_core import exceptions as google_errors

        found += [google_errors.ServiceUnavailable, google_errors.DeadlineExceeded]
    except ImportError:  # pragma: no cover - the dev environment has it
        pass
    return tuple(found)


class DashboardApi:
    """Answers one request under ``/_dashboard``; raises :class:`errors.AppError` to refuse."""

    def __init__(self, sources: Sources, project_id: str) -> None:
        self.sources = sources
        self.project_id = project_id

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        path, _, query = target.partition("?")
        path = unquote(path)
        if method not in allowed_methods(path):
            raise errors.MethodNotAllowedError(allowed_methods(path))
        if path in (DASHBOARD_PATH, DASHBOARD_PATH + "/"):
            return Answer(200, "text/html; charset=utf-8", self._index())
        if path.startswith(STATIC_PREFIX):
            name = path.removeprefix(STATIC_PREFIX)
            if name not in STATIC_FILES:
                raise errors.NotFoundError(f"no dashboard file {name}", code="route_not_found")
            return Answer(200, STATIC_FILES[name], (STATIC_DIR / name).read_bytes())
        if not path.startswith(API_PREFIX):
            raise errors.NotFoundError(f"no dashboard page {path}", code="route_not_found")
        host = headers.get("Host", "")
        if not _LOOPBACK_HOSTS.match(host):
            raise errors.ForbiddenError(
                "the dashboard answers only under a loopback host name",
                code="dashboard_host_refused",
                errors=[errors.FieldError("Host", "use 127.0.0.1 or localhost", "not_loopback")],
            )
        if method == "POST" and headers.get(ACTION_HEADER) != "1":
            raise errors.ForbiddenError(
                f"dashboard actions carry the {ACTION_HEADER}: 1 header",
                code="dashboard_header_missing",
                errors=[errors.FieldError(ACTION_HEADER, "send 1", "missing")],
            )
        try:
            return self._api(method, path.removeprefix(API_PREFIX), query, body)
        except _unavailable_errors() as exc:
            raise errors.ServiceUnavailableError(
                f"the stack did not answer ({type(exc).__name__}); is it up?",
                code="stack_unavailable",
            ) from None

    def _index(self) -> bytes:
        page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        return page.replace("{{project_id}}", self.project_id).encode()

    def _api(self, method: str, relative: str, raw_query: str, body: bytes) -> Answer:
        sources = self.sources
        if method == "POST":
            _Query(raw_query, ())
            if match := _DEAD_LETTER_ACTION.match(relative):
                dead_letter_id, action = match.groups()
                if action == "replay":
                    return _json(sources.replay_dead_letter(dead_letter_id))
                return _json(sources.discard_dead_letter(dead_letter_id, _note(body)))
            if match := _SCHEDULE_RUN.match(relative):
                return _json(sources.run_schedule(match.group(1)))
        reads: dict[str, tuple[tuple[str, ...], Callable[[_Query], Any]]] = {
            "overview": ((), lambda q: {"project_id": self.project_id}),
            "functions": ((), lambda q: sources.functions()),
            "log-names": ((), lambda q: sources.log_names()),
            "logs": (
                ("log", "lines", "severity", "correlation_id"),
                lambda q: sources.logs(
                    q.text("log"),
                    q.integer("lines", 200, 1, 500),
                    q.choice("severity", SEVERITIES),
                    q.text("correlation_id"),
                ),
            ),
            "topics": ((), lambda q: sources.topics()),
            "dead-letters": (
                ("status",),
                lambda q: sources.dead_letters(q.choice("status", DEAD_LETTER_STATUSES)),
            ),
            "firestore": (("path",), lambda q: sources.firestore(q.text("path") or "")),
            "schedules": ((), lambda q: sources.schedules()),
            "mail": ((), lambda q: sources.mail()),
            "webhooks": ((), lambda q: sources.webhook_deliveries()),
            "tenants": ((), lambda q: sources.tenants()),
            "trial-balance": (("tenant",), lambda q: sources.trial_balance(_tenant(q))),
        }
        if relative not in reads:
            raise errors.NotFoundError(f"no dashboard endpoint {relative}", code="route_not_found")
        known, read = reads[relative]
        return _json(read(_Query(raw_query, known)))


def _tenant(query: _Query) -> str:
    tenant = query.text("tenant")
    if tenant is None:
        raise _invalid("tenant", "required: the tenant whose trial balance to show")
    return tenant
