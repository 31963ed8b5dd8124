"""Keeping Firestore data across ``down``/``up``, ``up --watch``, and ``up``'s progress lines."""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from emulator.progress import HEARTBEAT_SECONDS
from tests.e2e.conftest import REPO_ROOT, StackHandle, http, leftovers, wait_for

_PROGRESS = re.compile(r"^\[\s*(\d+\.\d)s\] (.+)$", re.MULTILINE)


def _pgids(handle: StackHandle) -> dict[str, int]:
    return {p["name"]: p["pgid"] for p in handle.state()["processes"]}


def _progress(output: str) -> list[tuple[float, str]]:
    return [(float(seconds), text) for seconds, text in _PROGRESS.findall(output)]


def test_down_export_then_up_import_restores_firestore(stack: StackHandle, tmp_path: Path) -> None:
    key = uuid.uuid4().hex
    stack.firestore().set(f"e2e_kept/{key}", {"label": "kept across down", "count": 3})
    kept = tmp_path / "kept"

    state = stack.state()
    down = stack.cli("down", "--export", str(kept))
    assert down.returncode == 0, down.stdout + down.stderr
    assert f"Firestore data exported to {kept / 'firestore'}" in down.stdout
    assert not stack.state_path.exists()
    assert leftovers(state) == []
    assert list((kept / "firestore").glob("*.overall_export_metadata"))

    up = stack.cli("up", "--import", str(kept), timeout=600)
    assert up.returncode == 0, up.stdout + up.stderr
    assert stack.firestore().get(f"e2e_kept/{key}") == {"label": "kept across down", "count": 3}

    # One line per part as it starts and as it is ready, each with the elapsed time, and
    # the data is in Firestore before the first function starts.
    lines = [text for _seconds, text in _progress(up.stdout)]
    for part in ("firestore emulator", "pubsub emulator", "function health", "function e2e_echo"):
        assert f"{part}: ready" in lines, up.stdout
        assert any(line.startswith(f"{part}: starting") for line in lines), up.stdout
    assert {"gateway: ready", "scheduler: ready", "every part is ready"} <= set(lines)
    first_function = next(i for i, line in enumerate(lines) if line.startswith("function "))
    assert lines.index("Firestore data: imported") < first_function
    times = [seconds for seconds, _text in _progress(up.stdout)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Heartbeats come every few seconds; one slow probe of a busy machine may add to it.
    assert max(gaps) < 3 * HEARTBEAT_SECONDS, up.stdout

    # On a running stack the import replaces the data: what came later is gone.
    stack.firestore().set(f"e2e_kept/{key}-later", {"label": "written after the export"})
    again = stack.cli("up", "--import", str(kept), timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "reusing the running firestore emulator" in again.stdout
    assert stack.firestore().get(f"e2e_kept/{key}-later") is None
    assert stack.firestore().get(f"e2e_kept/{key}") is not None
    assert stack.cli("status").returncode == 0


def test_a_folder_that_is_no_export_is_refused_and_nothing_changes(
    stack: StackHandle, tmp_path: Path
) -> None:
    before = _pgids(stack)
    (tmp_path / "empty").mkdir()
    (tmp_path / "other" / "firestore").mkdir(parents=True)
    (tmp_path / "other" / "firestore" / "notes.txt").write_text("not an export")
    for folder, reason in [
        (tmp_path / "missing", "no such directory"),
        (tmp_path / "empty", "not a Firestore export"),
        (tmp_path / "other", "not a Firestore export"),
    ]:
        refused = stack.cli("up", "--import", str(folder))
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"--import {folder}: {reason}" in refused.stderr
        assert "starting" not in refused.stdout
        assert _pgids(stack) == before
    assert stack.cli("status").returncode == 0

    # A stack that is not running is not started either, nor recorded.
    fresh = dataclasses.replace(stack, project_id=f"{stack.project_id}-n")
    refused = fresh.cli("up", "--import", str(tmp_path / "missing"))
    assert refused.returncode == 1
    assert "no such directory" in refused.stderr
    assert not fresh.state_path.exists()

    # An export into a folder that holds something else is refused before anything stops.
    export = stack.cli("down", "--export", str(tmp_path / "other"))
    assert export.returncode == 1
    assert "is not an export" in export.stderr
    assert (tmp_path / "other" / "firestore" / "notes.txt").read_text() == "not an export"
    assert _pgids(stack) == before


def _restarts(output: str) -> dict[str, str]:
    """Function -> changed path, from the watcher's restart lines."""
    return dict(re.findall(r"restarted (\w+) \((\S+) changed\)", output))


def test_watch_restarts_only_the_functions_a_change_concerns(
    stack: StackHandle, tmp_path: Path
) -> None:
    output_path = tmp_path / "watch.out"
    with output_path.open("w") as output_file:
        watcher = subprocess.Popen(
            [sys.executable, "-m", "emulator", "up", *stack.flags(), "--watch"],
            cwd=REPO_ROOT,
            env={**os.environ, **stack.extra_env},
            stdout=output_file,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: "for changes" in output_path.read_text() or watcher.poll() is not None,
            timeout=300,
            what="up --watch to start watching",
        )
        assert watcher.poll() is None, output_path.read_text()
        before = _pgids(stack)

        # A function's own file: that function restarts and answers within seconds.
        echo_main = stack.manifest.parent / "e2e_echo" / "main.py"
        touched = time.monotonic()
        os.utime(echo_main)
        wait_for(
            lambda: _pgids(stack)["e2e_echo"] != before["e2e_echo"],
            timeout=30,
            what="e2e_echo to be restarted",
        )
        wait_for(
            lambda: http("GET", f"{stack.gateway_url}/v1/e2e/echo").status == 200,
            timeout=30,
            what="the restarted e2e_echo to answer",
        )
        answered = time.monotonic() - touched
        wait_for(
            lambda: "e2e_echo" in _restarts(output_path.read_text()),
            timeout=30,
            what="the restart line",
        )
        output = output_path.read_text()
        assert _restarts(output)["e2e_echo"] == "tests/e2e/functions/e2e_echo/main.py"
        assert re.search(r"restarted e2e_echo \(\S+ changed\): healthy in \d+\.\ds", output)
        assert answered < 15, output
        after = _pgids(stack)
        # Only functions the watcher restarted have new process groups (other changes to
        # shared/ may land meanwhile; each is logged); the gateway and emulators stay.
        restarted = _restarts(output)
        for name, pgid in before.items():
            if name not in restarted:
                assert after[name] == pgid, (name, output)
        assert "health" not in restarted or restarted["health"].startswith("shared/")

        # A shared module: the functions importing it restart; e2e_echo imports nothing
        # from shared/, so it never does.
        echo_pgid = after["e2e_echo"]
        os.utime(REPO_ROOT / "shared" / "health.py")
        wait_for(
            lambda: "restarted health (shared/health.py changed)" in output_path.read_text(),
            timeout=60,
            what="health to restart after shared/health.py changed",
        )
        assert _pgids(stack)["e2e_echo"] == echo_pgid
        assert http("GET", f"{stack.gateway_url}/v1/health/live").status == 200

        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=30) == 0, output_path.read_text()
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    # Watching ended; the stack did not.
    assert stack.cli("status").returncode == 0
