"""shared.logger's JSON line in one processor: the fields structlog's chain gave, redaction
that copies only what it changes, and remembered key verdicts that never let a secret by."""

from __future__ import annotations

import logging
import time
from collections import namedtuple
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest

from shared import logger as shared_logger
from shared.logger import REDACTED, bind_request_context, get_logger, redact
from tests.unit.platform.support import LogCapture, capture_json_logs

_OTHER_LIBRARY_VARIABLE: ContextVar[str] = ContextVar("other_library_request", default="")


def test_redact_returns_what_holds_nothing_to_replace_as_it_is() -> None:
    clean: dict[str, Any] = {
        "amount": "1.00",
        "lines": [{"account_id": "a", "side": "debit"}],
        "tags": ("x",),
    }
    assert redact(clean) == clean  # the first time, its keys are judged on a copy
    assert redact(clean) is clean
    assert redact(clean["lines"]) is clean["lines"]


def test_redact_copies_only_the_containers_on_the_way_to_a_secret() -> None:
    original: dict[str, Any] = {
        "request": {"headers": {"Authorization": "Bearer t", "Accept": "json"}},
        "lines": [{"amount": "1.00"}],
    }
    redacted = redact(original)
    assert redacted["request"]["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert original["request"]["headers"]["Authorization"] == "Bearer t"
    assert redacted["lines"] is original["lines"]


def test_other_mappings_and_tuples_are_written_as_objects_and_arrays_and_redacted(
    logs: LogCapture,
) -> None:
    card = namedtuple("card", "details holder")
    get_logger().info(
        "mapped",
        headers=MappingProxyType({"Cookie": "c=1", "Accept": "json"}),
        card=card({"cvv": "123"}, "Ada"),
        pairs=({"pin": "1"}, {"side": "debit"}),
    )
    (line,) = logs.lines()
    assert line["headers"] == {"Cookie": REDACTED, "Accept": "json"}
    assert line["card"] == [{"cvv": REDACTED}, "Ada"]
    assert line["pairs"] == [{"pin": REDACTED}, {"side": "debit"}]
    assert "c=1" not in logs.text()


def test_a_key_is_judged_alike_on_every_line(logs: LogCapture) -> None:
    log = get_logger()
    for _ in range(3):
        log.info("repeat", amount="1.00", nested={"password": "p", "side": "debit"})
    assert [line["nested"] for line in logs.lines()] == [
        {"password": REDACTED, "side": "debit"}
    ] * 3


def test_more_distinct_keys_than_are_remembered_never_let_a_secret_by(logs: LogCapture) -> None:
    log = get_logger()
    for batch in range(3):
        fields = {f"field_{batch}_{n}": n for n in range(3000)}
        log.info("wide", fields=fields, token="t", deep={"api_key": "k", "side": "debit"})
    lines = logs.lines()
    assert len(lines) == 3
    for line in lines:
        assert line["token"] == REDACTED
        assert line["deep"] == {"api_key": REDACTED, "side": "debit"}
        assert len(line["fields"]) == 3000
    assert len(shared_logger._HARMLESS_KEYS) <= shared_logger._KNOWN_KEYS_LIMIT


def test_a_container_deeper_than_the_limit_is_never_written(logs: LogCapture) -> None:
    payload: dict[str, object] = {"note": "deep but harmless"}
    for level in range(12):
        payload = {f"level{level}": payload}
    get_logger().info("deep", payload=payload)
    assert "deep but harmless" not in logs.text()
    assert REDACTED in logs.text()


def test_the_fields_the_chain_sets_replace_the_callers(logs: LogCapture) -> None:
    get_logger().info("shadowed", level="custom", timestamp="yesterday", severity="LOW")
    (line,) = logs.lines()
    assert "level" not in line
    assert "timestamp" not in line
    assert line["severity"] == "INFO"
    assert line["message"] == "shadowed"


def test_the_calls_fields_win_over_the_bound_and_the_request_context(logs: LogCapture) -> None:
    bind_request_context(correlation_id="from-context", tenant_id="t-context")
    token = _OTHER_LIBRARY_VARIABLE.set("not a log field")
    try:
        log = get_logger("unit", service="bound")
        log.info("precedence", correlation_id="from-call", service="from-call")
        log.info("context")
    finally:
        _OTHER_LIBRARY_VARIABLE.reset(token)
    first, second = logs.lines()
    assert first["correlation_id"] == "from-call"
    assert first["service"] == "from-call"
    assert first["tenant_id"] == "t-context"
    assert second["correlation_id"] == "from-context"
    assert second["service"] == "bound"
    assert "not a log field" not in logs.text()


def test_the_loggers_api_works_through_the_shortened_call_path(logs: LogCapture) -> None:
    log = get_logger().bind(entry_id="e-1")
    log.bind(attempt=2).warning("retrying")
    log.log(logging.ERROR, "by level")
    log.info("posted %s lines", 3)
    get_logger().debug("at the lowest level", password="p")
    retrying, by_level, posted, debug = logs.lines()
    assert (retrying["severity"], retrying["entry_id"], retrying["attempt"]) == (
        "WARNING",
        "e-1",
        2,
    )
    assert (by_level["severity"], by_level["message"]) == ("ERROR", "by level")
    assert posted["message"] == "posted 3 lines"
    assert debug["severity"] == "DEBUG"
    assert debug["password"] == REDACTED


def test_lines_below_the_level_are_dropped_by_the_shortened_call_path() -> None:
    capture = capture_json_logs(level="ERROR")
    get_logger().warning("quiet")
    get_logger().error("loud")
    assert [line["message"] for line in capture.lines()] == ["loud"]


@pytest.mark.parametrize(
    "nanoseconds",
    [
        1_767_225_600_123_456_789,  # 2026-01-01T00:00:00.123456Z
        1_767_225_600_000_000_999,  # under a microsecond past a whole second
        1_767_225_601_000_001_000,
        1_767_225_659_999_999_999,
    ],
)
def test_the_time_is_written_as_structlogs_utc_iso_stamp(
    logs: LogCapture, monkeypatch: pytest.MonkeyPatch, nanoseconds: int
) -> None:
    clock = SimpleNamespace(time_ns=lambda: nanoseconds, strftime=time.strftime, gmtime=time.gmtime)
    monkeypatch.setattr(shared_logger, "time", clock)
    monkeypatch.setattr(shared_logger, "_stamped_second", (-1, ""))
    get_logger().info("stamped")
    seconds, rest = divmod(nanoseconds, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    # What structlog's TimeStamper(fmt="iso", utc=True) writes for the same moment.
    assert logs.lines()[0]["time"] == moment.isoformat().replace("+00:00", "Z")
