"""Process groups: stopping them, recognising zombies and strangers, and ``down``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from emulator import stack
from emulator.processes import group_alive, group_matches, start_detached, stop_groups
from emulator.settings import StackConfig, load_config
from emulator.state import ProcessRecord, StackState, load_state, save_state

SLEEPER = [sys.executable, "-c", "import time; time.sleep(300)", "--tributum-test-sleeper"]
MARKER = "--tributum-test-sleeper "


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; whatever is left is killed and reaped afterwards."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _sleeper(tmp_path: Path, started: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    process = start_detached(
        SLEEPER, log_path=tmp_path / "sleeper.log", env=os.environ, cwd=tmp_path
    )
    started.append(process)
    return process


def _config(tmp_path: Path) -> StackConfig:
    return replace(load_config({}, project_id="demo-down-test"), repo_root=tmp_path)


def _state(config: StackConfig, *records: ProcessRecord) -> StackState:
    state = StackState(
        project_id=config.project_id,
        host=config.host,
        gateway_port=config.gateway_port,
        firestore_port=config.firestore_port,
        pubsub_port=config.pubsub_port,
        functions_base_port=config.functions_base_port,
        manifest=str(config.manifest_path),
        from_build=False,
    )
    for record in records:
        state.put(record)
    return state


def test_a_detached_process_leads_its_own_group(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    process = _sleeper(tmp_path, started)
    assert os.getpgid(process.pid) == process.pid
    assert group_alive(process.pid)
    assert group_matches(process.pid, [MARKER])
    assert not group_matches(process.pid, ["--something-else "])


def test_a_zombie_does_not_count_as_alive(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    process = _sleeper(tmp_path, started)
    os.killpg(process.pid, signal.SIGKILL)
    # Not reaped yet: the kernel keeps a zombie that a signal still reaches.
    deadline = time.monotonic() + 5
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not group_alive(process.pid)
    stat = Path(f"/proc/{process.pid}/stat").read_text()
    assert stat[stat.rfind(")") + 2] == "Z"  # still unreaped: exactly the case that matters


def test_stop_groups_kills_what_ignores_sigterm(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    stubborn = start_detached(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(300)",
        ],
        log_path=tmp_path / "stubborn.log",
        env=os.environ,
        cwd=tmp_path,
    )
    started.append(stubborn)
    polite = _sleeper(tmp_path, started)
    deadline = time.monotonic() + 30
    while "ready" not in (tmp_path / "stubborn.log").read_text():
        assert time.monotonic() < deadline, "the SIGTERM-ignoring process never started"
        time.sleep(0.05)
    stop_groups([stubborn.pid, polite.pid], grace_seconds=0.5)
    assert not group_alive(stubborn.pid)
    assert not group_alive(polite.pid)


def test_down_stops_recorded_groups_and_removes_the_state(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    config = _config(tmp_path)
    function = _sleeper(tmp_path, started)
    emulator = _sleeper(tmp_path, started)
    save_state(
        config.state_path,
        _state(
            config,
            ProcessRecord("emulated", "emulator", emulator.pid, None, "e.log", [MARKER]),
            ProcessRecord("worker", "function", function.pid, None, "w.log", [MARKER], "event"),
        ),
    )
    messages: list[str] = []
    assert stack.down(config, say=messages.append)
    assert not group_alive(function.pid)
    assert not group_alive(emulator.pid)
    assert load_state(config.state_path) is None
    assert messages == ["stack 'demo-down-test' is down"]


def test_down_after_a_crash_forgets_groups_that_are_gone(tmp_path: Path) -> None:
    config = _config(tmp_path)
    finished = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    finished.wait()
    save_state(
        config.state_path,
        _state(config, ProcessRecord("gone", "function", finished.pid, None, "g.log", [MARKER])),
    )
    assert stack.down(config, say=lambda _: None)
    assert load_state(config.state_path) is None


def test_down_leaves_a_recycled_group_id_alone(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    config = _config(tmp_path)
    stranger = _sleeper(tmp_path, started)
    save_state(
        config.state_path,
        _state(
            config,
            ProcessRecord(
                "health", "function", stranger.pid, None, "h.log", ["--port 8700 "], "http"
            ),
        ),
    )
    messages: list[str] = []
    assert stack.down(config, say=messages.append)
    assert group_alive(stranger.pid)  # not ours any more: never signalled
    assert any("left alone" in m for m in messages)


def test_down_without_a_stack_is_not_an_error(tmp_path: Path) -> None:
    messages: list[str] = []
    assert stack.down(_config(tmp_path), say=messages.append)
    assert "no local stack recorded" in messages[0]
