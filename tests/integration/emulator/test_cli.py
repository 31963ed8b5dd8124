"""``python -m emulator`` refusals that need no running stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulator", *args],
        cwd=REPO_ROOT,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_up_without_gcloud_names_what_to_install() -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    result = _run("up", "--project", "demo-no-gcloud", env=env)
    assert result.returncode == 2
    assert "gcloud" in result.stderr
    assert "google-cloud-cli-firestore-emulator" in result.stderr
    assert not (REPO_ROOT / ".local" / "stack-demo-no-gcloud.json").exists()


def test_an_invalid_project_id_is_refused() -> None:
    result = _run("up", "--project", "x")
    assert result.returncode == 1
    assert "project id 'x'" in result.stderr


def test_status_of_a_stack_that_is_not_running_fails() -> None:
    result = _run("status", "--project", "demo-not-running")
    assert result.returncode == 1
    assert "no local stack recorded" in result.stdout


def test_down_of_a_stack_that_is_not_running_succeeds() -> None:
    result = _run("down", "--project", "demo-not-running")
    assert result.returncode == 0


def test_reset_without_a_stack_fails_clearly() -> None:
    result = _run("reset", "--project", "demo-not-running")
    assert result.returncode == 1
    assert "no running Firestore emulator" in result.stderr


def test_help_lists_the_commands() -> None:
    result = _run("--help")
    assert result.returncode == 0
    assert "{up,down,status,reset,logs,tick,seed,webhook-sink,mail-sink}" in result.stdout
