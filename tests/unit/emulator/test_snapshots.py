"""``down --export`` / ``up --import``: which folders are accepted, before anything runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from emulator.snapshots import SnapshotError, check_export_target, find_export


def _export(folder: Path, name: str = "firestore") -> Path:
    """The layout the Firestore emulator writes for one export."""
    folder.mkdir(parents=True)
    (folder / "all_namespaces" / "all_kinds").mkdir(parents=True)
    metadata = folder / f"{name}.overall_export_metadata"
    metadata.write_bytes(b"\x00")
    return metadata


def test_find_export_takes_the_folder_down_export_writes(tmp_path: Path) -> None:
    metadata = _export(tmp_path / "kept" / "firestore")
    assert find_export(tmp_path / "kept") == metadata.resolve()


def test_find_export_takes_an_emulator_export_folder_itself(tmp_path: Path) -> None:
    metadata = _export(tmp_path / "snapshot", "2026-12-03")
    assert find_export(tmp_path / "snapshot") == metadata.resolve()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "missing", "no such directory"),
        (lambda root: (root / "file").write_text("x") and root / "file", "not a directory"),
        (lambda root: (root / "empty").mkdir() or root / "empty", "not a Firestore export"),
    ],
    ids=["missing", "a-file", "empty"],
)
def test_find_export_refuses_what_is_no_export(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    folder = make(tmp_path)
    with pytest.raises(SnapshotError, match=message) as refused:
        find_export(folder)
    assert str(folder) in str(refused.value)
    assert "down --export" in str(refused.value)


def test_find_export_refuses_two_exports_in_one_folder(tmp_path: Path) -> None:
    _export(tmp_path / "both" / "a", "a")
    (tmp_path / "both" / "a" / "a.overall_export_metadata").rename(
        tmp_path / "both" / "a.overall_export_metadata"
    )
    (tmp_path / "both" / "b.overall_export_metadata").write_bytes(b"\x00")
    with pytest.raises(SnapshotError, match="more than one export"):
        find_export(tmp_path / "both")


def test_export_target_may_be_new_or_hold_an_earlier_export(tmp_path: Path) -> None:
    assert check_export_target(tmp_path / "new" / "nested") == (tmp_path / "new" / "nested")
    _export(tmp_path / "earlier" / "firestore")
    assert check_export_target(tmp_path / "earlier") == tmp_path / "earlier"


def test_export_target_never_replaces_something_that_is_no_export(tmp_path: Path) -> None:
    (tmp_path / "mine" / "firestore").mkdir(parents=True)
    (tmp_path / "mine" / "firestore" / "notes.txt").write_text("keep me")
    with pytest.raises(SnapshotError, match="is not an export"):
        check_export_target(tmp_path / "mine")
    assert (tmp_path / "mine" / "firestore" / "notes.txt").read_text() == "keep me"
    (tmp_path / "plain").write_text("x")
    with pytest.raises(SnapshotError, match="not a directory"):
        check_export_target(tmp_path / "plain")
    with pytest.raises(SnapshotError, match="not a directory"):
        check_export_target(tmp_path / "plain" / "below")
