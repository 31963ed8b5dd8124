"""``python -m emulator logs``: the stack's JSON log lines, filtered and made readable.

Functions, the gateway and the scheduler write Cloud Logging's JSON shape (one object
per line with ``severity``, ``message``, ``time``). On a terminal each line is shown as
``time SEVERITY [log] message key=value ...`` with the severity in colour; piped, or
with ``--json``, the lines are passed through unchanged. ``--correlation-id`` keeps
only the lines of one request and everything it caused (its events' consumers carry
the same id).
"""

from __future__ import annotations

import json
from typing import Any

_COLOURS = {
    "DEBUG": "\033[2m",
    "INFO": "\033[36m",
    "NOTICE": "\033[36m",
    "WARNING": "\033[33m",
    "ERROR": "\033[31m",
    "CRITICAL": "\033[1;31m",
    "ALERT": "\033[1;31m",
    "EMERGENCY": "\033[1;31m",
}
_RESET = "\033[0m"
# Shown elsewhere in the rendered line, or noise on a terminal.
_HIDDEN = frozenset({"severity", "message", "time", "logging.googleapis.com/labels"})


def parse(line: str) -> dict[str, Any] | None:
    """The JSON object of a log line, or None for a plain-text line."""
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def correlation_id_of(record: dict[str, Any]) -> str | None:
    value = record.get("correlation_id")
    if isinstance(value, str):
        return value
    labels = record.get("logging.googleapis.com/labels")
    if isinstance(labels, dict) and isinstance(labels.get("correlation_id"), str):
        return str(labels["correlation_id"])
    return None


def keep(line: str, correlation_id: str | None) -> bool:
    """Whether a line passes the filter (no filter keeps everything)."""
    if correlation_id is None:
        return True
    record = parse(line)
    return record is not None and correlation_id_of(record) == correlation_id


def render(source: str, line: str, *, colour: bool) -> str:
    """One line for a person: time, severity, log name, message, then the other fields."""
    record = parse(line)
    if record is None:
        return f"[{source}] {line}"
    severity = str(record.get("severity", "DEFAULT"))
    time = str(record.get("time", ""))[11:23]
    fields = " ".join(
        f"{key}={_compact(value)}" for key, value in record.items() if key not in _HIDDEN
    )
    label = f"{severity:<8}"
    if colour:
        label = f"{_COLOURS.get(severity, '')}{label}{_RESET}"
    text = f"{time} {label} [{source}] {record.get('message', '')}"
    return f"{text}  {fields}" if fields else text


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else json.dumps(value)
    return json.dumps(value, separators=(",", ":"), default=str)
