"""Logging shape and redaction; configuration errors that name the variable."""

from __future__ import annotations

import io
import threading
from typing import Any

import orjson
import pytest

from shared.config import ConfigError, load_settings
from shared.logger import (
    bind_request_context,
    configure_logging,
    get_logger,
    is_sensitive_key,
    parse_trace_headers,
)
from tests.support.cloud import set_cloud_values


@pytest.fixture
def json_log() -> Any:
    stream = io.BytesIO()
    configure_logging(project_id="demo-p", function_name="fn", fmt="json", stream=stream)

    def lines() -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    configure_logging(project_id="demo-p", function_name="fn", fmt="console")


def test_lines_have_cloud_loggings_shape(json_log: Any) -> None:
    bind_request_context(correlation_id="c-1", trace_id="a" * 32, span_id="b" * 16)
    get_logger().warning("payment.failed", amount="12.30")
    [line] = json_log()
    assert line["severity"] == "WARNING"
    assert line["message"] == "payment.failed"
    assert line["logging.googleapis.com/trace"] == f"projects/demo-p/traces/{'a' * 32}"
    assert line["logging.googleapis.com/spanId"] == "b" * 16
    assert line["logging.googleapis.com/labels"] == {"function": "fn"}
    assert line["correlation_id"] == "c-1"
    assert line["amount"] == "12.30"


def test_sensitive_values_are_redacted_at_any_depth(json_log: Any) -> None:
    get_logger().info(
        "request",
        password="p",
        headers={"Authorization": "Bearer t", "X-Api-Key": "k"},
        body={
            "card": {"cardNumber": "4111", "cvv": "123"},
            "iban": "DE89",
            "items": [{"refresh_token": "r"}],
        },
        description="ok",
    )
    [line] = json_log()
    text = orjson.dumps(line).decode()
    for secret in ("Bearer t", '"k"', "4111", "123", "DE89", '"r"', '"p"'):
        assert secret not in text
    assert line["description"] == "ok"


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "X-Api-Key",
        "apiKey",
        "client_secret",
        "cardNumber",
        "ssn",
        "set-cookie",
        "private_key",
    ],
)
def test_sensitive_keys(key: str) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize("key", ["amount", "account_id", "description", "company", "spinner"])
def test_harmless_keys(key: str) -> None:
    assert not is_sensitive_key(key)


def test_concurrent_requests_never_mix_context(json_log: Any) -> None:
    barrier = threading.Barrier(8)

    def request(n: int) -> None:
        bind_request_context(correlation_id=f"c-{n}")
        barrier.wait()
        get_logger().info("work", n=n)

    threads = [threading.Thread(target=request, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(line["correlation_id"] == f"c-{line['n']}" for line in json_log())


def test_trace_headers() -> None:
    assert parse_trace_headers({"traceparent": f"00-{'1' * 32}-{'2' * 16}-01"}) == (
        "1" * 32,
        "2" * 16,
    )
    assert parse_trace_headers({"X-Cloud-Trace-Context": f"{'A' * 32}/255;o=1"}) == (
        "a" * 32,
        "00000000000000ff",
    )
    assert parse_trace_headers({}) == (None, None)


def test_a_bad_setting_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTUM_HTTP__MAX_BODY_BYTES", "tiny")
    with pytest.raises(ConfigError, match="TRIBUTUM_HTTP__MAX_BODY_BYTES"):
        load_settings()


def test_debug_errors_are_refused_in_the_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTUM_ENV", "cloud")
    set_cloud_values(monkeypatch)
    monkeypatch.setenv("TRIBUTUM_FEATURES__DEBUG_ERRORS", "true")
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    with pytest.raises(ConfigError, match="DEBUG_ERRORS"):
        load_settings()


def test_environment_decides_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTUM_ENV", "local")
    settings = load_settings()
    assert settings.runs_on_emulators
    assert settings.secrets_backend == "local"
    assert settings.effective_log_format == "json"
