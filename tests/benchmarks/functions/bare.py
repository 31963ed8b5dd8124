"""Baseline: a bare functions-framework HTTP function."""

from typing import Any


def handle(request: Any) -> tuple[str, int, dict[str, str]]:
    return '{"data":{"ok":true}}', 200, {"Content-Type": "application/json"}
