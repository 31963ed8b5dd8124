"""requirements.lock: the hashed pins of the whole dependency tree, and how make uses it."""

from __future__ import annotations

import subprocess
import tomllib
from importlib import metadata

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.version import Version

from infra.package import LOCK_PATH, canonical_name, read_lock
from tests.infra.conftest import REPO_ROOT


def _pyproject_pins() -> dict[str, Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = [*project["dependencies"]]
    for group in project["optional-dependencies"].values():
        lines.extend(group)
    return {canonical_name(Requirement(line).name): Requirement(line) for line in lines}


def test_the_lock_pins_every_pyproject_pin_at_the_same_version() -> None:
    lock = read_lock()  # also proves every entry is an exact pin with hashes
    for name, requirement in _pyproject_pins().items():
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"pyproject.toml pins {requirement} loosely"
        assert name in lock.packages, f"{name} is missing from the lock; run `make lock`"
        assert lock.packages[name].version == specifier.version, (
            f"pyproject.toml pins {requirement} but the lock {lock.packages[name].pin}; "
            "run `make lock`"
        )


def test_every_locked_package_is_needed_by_a_pyproject_pin() -> None:
    lock = read_lock()
    reachable = {p.name for p in lock.closure(_pyproject_pins())}
    assert reachable == set(lock.packages), "stale entries; run `make lock`"


def test_every_locked_package_is_installed_at_its_locked_version() -> None:
    """The venv the tests run in is the lock: nothing floats, nothing is left behind."""
    for package in read_lock().packages.values():
        if package.marker and not Marker(package.marker).evaluate():
            continue  # another platform's package (colorama on Windows)
        assert metadata.version(package.name) == package.version, (
            f"{package.name}: installed {metadata.version(package.name)}, locked "
            f"{package.version}; run `make install`"
        )


def test_the_locked_gunicorn_opens_no_control_socket() -> None:
    """Gunicorn 25.1 added a control socket at a fixed path ($HOME/.gunicorn/gunicorn.ctl)
    that every local function process would claim and unlink; functions-framework starts
    gunicorn with no way to disable it, so the lock holds an older gunicorn that
    functions-framework still accepts."""
    gunicorn = read_lock().packages["gunicorn"]
    assert Version(gunicorn.version) < Version("25.1")
    framework = [
        Requirement(line)
        for line in metadata.requires("functions-framework") or []
        if Requirement(line).name == "gunicorn"
    ]
    assert framework, "functions-framework no longer requires gunicorn"
    assert all(r.specifier.contains(gunicorn.version) for r in framework)


def _dry_run(target: str) -> str:
    completed = subprocess.run(
        ["make", "--dry-run", "--always-make", target, "VENV=.venv-dry-run"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return completed.stdout


def test_make_install_installs_only_the_lock_with_hashes() -> None:
    commands = _dry_run("install")
    installs = [line for line in commands.splitlines() if " pip " in line]
    assert installs == [
        f".venv-dry-run/bin/python -m pip install --quiet --require-hashes "
        f"--requirement {LOCK_PATH.name}"
    ]
    stamp = subprocess.run(
        ["sha1sum", LOCK_PATH.name], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout[:12]
    assert f"touch .venv-dry-run/.installed-{stamp}" in commands


def test_make_test_installs_checkov_itself() -> None:
    assert "infra/install-checkov.sh" in _dry_run("test")


def test_the_lock_header_names_the_command_that_regenerates_it() -> None:
    header = LOCK_PATH.read_text(encoding="utf-8").splitlines()[:2]
    assert header[1].strip("# ") == "make lock"
    recipe = _dry_run("lock")
    assert "uv pip compile pyproject.toml --extra dev" in recipe
    assert "--generate-hashes" in recipe
    assert f"--output-file {LOCK_PATH.name}" in recipe
