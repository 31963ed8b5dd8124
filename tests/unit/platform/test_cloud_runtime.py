"""The real HTTP functions under functions-framework as Cloud Functions configures it.

Cloud Functions sets ``LOG_EXECUTION_ID=true``, so functions-framework swaps
``sys.stdout`` for a text wrapper while it serves each request and labels every JSON
line it receives with the execution id. Logging that bound the process's byte
stream at start, or first configured itself inside a request, failed every request.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from functions_framework import _function_registry

from shared import logger as shared_logger
from shared.config import reset_settings
from tests.support.cloud import CLOUD_VALUES
from tests.unit.platform.support import preserved_logging

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _framework_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """functions-framework writes FUNCTION_TARGET and FUNCTION_SIGNATURE_TYPE into
    os.environ when it loads a function; restore them so no later process inherits them."""
    for name in ("FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.fixture
def cloud_like(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("LOG_EXECUTION_ID", "true")
    monkeypatch.setenv("TRIBUTUM_ENV", "local")
    monkeypatch.setenv("TRIBUTUM_LOG_FORMAT", "json")
    monkeypatch.setenv("TRIBUTUM_SECRETS__LOCAL_DIR", str(tmp_path / "secrets"))
    reset_settings()
    # A fresh instance's registry: other tests' modules registered CloudEvent functions
    # named "handle" in this process, which an HTTP function's instance never has.
    monkeypatch.setattr(_function_registry, "REGISTRY_MAP", {})
    with preserved_logging():
        # As in a fresh instance: logging configures itself on first use, in a request.
        shared_logger._configured = False
        yield
    reset_settings()


def _app(name: str) -> Any:
    source = REPO_ROOT / "functions" / name / "main.py"
    return functions_framework.create_app("handle", str(source), "http").test_client()


def _lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    ("function", "path", "status"),
    [("health", "/v1/health/live", 200), ("dead_letters_api", "/v1/dead-letters", 401)],
)
def test_requests_are_answered_and_logged_with_the_execution_id(
    cloud_like: None,
    capsys: pytest.CaptureFixture[str],
    function: str,
    path: str,
    status: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIBUTUM_FUNCTION_NAME", function)
    reset_settings()
    client = _app(function)
    response = client.get(path, headers={"Function-Execution-Id": "exec-123abc"})
    assert response.status_code == status, response.get_data(as_text=True)
    lines = _lines(capsys.readouterr().out)
    access = [line for line in lines if line.get("message") == "http.request"]
    assert access, lines
    labels = access[-1]["logging.googleapis.com/labels"]
    assert labels == {"function": function, "execution_id": "exec-123abc"}


def test_log_lines_follow_stdout_as_functions_framework_swaps_it(
    cloud_like: None, capsys: pytest.CaptureFixture[str]
) -> None:
    log = shared_logger.get_logger("probe")
    log.info("before.swap")
    replaced = sys.stdout
    try:
        sys.stdout = _TextOnly()
        log.info("during.swap")
        written = sys.stdout.getvalue()
    finally:
        sys.stdout = replaced
    assert json.loads(written)["message"] == "during.swap"
    assert [line["message"] for line in _lines(capsys.readouterr().out)] == ["before.swap"]


class _TextOnly:
    """A stdout like functions-framework's wrapper: text writes only, no byte buffer."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("text only")
        self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def getvalue(self) -> str:
        return "".join(self._parts)


def test_every_event_function_registers_its_cloudevent_signature() -> None:
    """Deployed without an event trigger, the platform says http: the code must say more."""
    from functions_framework import _function_registry

    from shared.topology import load_manifest

    for fn in load_manifest().functions:
        if fn.kind != "event":
            continue
        _function_registry.REGISTRY_MAP.pop(fn.entry_point, None)
        spec = importlib.util.spec_from_file_location(
            f"registration_{fn.name}", REPO_ROOT / fn.folder / "main.py"
        )
        assert spec is not None and spec.loader is not None
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        registered = _function_registry.get_func_signature_type(fn.entry_point, "http")
        assert registered == "cloudevent", fn.name


def _start(function: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """Start a function as the platform does; a bad configuration must stop it at once."""
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO_ROOT),
        "PORT": "0",
        "K_SERVICE": function.replace("_", "-"),
        "FUNCTION_TARGET": "handle",
        "FUNCTION_SIGNATURE_TYPE": "http",
        "LOG_EXECUTION_ID": "true",
        **environment,
    }
    script = Path(sys.executable).parent / "functions-framework"
    return subprocess.run(
        [str(script)],
        cwd=REPO_ROOT / "functions" / function,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        (
            {
                "TRIBUTUM_ENV": "cloud",
                **CLOUD_VALUES,
                "TRIBUTUM_SECRETS__VERSIONS": '{"jwt-verification-keys": ""}',
            },
            "TRIBUTUM_SECRETS__VERSIONS",
        ),
        ({"TRIBUTUM_HTTP__TRUSTED_PROXY_HOPS": "many"}, "TRIBUTUM_HTTP__TRUSTED_PROXY_HOPS"),
    ],
)
def test_a_misconfigured_deployment_fails_to_start_naming_the_variable(
    environment: dict[str, str], named: str
) -> None:
    result = _start("dead_letters_api", **environment)
    assert result.returncode != 0
    assert named in result.stdout + result.stderr
