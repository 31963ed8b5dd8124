"""Process groups and ports: start detached, probe, stop, and prove nothing is left.

Every part of the stack runs in a process group of its own (gunicorn's workers,
the emulators' Java children), so a group is the unit that is started, checked
and stopped. Orphaned processes are reaped by whoever adopts them, which may be
late or never inside a container: a zombie counts as gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class GroupMember:
    pid: int
    state: str
    cmdline: str
    # " NAME=value " for each variable: functions are started exactly as the cloud starts
    # them (a bare command, settings in the environment), so that is where they differ.
    environ: str = ""


def group_members(pgid: int) -> list[GroupMember]:
    """Live (non-zombie) processes of group ``pgid``."""
    if not _PROC.is_dir():
        return [GroupMember(pgid, "?", "")] if _signal_reaches(pgid) else []
    members: list[GroupMember] = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # it exited while we looked
        # The command name in field 2 may hold spaces and parentheses: split after the last ")".
        fields = stat[stat.rfind(")") + 2 :].split()
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            # NUL-separated arguments, each followed by one space, so that a marker
            # ending in a space never matches a longer argument ("--port 80" in "--port 8080").
            text = cmdline.replace(b"\0", b" ").decode(errors="replace")
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                environ = b""
            variables = " " + environ.replace(b"\0", b" ").decode(errors="replace")
            members.append(GroupMember(int(entry.name), state, text, variables))
    return members


def _signal_reaches(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_alive(pgid: int) -> bool:
    return bool(group_members(pgid))


def group_matches(pgid: int, markers: Sequence[str]) -> bool:
    """True if a live member's command line or environment shows one of ``markers``.

    No markers: any live member. A marker such as ``" PORT=8700 "`` matches one
    variable exactly; ``"--port 8700 "`` one argument.
    """
    members = group_members(pgid)
    if not markers:
        return bool(members)
    return any(
        marker in member.cmdline or marker in member.environ
        for member in members
        for marker in markers
    )


def start_detached(
    command: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path,
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new session (so a new process group), output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )


def stop_groups(pgids: Iterable[int], grace_seconds: float = 10.0) -> None:
    """SIGTERM every group at once, then SIGKILL whatever outlives the grace period."""
    pending = [pgid for pgid in pgids if group_alive(pgid)]
    for pgid in pending:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while pending and time.monotonic() < deadline:
        for pgid in pending:
            _reap(pgid)
        pending = [pgid for pgid in pending if group_alive(pgid)]
        if pending:
            time.sleep(0.1)
    for pgid in pending:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while pending and time.monotonic() < deadline:
        for pgid in pending:
            _reap(pgid)
        pending = [pgid for pgid in pending if group_alive(pgid)]
        if pending:
            time.sleep(0.1)


def _reap(pid: int) -> None:
    """Collect our own child's exit status (only a child we started; others are no-ops)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The status ``GET url`` answers with (any status), or None if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def log_tail(path: Path, characters: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-characters:]
    except OSError:
        return "(no log)"


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def log_since(path: Path, offset: int) -> str:
    """What was appended to a log after ``offset`` (logs are appended to across runs)."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")
    except OSError:
        return ""
