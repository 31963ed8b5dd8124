"""Every platform unit test starts from an environment without Tributum settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from shared.config import reset_settings
from tests.unit.platform.support import LogCapture, capture_json_logs, preserved_logging

# Variables the emulators fixture may have exported: a unit test must not see them.
_OUTSIDE_VARIABLES = ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("TRIBUTUM_") or name in _OUTSIDE_VARIABLES:
            monkeypatch.delenv(name)
    reset_settings()
    with preserved_logging():
        yield
    reset_settings()


@pytest.fixture
def logs() -> LogCapture:
    """The shared logger writing JSON lines to memory for the duration of the test."""
    return capture_json_logs()
