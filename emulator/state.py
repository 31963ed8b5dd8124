"""The state file of a running stack: every process group and port it owns.

``up`` writes it as soon as each process starts (not only at the end), so that
``down`` can clean up after an ``up`` that crashed or was killed half-way.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

Role = Literal["emulator", "function", "gateway", "scheduler", "mail_sink"]
# The order in which ``down`` stops things: whatever calls the emulators goes first, and
# the mail sink only once no function can send an email any more.
STOP_ORDER: tuple[Role, ...] = ("function", "gateway", "scheduler", "mail_sink", "emulator")


@dataclass(slots=True)
class ProcessRecord:
    name: str
    role: Role
    pgid: int
    port: int | None
    log: str
    # Fragments of a command line, one of which a member of the group must show:
    # a recycled process group id then never leads ``down`` to signal a stranger.
    markers: list[str] = field(default_factory=list)
    kind: str = ""  # functions: "http" or "event"
    # How often this part was started again (``up --watch``) since the stack came up.
    restarts: int = 0


@dataclass(slots=True)
class StackState:
    project_id: str
    host: str
    gateway_port: int
    firestore_port: int
    pubsub_port: int
    functions_base_port: int
    manifest: str
    from_build: bool
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    # The mailbox URL of a mail sink the stack uses but did not start (another stack's,
    # or ``python -m emulator mail-sink``): never stopped by this stack's ``down``.
    shared_mail_sink: str | None = None
    processes: list[ProcessRecord] = field(default_factory=list)

    def find(self, name: str) -> ProcessRecord | None:
        return next((p for p in self.processes if p.name == name), None)

    def put(self, record: ProcessRecord) -> None:
        """Record a part; a new process group under a recorded name counts as a restart."""
        previous = self.find(record.name)
        if previous is not None:
            record.restarts = previous.restarts + int(previous.pgid != record.pgid)
        self.processes = [p for p in self.processes if p.name != record.name] + [record]

    def drop(self, name: str) -> None:
        self.processes = [p for p in self.processes if p.name != name]

    def in_stop_order(self) -> list[ProcessRecord]:
        return sorted(self.processes, key=lambda p: STOP_ORDER.index(p.role))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> StackState:
        processes = [ProcessRecord(**p) for p in raw.get("processes", [])]
        return cls(**{**raw, "processes": processes})


def load_state(path: Path) -> StackState | None:
    """The recorded stack, or None when there is none (an unreadable file is an error)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return StackState.from_json(json.loads(text))
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"state file {path} is unreadable ({exc}); remove it by hand") from None


def save_state(path: Path, state: StackState) -> None:
    """Write atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".tmp-{os.getpid()}")
    temporary.write_text(json.dumps(state.to_json(), indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def remove_state(path: Path) -> None:
    path.unlink(missing_ok=True)
