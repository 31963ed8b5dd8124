"""The stack's mail sink: the part that receives every email the functions send.

The functions' transport URL names one fixed address (``mail_sink.default_transport_url``),
so one sink serves every stack on the machine. ``up`` starts it there as a part of its
own (``mail_sink``, stopped by this stack's ``down``), or, when a mail sink already
answers there (another stack's, or ``python -m emulator mail-sink``), uses that one
without owning it. Anything else on that port is a conflict: emails would go to it.
"""

from __future__ import annotations

import subprocess
from enum import Enum

from emulator import mail_sink
from emulator.launch import helper_command, helper_env
from emulator.processes import port_open, start_detached
from emulator.progress import Progress
from emulator.settings import StackConfig
from emulator.state import ProcessRecord, StackState, save_state

NAME = "mail_sink"
HOST = mail_sink.SINK_HOST
PORT = mail_sink.DEFAULT_SINK_PORT


class SinkPlacement(Enum):
    KEEP = "keep"  # this stack's sink of a previous run still answers
    START = "start"  # nothing listens there: start one, owned by this stack
    REUSE = "reuse"  # a mail sink of someone else answers: use it, never stop it
    CONFLICT = "conflict"  # something that is not a mail sink listens there


class MailSinkConflictError(RuntimeError):
    """The sink's port is taken by a process that is not a mail sink."""


def place_sink(*, recorded: bool, port_taken: bool, answers_as_sink: bool) -> SinkPlacement:
    """Where this stack's emails go, from what runs on the sink's port."""
    if recorded:
        return SinkPlacement.KEEP
    if not port_taken:
        return SinkPlacement.START
    return SinkPlacement.REUSE if answers_as_sink else SinkPlacement.CONFLICT


def conflict_message(host: str, port: int) -> str:
    return (
        f"port {port} on {host} (the local mail sink, where the functions send email: "
        f"http://{host}:{port}{mail_sink.MESSAGES_PATH}) is in use by a process that is not "
        "a mail sink. Stop that process and run up again."
    )


def placement(state: StackState) -> SinkPlacement:
    """Probe the sink's port; ``state`` holds the sink kept from a previous run, if any."""
    taken = port_open(HOST, PORT)
    return place_sink(
        recorded=state.find(NAME) is not None,
        port_taken=taken,
        answers_as_sink=taken and mail_sink.answers_as_mail_sink(HOST, PORT),
    )


def start_sink(config: StackConfig, state: StackState) -> subprocess.Popen[bytes]:
    """Start the sink as a part of the stack and record its process group."""
    log_path = config.log_dir / f"{NAME}.log"
    process = start_detached(
        helper_command("_mail_sink", "--port", str(PORT), "--host", HOST),
        log_path=log_path,
        env=helper_env(config),
        cwd=config.repo_root,
    )
    state.put(
        ProcessRecord(
            name=NAME,
            role="mail_sink",
            pgid=process.pid,
            port=PORT,
            log=str(log_path),
            markers=[f"_mail_sink --port {PORT} "],
        )
    )
    save_state(config.state_path, state)
    return process


def answers(port: int | None = None) -> bool:
    """A mail sink answers on ``port`` (the sink's fixed port by default)."""
    return mail_sink.answers_as_mail_sink(HOST, PORT if port is None else port)


def start_or_reuse(
    config: StackConfig, state: StackState, progress: Progress
) -> subprocess.Popen[bytes] | None:
    """Start the stack's mail sink, or use the one already there; the started process.

    Called before anything else starts, so a conflict leaves nothing behind.
    """
    where = placement(state)
    if where is SinkPlacement.CONFLICT:
        raise MailSinkConflictError(conflict_message(HOST, PORT))
    if where is SinkPlacement.REUSE:
        state.shared_mail_sink = mail_sink.mailbox_url(HOST, PORT)
        save_state(config.state_path, state)
        progress.line(
            f"{NAME}: using the mail sink already on port {PORT} "
            "(not part of this stack: its down leaves it running)"
        )
        return None
    if where is SinkPlacement.START:
        progress.starting(NAME, f"on port {PORT}")
        return start_sink(config, state)
    return None  # kept from the previous run (``up`` said so when it carried it over)
