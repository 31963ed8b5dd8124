"""Start, probe and stop the official Firestore and Pub/Sub emulators.

The ``gcloud ... emulators ... start`` wrapper leaves its Java child running when
it is killed, so every emulator is started in a process group of its own and
stopped by signalling the whole group.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "Install the Google Cloud CLI with its emulator components: Debian packages "
    "'google-cloud-cli', 'google-cloud-cli-firestore-emulator' and "
    "'google-cloud-cli-pubsub-emulator' (from Google's apt repository), or "
    "'gcloud components install cloud-firestore-emulator pubsub-emulator beta'. "
    "Both emulators also need Java 17+ (Debian package 'openjdk-17-jre-headless')."
)


class EmulatorUnavailableError(RuntimeError):
    """The machine lacks something an emulator needs; the message says what to install."""


@dataclass(frozen=True, slots=True)
class EmulatorSpec:
    name: str  # "firestore" or "pubsub"
    component_path: str  # below the SDK root, proves the component is installed
    gcloud_args: tuple[str, ...]

    def command(self, gcloud: str, host: str, port: int, project_id: str) -> list[str]:
        return [gcloud, *self.gcloud_args, f"--host-port={host}:{port}", f"--project={project_id}"]


FIRESTORE = EmulatorSpec(
    "firestore",
    "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar",
    ("beta", "emulators", "firestore", "start"),
)
PUBSUB = EmulatorSpec(
    "pubsub",
    "platform/pubsub-emulator",
    ("beta", "emulators", "pubsub", "start"),
)


def find_gcloud() -> tuple[str, Path]:
    """Return the gcloud executable and the SDK root, or explain what is missing."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise EmulatorUnavailableError(f"'gcloud' is not on PATH. {INSTALL_HINT}")
    sdk_root = Path(gcloud).resolve().parent.parent
    return gcloud, sdk_root


def check_prerequisites(*specs: EmulatorSpec) -> str:
    """Fail with an install hint unless gcloud, the emulator components and Java exist."""
    gcloud, sdk_root = find_gcloud()
    missing = [s.name for s in specs if not (sdk_root / s.component_path).exists()]
    if missing:
        raise EmulatorUnavailableError(
            f"gcloud at {gcloud} lacks the emulator component(s): {', '.join(missing)}. "
            f"{INSTALL_HINT}"
        )
    if shutil.which("java") is None:
        raise EmulatorUnavailableError(
            "Java is not on PATH; the emulators need Java 17+ "
            "(Debian package 'openjdk-17-jre-headless')."
        )
    return gcloud


def is_answering(host: str, port: int, timeout: float = 1.0) -> bool:
    """Both emulators answer ``GET /`` with ``Ok`` once they serve requests."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass(slots=True)
class RunningEmulator:
    spec: EmulatorSpec
    host: str
    port: int
    pgid: int
    log_path: Path

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def start_emulator(
    spec: EmulatorSpec,
    *,
    port: int,
    project_id: str,
    log_dir: Path,
    host: str = "127.0.0.1",
    timeout_seconds: float = 90.0,
) -> RunningEmulator:
    """Start ``spec`` in a new process group and wait until it answers."""
    running, process = launch_emulator(
        spec, port=port, project_id=project_id, log_dir=log_dir, host=host
    )
    wait_for_emulator(running, process, timeout_seconds)
    return running


def launch_emulator(
    spec: EmulatorSpec,
    *,
    port: int,
    project_id: str,
    log_dir: Path,
    host: str = "127.0.0.1",
) -> tuple[RunningEmulator, subprocess.Popen[bytes]]:
    """Start ``spec`` in a new process group without waiting.

    Callers that must record the process group before the (slow) start finishes,
    so that a crash while waiting leaves nothing untracked, use this and then
    :func:`wait_for_emulator`.
    """
    gcloud = check_prerequisites(spec)
    if is_answering(host, port):
        raise RuntimeError(f"something already answers on {host}:{port}; pick another port")
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{spec.name}-{port}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            spec.command(gcloud, host, port, project_id),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the Java child dies with it
        )
    return RunningEmulator(spec, host, port, process.pid, log_path), process


def wait_for_emulator(
    running: RunningEmulator, process: subprocess.Popen[bytes], timeout_seconds: float = 90.0
) -> None:
    """Wait until a launched emulator answers; stop its group if it never does."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if is_answering(running.host, running.port):
            return
        if process.poll() is not None:
            tail = running.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{running.spec.name} emulator exited early:\n{tail}")
        time.sleep(0.25)
    stop_process_group(running.pgid)
    raise RuntimeError(f"{running.spec.name} emulator did not answer within {timeout_seconds:.0f}s")


def process_group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process_group(pgid: int, grace_seconds: float = 10.0) -> None:
    """SIGTERM the whole group, then SIGKILL whatever is left after the grace period."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if not process_group_alive(pgid):
            _reap(pgid)
            return
        _reap(pgid)
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
    time.sleep(0.2)
    _reap(pgid)


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def clear_firestore(address: str, project_id: str, database: str = "(default)") -> None:
    """Delete every document through the emulator's reset endpoint."""
    url = f"http://{address}/emulator/v1/projects/{project_id}/databases/{database}/documents"
    request = urllib.request.Request(url, method="DELETE")
    with urllib.request.urlopen(request, timeout=10) as resp:
        if resp.status != 200:
            raise RuntimeError(f"Firestore emulator reset answered {resp.status}")
