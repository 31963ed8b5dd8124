"""The options of ``up`` and ``down`` for keeping data and watching code."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.__main__ import build_parser, main


def test_export_import_and_watch_options_parse() -> None:
    parser = build_parser()
    down = parser.parse_args(["down", "--export", "kept"])
    assert down.export_to == Path("kept")
    up = parser.parse_args(["up", "--import", "kept", "--watch"])
    assert (up.import_from, up.watch) == (Path("kept"), True)
    plain = parser.parse_args(["up"])
    assert (plain.import_from, plain.watch) == (None, False)
    assert parser.parse_args(["down"]).export_to is None


def test_watch_with_from_build_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = "demo-watch-refused"
    # A manifest that does not exist: had the refusal not come first, up would fail on it.
    missing = str(tmp_path / "manifest.yaml")
    code = main(["up", "--watch", "--from-build", "--project", project, "--manifest", missing])
    assert code == 1
    assert "--watch restarts functions from the source tree" in capsys.readouterr().err
    assert not (Path(__file__).resolve().parents[3] / ".local" / f"stack-{project}.json").exists()


def test_import_of_a_missing_folder_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = "demo-import-refused"
    missing = str(tmp_path / "manifest.yaml")
    code = main(
        ["up", "--project", project, "--manifest", missing, "--import", str(tmp_path / "none")]
    )
    assert code == 1
    assert "no such directory" in capsys.readouterr().err
    assert not (Path(__file__).resolve().parents[3] / ".local" / f"stack-{project}.json").exists()


def test_export_without_a_running_stack_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["down", "--project", "demo-export-refused", "--export", str(tmp_path / "kept")])
    assert code == 1
    assert "nothing to export" in capsys.readouterr().err
    assert not (tmp_path / "kept").exists()
