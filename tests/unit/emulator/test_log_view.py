"""Reading the stack's logs: following whole lines, filtering by request, rendering."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from emulator import log_view
from emulator.stack import follow_lines

LINE = json.dumps(
    {
        "severity": "ERROR",
        "message": "http.request",
        "time": "2026-12-03T11:12:13.456789Z",
        "status": 500,
        "path": "/v1/accounts",
        "correlation_id": "c-1",
        "logging.googleapis.com/labels": {"function": "accounts"},
    }
)


def test_a_json_line_is_rendered_with_time_severity_source_and_fields() -> None:
    rendered = log_view.render("accounts", LINE, colour=False)
    assert rendered.startswith("11:12:13.456 ERROR    [accounts] http.request  ")
    assert "status=500" in rendered and "path=/v1/accounts" in rendered
    assert "labels" not in rendered
    assert "\033[31m" in log_view.render("accounts", LINE, colour=True)


def test_plain_text_is_shown_as_it_is() -> None:
    assert log_view.render("gateway", "Serving on 8080", colour=True) == "[gateway] Serving on 8080"


def test_the_correlation_filter_keeps_one_requests_lines() -> None:
    assert log_view.keep(LINE, None)
    assert log_view.keep(LINE, "c-1")
    assert not log_view.keep(LINE, "c-2")
    assert not log_view.keep("not json", "c-1")
    labelled = json.dumps(
        {"message": "m", "logging.googleapis.com/labels": {"correlation_id": "c-9"}}
    )
    assert log_view.keep(labelled, "c-9")


def test_following_yields_only_whole_lines_as_they_are_written(tmp_path: Path) -> None:
    log = tmp_path / "journal.log"
    log.write_text("old 1\nold 2\n")
    lines = follow_lines([log], 1, True, poll_seconds=0.01)
    assert next(lines) == ("journal", "old 2")
    got: list[tuple[str, str]] = []
    done = threading.Event()

    def read() -> None:
        for item in lines:
            got.append(item)
            if len(got) == 2:
                done.set()
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    with log.open("a") as handle:
        handle.write("new ")
        handle.flush()
        handle.write("line\nnext\n")
    assert done.wait(10)
    assert got == [("journal", "new line"), ("journal", "next")]


def test_the_tail_breaks_lines_at_newlines_only(tmp_path: Path) -> None:
    # A JSON string may hold U+2028 or U+0085 raw; str.splitlines() broke the line there.
    log = tmp_path / "webhooks.log"
    raw_breaks = json.dumps({"path": "/v1/x\u2028y\x85z"}, ensure_ascii=False)
    log.write_text(f"first\n{raw_breaks}\n", encoding="utf-8")
    lines = list(follow_lines([log], 2, False))
    assert lines == [("webhooks", "first"), ("webhooks", raw_breaks)]
    assert json.loads(lines[1][1]) == {"path": "/v1/x\u2028y\x85z"}
