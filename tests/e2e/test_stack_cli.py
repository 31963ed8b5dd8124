"""The ``python -m emulator`` commands against running stacks."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from emulator import mail_sink
from shared.topology import load_manifest
from tests.e2e.conftest import (
    REPO_ROOT,
    StackHandle,
    bring_down,
    http,
    leftovers,
    secondary_stack,
    shifted_stack,
    wait_for,
)


def _status(handle: StackHandle) -> tuple[int, dict[str, object]]:
    result = handle.cli("status", "--json")
    return result.returncode, json.loads(result.stdout)


def test_status_reports_every_part_healthy(stack: StackHandle) -> None:
    code, report = _status(stack)
    assert code == 0, report
    assert report["healthy"] is True
    components = {c["name"]: c for c in report["components"]}  # type: ignore[attr-defined]
    functions = [f.name for f in load_manifest(stack.manifest).functions]
    parts = {"firestore", "pubsub", "gateway", "scheduler", "mail_sink", *functions}
    assert set(components) == parts
    assert components["gateway"]["port"] == stack.gateway_port
    assert components["health"]["port"] == stack.functions_base_port
    assert components["e2e_failing"]["port"] == stack.functions_base_port + 3
    assert components["mail_sink"]["port"] == mail_sink.DEFAULT_SINK_PORT
    # Every part the stack started is recorded; a mail sink it only uses is not.
    recorded = {p["name"]: p["pgid"] for p in stack.state()["processes"]}
    owned = {name: c["pgid"] for name, c in components.items() if c["owned"]}
    assert owned == recorded


def test_status_writes_nothing_into_the_function_logs(stack: StackHandle) -> None:
    # HTTP functions: a probe by request would leave an access line (or a 401) there.
    # (Event functions log the scheduler's ticks meanwhile.)
    logs = {
        p["name"]: Path(p["log"])
        for p in stack.state()["processes"]
        if p["role"] == "function" and p.get("kind") == "http"
    }
    assert logs
    before = {name: path.stat().st_size for name, path in logs.items()}

    assert _status(stack)[0] == 0
    assert stack.cli("status").returncode == 0

    assert {name: path.stat().st_size for name, path in logs.items()} == before


def test_status_text_names_ports_and_health(stack: StackHandle) -> None:
    result = stack.cli("status")
    assert result.returncode == 0
    assert f"{stack.gateway_port}" in result.stdout
    # + emulators, gateway, scheduler, mail sink
    parts = len(load_manifest(stack.manifest).functions) + 5
    assert result.stdout.count("healthy") == parts


def test_logs_shows_a_function_log_and_rejects_unknown_names(stack: StackHandle) -> None:
    shown = stack.cli("logs", "health", "-n", "5")
    assert shown.returncode == 0
    assert "http.request" in shown.stdout  # the readiness probe's access line
    unknown = stack.cli("logs", "no_such_function")
    assert unknown.returncode == 1
    assert "no log named 'no_such_function'" in unknown.stderr


def test_reset_empties_firestore(stack: StackHandle) -> None:
    message_id = stack.pubsub().publish("e2e-orders", b"before reset")
    wait_for(
        lambda: stack.firestore().get(f"e2e_deliveries/{message_id}"),
        timeout=30,
        what="a document to exist before the reset",
    )
    result = stack.cli("reset")
    assert result.returncode == 0, result.stderr
    assert stack.firestore().get(f"e2e_deliveries/{message_id}") is None
    remaining = stack.firestore().list("e2e_deliveries")
    # Only scheduler ticks can arrive between the reset and this read.
    assert all(d["topic"] == "e2e-ticks" for d in remaining)
    assert stack.firestore().list("e2e_attempts") == []


def test_emulator_ports_of_another_stack_are_refused(stack: StackHandle) -> None:
    intruder = dataclasses.replace(
        secondary_stack(stack), project_id=f"demo-intruder-{uuid.uuid4().hex[:6]}"
    )
    intruder = dataclasses.replace(intruder, firestore_port=stack.firestore_port)
    result = intruder.cli("up", timeout=120)
    assert result.returncode == 1
    assert f"port {stack.firestore_port}" in result.stderr
    assert "not part of it" in result.stderr
    assert not intruder.state_path.exists()
    assert _status(stack)[0] == 0


def test_two_stacks_run_side_by_side_and_the_second_goes_down_cleanly(
    stack: StackHandle,
) -> None:
    second = secondary_stack(stack)
    if second.state_path.exists():
        second.cli("down")
    result = second.cli("up")
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        # One mail sink serves both: the second stack uses it and does not own it.
        assert f"using the mail sink already on port {mail_sink.DEFAULT_SINK_PORT}" in (
            result.stdout
        )
        assert "mail_sink" not in {p["name"] for p in second.state()["processes"]}
        for handle in (stack, second):
            code, report = _status(handle)
            assert code == 0, report
            reply = http("GET", f"{handle.gateway_url}/v1/health/ready")
            assert reply.status == 200, reply.body
        # Each stack's events stay in its own emulators.
        message_id = second.pubsub().publish("e2e-orders", b"second stack")
        wait_for(
            lambda: second.firestore().get(f"e2e_deliveries/{message_id}"),
            timeout=30,
            what="push delivery on the second stack",
        )
        emulator_pgids = {
            p["name"]: p["pgid"] for p in second.state()["processes"] if p["role"] == "emulator"
        }
        again = second.cli("up")  # re-running up keeps the emulators, restarts the rest
        assert again.returncode == 0, again.stdout + again.stderr
        assert "reusing the running firestore emulator" in again.stdout
        assert {
            p["name"]: p["pgid"] for p in second.state()["processes"] if p["role"] == "emulator"
        } == emulator_pgids
        assert second.firestore().get(f"e2e_deliveries/{message_id}") is not None
        assert _status(second)[0] == 0
    finally:
        bring_down(second)
    assert _status(second)[0] == 1
    assert _status(stack)[0] == 0
    assert mail_sink.answers_as_mail_sink(mail_sink.SINK_HOST, mail_sink.DEFAULT_SINK_PORT)


def test_down_cleans_up_after_a_crashed_up(stack: StackHandle) -> None:
    crashed = shifted_stack(stack, 2, "c")
    if crashed.state_path.exists():
        crashed.cli("down")
    up = subprocess.Popen(
        [sys.executable, "-m", "emulator", "up", *crashed.flags()],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: (
                crashed.state_path.exists()
                and len(json.loads(crashed.state_path.read_text())["processes"]) >= 2
            ),
            timeout=240,  # the machine may be busy: gcloud alone takes seconds to start
            what="up to record its emulators",
        )
    finally:
        up.send_signal(signal.SIGKILL)  # no chance to clean up after itself
        up.wait()
    state = crashed.state()
    assert [p for p in state["processes"] if p["role"] == "emulator"]
    time.sleep(0.5)
    result = crashed.cli("down")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not crashed.state_path.exists()
    assert leftovers(state) == []


def test_foreground_up_takes_everything_down_on_ctrl_c(stack: StackHandle, tmp_path: Path) -> None:
    attached = shifted_stack(stack, 3, "f")
    if attached.state_path.exists():
        attached.cli("down")
    output_path = tmp_path / "up.out"
    with output_path.open("w") as output_file:
        up = subprocess.Popen(
            [sys.executable, "-m", "emulator", "up", *attached.flags(), "--foreground"],
            cwd=REPO_ROOT,
            stdout=output_file,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        wait_for(
            lambda: "Ctrl-C stops the stack" in output_path.read_text() or up.poll() is not None,
            timeout=180,
            what="up --foreground to finish starting",
        )
        assert up.poll() is None, output_path.read_text()
        assert _status(attached)[0] == 0
        state = attached.state()
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
            attached.cli("down")
    output = output_path.read_text()
    assert up.returncode == 0, output
    assert f"stack '{attached.project_id}' is down" in output
    assert not attached.state_path.exists()
    assert leftovers(state) == []
