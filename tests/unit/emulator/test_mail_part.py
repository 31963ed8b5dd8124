"""The stack's mail sink: start one, reuse the one there, or refuse a stranger on its port."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from emulator import mail_part, stack
from emulator.mail_sink import Mailbox, MailNotReceivedError, MailSink, answers_as_mail_sink
from emulator.progress import Progress
from emulator.settings import StackConfig
from emulator.state import STOP_ORDER, ProcessRecord, StackState, load_state, save_state

Placement = mail_part.SinkPlacement


@pytest.mark.parametrize(
    ("recorded", "port_taken", "answers_as_sink", "expected"),
    [
        (True, True, True, Placement.KEEP),
        (False, False, False, Placement.START),
        (False, True, True, Placement.REUSE),
        (False, True, False, Placement.CONFLICT),
    ],
)
def test_the_placement_follows_what_runs_on_the_sink_port(
    recorded: bool, port_taken: bool, answers_as_sink: bool, expected: Placement
) -> None:
    assert (
        mail_part.place_sink(
            recorded=recorded, port_taken=port_taken, answers_as_sink=answers_as_sink
        )
        is expected
    )


def test_the_conflict_message_names_the_port_and_the_transport_url() -> None:
    message = mail_part.conflict_message("127.0.0.1", 8791)
    assert "port 8791" in message
    assert "http://127.0.0.1:8791/messages" in message
    assert "not a mail sink" in message


class _NotASink(BaseHTTPRequestHandler):
    """Some other web server: it even answers 200 with a JSON list at the mailbox path."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        payload = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextlib.contextmanager
def _stranger() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotASink)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _state(tmp_path: Path) -> tuple[StackConfig, StackState]:
    config = StackConfig(project_id="demo-mail-part", repo_root=tmp_path)
    state = StackState(
        project_id=config.project_id,
        host="127.0.0.1",
        gateway_port=1,
        firestore_port=2,
        pubsub_port=3,
        functions_base_port=4,
        manifest="m.yaml",
        from_build=False,
    )
    return config, state


def test_a_mail_sink_is_told_apart_from_another_server_and_a_closed_port() -> None:
    with MailSink(port=0) as sink:
        assert answers_as_mail_sink(sink.host, sink.port)
    with _stranger() as port:
        assert not answers_as_mail_sink("127.0.0.1", port)
    assert not answers_as_mail_sink("127.0.0.1", _free_port())


def test_up_reuses_a_running_sink_without_owning_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, state = _state(tmp_path)
    lines: list[str] = []
    with MailSink(port=0) as sink:
        monkeypatch.setattr(mail_part, "PORT", sink.port)
        assert mail_part.placement(state) is Placement.REUSE
        assert mail_part.start_or_reuse(config, state, Progress(lines.append)) is None
        assert state.processes == []  # nothing recorded: down never stops it
        assert state.shared_mail_sink == sink.url("/_mail")
        assert load_state(config.state_path) == state
        assert any(f"already on port {sink.port}" in line for line in lines)
        (status,) = stack.component_statuses(state)
        assert (status.name, status.owned, status.pgid, status.healthy) == (
            "mail_sink",
            False,
            None,
            True,
        )
    (gone,) = stack.component_statuses(state)
    assert not gone.healthy  # the sink it used stopped: status says so


def test_up_refuses_a_stranger_on_the_sink_port_and_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, state = _state(tmp_path)
    with _stranger() as port:
        monkeypatch.setattr(mail_part, "PORT", port)
        with pytest.raises(mail_part.MailSinkConflictError, match=f"port {port}"):
            mail_part.start_or_reuse(config, state, Progress(lambda line: None))
    assert state.processes == [] and state.shared_mail_sink is None
    assert not config.state_path.exists()


def test_a_free_port_means_start_and_a_recorded_sink_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config, state = _state(tmp_path)
    monkeypatch.setattr(mail_part, "PORT", _free_port())
    assert mail_part.placement(state) is Placement.START
    state.put(ProcessRecord("mail_sink", "mail_sink", 42, mail_part.PORT, "m.log"))
    assert mail_part.placement(state) is Placement.KEEP


def test_the_sink_stops_after_the_functions_and_before_the_emulators() -> None:
    assert STOP_ORDER.index("function") < STOP_ORDER.index("mail_sink")
    assert STOP_ORDER.index("mail_sink") < STOP_ORDER.index("emulator")


def test_a_shared_sink_survives_the_state_file(tmp_path: Path) -> None:
    config, state = _state(tmp_path)
    state.shared_mail_sink = "http://127.0.0.1:8791/_mail"
    save_state(config.state_path, state)
    loaded = load_state(config.state_path)
    assert loaded is not None and loaded.shared_mail_sink == state.shared_mail_sink


def _post(sink: MailSink, to: str, kind: str, text: str) -> None:
    email = {"to": to, "type": kind, "subject": "s", "text": text}
    assert requests.post(sink.url(), json=email, timeout=5).status_code == 202


def test_the_mailbox_waits_for_new_email_to_one_recipient() -> None:
    with MailSink(port=0) as sink:
        mailbox = sink.mailbox()
        _post(sink, "grace@example.com", "user.invited", "old")
        seen = mailbox.mark()
        assert seen == 1
        _post(sink, "ada@example.com", "user.invited", "not hers")
        _post(sink, "grace@example.com", "user.password_reset_requested", "new")
        mail = mailbox.wait_for("grace@example.com", after=seen, timeout=5)
        assert mail["text"] == "new"
        typed = mailbox.wait_for("grace@example.com", mail_type="user.invited", timeout=5)
        assert typed["text"] == "old"
        with pytest.raises(MailNotReceivedError, match=r"grace@example\.com"):
            mailbox.wait_for("grace@example.com", after=3, timeout=0.5, poll=0.1)
        assert [m.message["to"] for m in mailbox.received()] == [
            "grace@example.com",
            "ada@example.com",
            "grace@example.com",
        ]


def test_an_emptied_mailbox_counts_every_email_as_new() -> None:
    with MailSink(port=0) as sink:
        mailbox = Mailbox(sink.url("/_mail"))
        _post(sink, "a@example.com", "t", "one")
        _post(sink, "a@example.com", "t", "two")
        seen = mailbox.mark()
        assert requests.delete(sink.url("/_mail"), timeout=5).status_code == 204
        _post(sink, "a@example.com", "t", "three")
        assert mailbox.wait_for("a@example.com", after=seen, timeout=5)["text"] == "three"


def test_the_dashboard_lists_a_shared_sink_without_a_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emulator.dashboard.sources import DashboardConfig, DashboardSources
    from tests.unit.emulator.support import make_manifest

    config, state = _state(tmp_path)
    state.put(ProcessRecord("gateway", "gateway", 2**22 + 1, 1, "g.log"))
    with MailSink(port=0) as sink:
        monkeypatch.setattr(mail_part, "PORT", sink.port)
        mail_part.start_or_reuse(config, state, Progress(lambda line: None))
        dashboard = DashboardSources(
            DashboardConfig(
                project_id=config.project_id,
                manifest=make_manifest(),
                stack=config,
                firestore_address="127.0.0.1:1",
                pubsub_address="127.0.0.1:1",
            ),
            db=object(),
        )
        components = {c["name"]: c for c in dashboard.functions()["components"]}
    assert components["mail_sink"]["owned"] is False
    assert components["mail_sink"]["healthy"] is True
    assert components["mail_sink"]["log"] is None and components["mail_sink"]["pgid"] is None
    assert components["gateway"]["owned"] is True and components["gateway"]["log"] == "g"
