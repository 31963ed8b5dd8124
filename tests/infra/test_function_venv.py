"""function_venv: one virtualenv per distinct requirements.txt, installed with hashes required.

These tests install real packages with uv (from its cache when it has them).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker

from infra.package import (
    VENV_INSTALLED_MARKER,
    VENVS_DIR,
    PackagingError,
    function_venv,
    main,
    package,
    read_lock,
)

UV = str(Path(sys.executable).parent / "uv")
SIX = read_lock().packages["six"]  # one small wheel without dependencies


def _uv(*args: str, venv: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [UV, "pip", *args, "--python", str(venv / "bin" / "python")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_functions_with_identical_requirements_share_one_complete_venv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build = tmp_path / "build"
    # health and dead_letters list the same requirements in the manifest.
    package(["health", "dead_letters"], out_dir=build)
    requirements = (build / "health" / "requirements.txt").read_bytes()
    assert requirements == (build / "dead_letters" / "requirements.txt").read_bytes()
    digest = hashlib.sha256(requirements).hexdigest()
    expected = build / VENVS_DIR / digest[:16]
    expected.mkdir(parents=True)
    (expected / "left-by-an-interrupted-install").write_text("")

    assert main(["health", "dead_letters", "--out", str(build), "--venvs"]) == 0
    out = capsys.readouterr().out
    assert f"health: {expected}" in out
    assert f"dead_letters: {expected}" in out
    assert sorted(p.name for p in (build / VENVS_DIR).iterdir() if p.is_dir()) == [expected.name]
    assert not (expected / "left-by-an-interrupted-install").exists()
    assert (expected / VENV_INSTALLED_MARKER).read_text().strip() == digest
    assert os.access(expected / "bin" / "functions-framework", os.X_OK)

    freeze = _uv("freeze", venv=expected)
    assert freeze.returncode == 0, freeze.stderr
    pins = {
        p.pin.split(" ;")[0]
        for p in read_lock(build / "health" / "requirements.txt").packages.values()
        if not p.marker or Marker(p.marker).evaluate()
    }
    assert set(freeze.stdout.split()) == pins
    check = _uv("check", venv=expected)
    assert check.returncode == 0, check.stdout + check.stderr

    marker_time = (expected / VENV_INSTALLED_MARKER).stat().st_mtime_ns
    assert function_venv(build, "health") == expected
    assert (expected / VENV_INSTALLED_MARKER).stat().st_mtime_ns == marker_time


@pytest.mark.parametrize(
    ("requirements", "message"),
    [
        (f"{SIX.pin} \\\n    --hash=sha256:{'0' * 64}\n", "Hash mismatch"),
        (f"{SIX.pin}\n", "must have a hash"),
    ],
    ids=["wrong-hash", "no-hash"],
)
def test_only_hash_checked_packages_are_installed(
    tmp_path: Path, requirements: str, message: str
) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "requirements.txt").write_text(requirements)
    with pytest.raises(PackagingError, match=message):
        function_venv(tmp_path, "demo")
    assert not list((tmp_path / VENVS_DIR).glob(f"*/{VENV_INSTALLED_MARKER}"))
    # The same file with the right hash installs, so the refusal above was the hash.
    (folder / "requirements.txt").write_text("\n".join(SIX.requirement_lines()) + "\n")
    venv = function_venv(tmp_path, "demo")
    assert _uv("freeze", venv=venv).stdout.split() == [SIX.pin]


def test_a_function_that_is_not_packaged_has_no_venv(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="package health first"):
        function_venv(tmp_path, "health")
