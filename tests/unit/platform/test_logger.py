"""shared.logger: Cloud Logging JSON, console lines, redaction, per-thread request context."""

from __future__ import annotations

import io
import re
import threading

import orjson
import pytest

from shared.logger import (
    REDACTED,
    bind_context,
    bind_request_context,
    clear_request_context,
    configure_logging,
    current_correlation_id,
    get_logger,
    is_sensitive_key,
    parse_trace_headers,
    redact,
)
from tests.unit.platform.support import LogCapture, capture_json_logs

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_a_json_line_has_the_cloud_logging_shape(logs: LogCapture) -> None:
    get_logger("unit").info("ledger.entry_posted", entry_id="e-1", amount="12.34")
    (line,) = logs.lines()
    assert line["severity"] == "INFO"
    assert line["message"] == "ledger.entry_posted"
    assert ISO_UTC.match(line["time"]), line["time"]
    assert line["logging.googleapis.com/labels"] == {"function": "unit-fn"}
    assert line["entry_id"] == "e-1"
    assert line["amount"] == "12.34"
    # structlog's own names are renamed, not duplicated.
    assert not {"event", "level", "timestamp"} & set(line)
    assert "logging.googleapis.com/trace" not in line


def test_an_event_stays_one_line_whatever_its_strings_hold(logs: LogCapture) -> None:
    # A client's path may carry U+0085, U+2028 or U+2029, which JSON allows raw but
    # line readers (str.splitlines, the stack's log tail) take for line breaks.
    path = "/v1/webhooks/endpoints/a\x85b\u2028c\u2029d\nédition"
    get_logger("unit").info("http.request", path=path)
    (text,) = logs.text().splitlines()
    assert orjson.loads(text)["path"] == path
    assert "édition" in text


@pytest.mark.parametrize(
    ("method", "severity"),
    [
        ("debug", "DEBUG"),
        ("info", "INFO"),
        ("warning", "WARNING"),
        ("error", "ERROR"),
        ("critical", "CRITICAL"),
    ],
)
def test_severity_follows_the_method(logs: LogCapture, method: str, severity: str) -> None:
    getattr(get_logger(), method)("something")
    assert [line["severity"] for line in logs.lines()] == [severity]


def test_lines_below_the_configured_level_are_dropped() -> None:
    capture = capture_json_logs(level="WARNING")
    log = get_logger()
    log.info("quiet")
    log.warning("loud")
    assert [line["message"] for line in capture.lines()] == ["loud"]


def test_trace_and_span_from_the_request_context(logs: LogCapture) -> None:
    bind_request_context(correlation_id="corr-1", trace_id=TRACE_ID, span_id=SPAN_ID)
    get_logger().info("with trace")
    (line,) = logs.lines()
    assert line["logging.googleapis.com/trace"] == f"projects/demo-project/traces/{TRACE_ID}"
    assert line["logging.googleapis.com/spanId"] == SPAN_ID
    assert line["correlation_id"] == "corr-1"
    assert "trace_id" not in line
    assert "span_id" not in line


def test_a_new_request_context_forgets_the_previous_one(logs: LogCapture) -> None:
    bind_request_context(correlation_id="first", trace_id=TRACE_ID)
    bind_context(tenant_id="t-1")
    bind_request_context(correlation_id="second")
    assert current_correlation_id() == "second"
    get_logger().info("next request")
    (line,) = logs.lines()
    assert line["correlation_id"] == "second"
    assert "tenant_id" not in line
    assert "logging.googleapis.com/trace" not in line
    clear_request_context()
    assert current_correlation_id() is None


def test_exceptions_are_rendered_into_the_line(logs: LogCapture) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        get_logger().exception("failed")
    (line,) = logs.lines()
    assert line["severity"] == "ERROR"
    assert "RuntimeError: boom" in line["exception"]


def test_console_format_is_one_readable_line_per_event() -> None:
    stream = io.StringIO()
    configure_logging(project_id="p", function_name="f", fmt="console", stream=stream)
    bind_request_context(correlation_id="corr-9")
    get_logger().info("ledger.entry_posted", entry_id="e-1", password="hunter2")
    text = stream.getvalue()
    assert text.count("\n") == 1
    assert "ledger.entry_posted" in text
    assert "entry_id=e-1" in text
    assert "correlation_id=corr-9" in text
    assert "hunter2" not in text
    assert REDACTED in text
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)


SENSITIVE_KEYS = [
    "password",
    "new_password",
    "passwd",
    "Passphrase",
    "token",
    "access_token",
    "refreshToken",
    "secret",
    "client_secret",
    "Authorization",
    "authorization",
    "cookie",
    "Set-Cookie",
    "api_key",
    "apiKey",
    "ApiKey",
    "X-Api-Key",
    "x-api-key",
    "card_number",
    "cardNumber",
    "CARD_NUMBER",
    "pan",
    "cvv",
    "card_cvv",
    "cvc",
    "iban",
    "payeeIban",
    "ssn",
    "user_ssn",
    "private_key",
    "privateKey",
    "credentials",
    "otp",
    "pin",
]

HARMLESS_KEYS = [
    "amount",
    "account_id",
    "description",
    "spinner",
    "shipping",
    "company",
    "span_id",
    "expansion",
    "currency",
    "entry_id",
    "tenant_id",
    "status",
    "author",
    "keyboard",
]


@pytest.mark.parametrize("key", SENSITIVE_KEYS)
def test_sensitive_keys_are_recognised(key: str) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize("key", HARMLESS_KEYS)
def test_harmless_keys_are_left_alone(key: str) -> None:
    assert not is_sensitive_key(key)


def test_redaction_at_every_level_of_a_line(logs: LogCapture) -> None:
    get_logger().info(
        "payment.requested",
        password="hunter2",
        amount="12.34",
        account_id="acc-1",
        request={
            "headers": {"Authorization": "Bearer eyJ.secret", "X-Api-Key": "k-123"},
            "body": {
                "card": {"cardNumber": "4111111111111111", "cvv": "123"},
                "description": "coffee",
                "payee": [{"iban": "DE89370400440532013000", "name": "Ada"}],
            },
        },
        attempts=({"otp": "998877"}, {"spinner": "on"}),
    )
    (line,) = logs.lines()
    assert line["password"] == REDACTED
    assert line["amount"] == "12.34"
    assert line["account_id"] == "acc-1"
    request = line["request"]
    assert request["headers"] == {"Authorization": REDACTED, "X-Api-Key": REDACTED}
    assert request["body"]["card"] == {"cardNumber": REDACTED, "cvv": REDACTED}
    assert request["body"]["description"] == "coffee"
    assert request["body"]["payee"] == [{"iban": REDACTED, "name": "Ada"}]
    assert line["attempts"] == [{"otp": REDACTED}, {"spinner": "on"}]
    text = logs.text()
    for secret in ("hunter2", "eyJ.secret", "k-123", "4111111111111111", "998877", "DE8937"):
        assert secret not in text


def test_a_whole_sensitive_subtree_is_redacted(logs: LogCapture) -> None:
    get_logger().info("login", credentials={"user": "ada", "password": "x"})
    assert logs.lines()[0]["credentials"] == REDACTED


def test_context_fields_are_redacted_too(logs: LogCapture) -> None:
    bind_request_context(correlation_id="c", session_token="tok-abc")
    get_logger().info("bound")
    line = logs.lines()[0]
    assert line["session_token"] == REDACTED
    assert "tok-abc" not in logs.text()


def test_redact_leaves_the_original_untouched() -> None:
    original = {"password": "p", "nested": {"token": "t", "amount": "1.00"}}
    assert redact(original) == {
        "password": REDACTED,
        "nested": {"token": REDACTED, "amount": "1.00"},
    }
    assert original["password"] == "p"
    assert original["nested"] == {"token": "t", "amount": "1.00"}


def _nested(depth: int, leaf: dict[str, str]) -> dict[str, object]:
    document: dict[str, object] = dict(leaf)
    for level in range(depth):
        document = {f"level{level}": document}
    return document


def test_redaction_reaches_eight_levels_down() -> None:
    redacted = redact(_nested(7, {"password": "deep-secret"}))
    assert "deep-secret" not in orjson.dumps(redacted).decode()


def test_redaction_never_writes_a_secret_nested_deeper_than_the_limit(logs: LogCapture) -> None:
    get_logger().info("deep", payload=_nested(12, {"password": "deep-secret"}))
    assert "deep-secret" not in logs.text()


def test_threads_never_mix_their_request_context(logs: LogCapture) -> None:
    rounds = 200
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def serve(correlation_id: str) -> None:
        try:
            log = get_logger()
            barrier.wait(timeout=10)
            for index in range(rounds):
                bind_request_context(correlation_id=correlation_id, tenant_id=correlation_id)
                log.info("tick", owner=correlation_id, index=index)
        except BaseException as exc:  # surfaced to the main thread below
            failures.append(exc)

    threads = [threading.Thread(target=serve, args=(name,)) for name in ("corr-a", "corr-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures
    lines = logs.messages("tick")
    assert len(lines) == 2 * rounds
    for line in lines:
        assert line["correlation_id"] == line["owner"] == line["tenant_id"]
    assert {line["owner"] for line in lines} == {"corr-a", "corr-b"}


def test_a_new_thread_starts_without_the_callers_context(logs: LogCapture) -> None:
    bind_request_context(correlation_id="main-thread")
    seen: list[str | None] = []
    thread = threading.Thread(target=lambda: seen.append(current_correlation_id()))
    thread.start()
    thread.join(timeout=10)
    assert seen == [None]


def test_traceparent() -> None:
    header = f"00-{TRACE_ID}-{SPAN_ID}-01"
    assert parse_trace_headers({"traceparent": header}) == (TRACE_ID, SPAN_ID)
    assert parse_trace_headers({"traceparent": header.upper()}) == (TRACE_ID, SPAN_ID)


def test_traceparent_wins_over_the_cloud_header() -> None:
    headers = {
        "traceparent": f"00-{TRACE_ID}-{SPAN_ID}-01",
        "X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1",
    }
    assert parse_trace_headers(headers) == (TRACE_ID, SPAN_ID)


def test_x_cloud_trace_context_span_is_decimal_turned_hex() -> None:
    trace, span = parse_trace_headers(
        {"X-Cloud-Trace-Context": "105445AA7843BC8BF206B12000100000/2748;o=1"}
    )
    assert trace == "105445aa7843bc8bf206b12000100000"
    assert span == f"{2748:016x}"
    assert parse_trace_headers({"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000"}) == (
        "105445aa7843bc8bf206b12000100000",
        None,
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"traceparent": "garbage"},
        {"traceparent": f"00-{'0' * 32}-{SPAN_ID}-01"},  # all-zero trace id is invalid
        {"traceparent": f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01"},
        {"X-Cloud-Trace-Context": "not-a-trace"},
    ],
)
def test_unusable_trace_headers_give_nothing(headers: dict[str, str]) -> None:
    assert parse_trace_headers(headers) == (None, None)


def test_an_invalid_traceparent_falls_back_to_the_cloud_header() -> None:
    headers = {"traceparent": "garbage", "X-Cloud-Trace-Context": f"{TRACE_ID}/1"}
    assert parse_trace_headers(headers) == (TRACE_ID, f"{1:016x}")
