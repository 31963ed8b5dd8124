"""infra/package.py: per-function source trees and reproducible archives."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from infra.package import (
    ZIP_TIMESTAMP,
    PackagedFunction,
    PackagingError,
    canonical_name,
    main,
    package,
    package_function,
    pinned_requirements,
    requirements_for,
)
from shared.topology import Function, load_manifest
from tests.infra.conftest import REPO_ROOT

PYPROJECT = """
[project]
name = "demo"
dependencies = [
  "functions-framework==3.10.2",
  "PyJWT[crypto]==2.15.1",
  "loose-lib>=1.0",
]

[project.optional-dependencies]
dev = ["pytest==9.2.0"]
"""


def _function(
    name: str = "demo", requirements: tuple[str, ...] = ("functions-framework",)
) -> Function:
    return Function(
        name=name,
        kind="http",
        description="demo",
        routes=({"method": "GET", "path": "/v1/demo"},),  # type: ignore[arg-type]
        requirements=requirements,
    )


@pytest.fixture
def demo_repo(tmp_path: Path) -> Path:
    """A minimal repository: one function, a shared/ with tests and caches to leave out."""
    root = tmp_path / "repo"
    (root / "functions" / "demo" / "templates").mkdir(parents=True)
    (root / "functions" / "demo" / "main.py").write_text("def handle(request):\n    return 'ok'\n")
    (root / "functions" / "demo" / "templates" / "page.txt").write_text("hello\n")
    (root / "functions" / "demo" / "__pycache__").mkdir()
    (root / "functions" / "demo" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    (root / "shared" / "tests").mkdir(parents=True)
    (root / "shared" / "__init__.py").write_text("")
    (root / "shared" / "money.py").write_text("ZERO = 0\n")
    (root / "shared" / "tests" / "test_money.py").write_text("def test(): pass\n")
    (root / "shared" / "__pycache__").mkdir()
    (root / "shared" / "__pycache__" / "money.cpython-311.pyc").write_bytes(b"\0")
    (root / "pyproject.toml").write_text(PYPROJECT)
    return root


def _package_demo(repo: Path, out: Path, fn: Function | None = None) -> PackagedFunction:
    return package_function(
        fn or _function(), out_dir=out, repo_root=repo, pyproject=repo / "pyproject.toml"
    )


def test_the_archive_holds_the_function_shared_and_requirements_only(
    demo_repo: Path, tmp_path: Path
) -> None:
    result = _package_demo(demo_repo, tmp_path / "out")
    with zipfile.ZipFile(result.archive) as zf:
        names = zf.namelist()
    assert names == sorted(names)
    assert names == [
        "main.py",
        "requirements.txt",
        "shared/__init__.py",
        "shared/money.py",
        "templates/page.txt",
    ]
    tree = sorted(
        p.relative_to(result.folder).as_posix() for p in result.folder.rglob("*") if p.is_file()
    )
    assert tree == names
    requirements = (result.folder / "requirements.txt").read_text().splitlines()
    assert [r for r in requirements if not r.startswith("#")] == ["functions-framework==3.10.2"]


def test_archives_are_reproducible_and_change_only_with_content(
    demo_repo: Path, tmp_path: Path
) -> None:
    first = _package_demo(demo_repo, tmp_path / "a")
    main_py = demo_repo / "functions" / "demo" / "main.py"
    os.utime(main_py, (1_000_000_000, 1_000_000_000))
    (demo_repo / "shared" / "money.py").chmod(0o755)
    second = _package_demo(demo_repo, tmp_path / "b")
    assert first.archive.read_bytes() == second.archive.read_bytes()
    assert first.sha256 == second.sha256
    with zipfile.ZipFile(second.archive) as zf:
        for info in zf.infolist():
            assert info.date_time == ZIP_TIMESTAMP
            assert info.external_attr >> 16 == 0o100644
    main_py.write_text("def handle(request):\n    return 'changed'\n")
    third = _package_demo(demo_repo, tmp_path / "c")
    assert third.sha256 != first.sha256


def test_repackaging_replaces_the_previous_tree(demo_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _package_demo(demo_repo, out)
    (demo_repo / "functions" / "demo" / "templates" / "page.txt").unlink()
    result = _package_demo(demo_repo, out)
    assert not (result.folder / "templates" / "page.txt").exists()
    assert sorted(p.name for p in out.iterdir()) == ["demo", "demo.zip"]


def test_requirements_carry_pyproject_pins_with_extras(demo_repo: Path) -> None:
    pyproject = demo_repo / "pyproject.toml"
    fn = _function(requirements=("pyjwt", "functions_framework"))
    assert requirements_for(fn, pyproject) == [
        "functions-framework==3.10.2",
        "PyJWT[crypto]==2.15.1",
    ]


@pytest.mark.parametrize(
    ("requirement", "message"),
    [
        ("pytest", "development dependency"),
        ("left-pad", "is not a runtime dependency"),
        ("loose-lib", "not pinned with =="),
    ],
)
def test_requirements_pyproject_does_not_pin_are_rejected(
    demo_repo: Path, requirement: str, message: str
) -> None:
    with pytest.raises(PackagingError, match=message) as raised:
        requirements_for(_function(requirements=(requirement,)), demo_repo / "pyproject.toml")
    assert "demo" in str(raised.value)
    assert requirement in str(raised.value)


def test_a_requirement_listed_twice_is_rejected(demo_repo: Path) -> None:
    fn = _function(requirements=("PyJWT", "pyjwt"))
    with pytest.raises(PackagingError, match="listed twice"):
        requirements_for(fn, demo_repo / "pyproject.toml")


def test_a_function_without_main_py_is_rejected(demo_repo: Path, tmp_path: Path) -> None:
    (demo_repo / "functions" / "demo" / "main.py").unlink()
    with pytest.raises(PackagingError, match=r"functions/demo/main.py does not exist"):
        _package_demo(demo_repo, tmp_path / "out")


@pytest.mark.parametrize("clash", ["requirements.txt", "shared/x.py"])
def test_files_that_would_clash_with_generated_ones_are_rejected(
    demo_repo: Path, tmp_path: Path, clash: str
) -> None:
    target = demo_repo / "functions" / "demo" / clash
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("x\n")
    with pytest.raises(PackagingError, match="clash"):
        _package_demo(demo_repo, tmp_path / "out")


def test_every_real_function_requirement_is_pinned_by_pyproject() -> None:
    pins = pinned_requirements()
    runtime = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert len(pins) == len(runtime)
    for fn in load_manifest().functions:
        lines = requirements_for(fn)
        assert [canonical_name(line.split("==")[0].split("[")[0]) for line in lines] == sorted(
            canonical_name(r) for r in fn.requirements
        )
        for line in lines:
            assert line in runtime


def test_real_archives_contain_each_function_and_a_clean_shared(
    packaged: dict[str, PackagedFunction],
) -> None:
    manifest = load_manifest()
    assert set(packaged) == {f.name for f in manifest.functions}
    shared_files = sorted(
        f"shared/{p.relative_to(REPO_ROOT / 'shared').as_posix()}"
        for p in (REPO_ROOT / "shared").rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and "tests" not in p.relative_to(REPO_ROOT / "shared").parts
        and p.suffix not in (".pyc", ".pyo")
    )
    for fn in manifest.functions:
        with zipfile.ZipFile(packaged[fn.name].archive) as zf:
            names = zf.namelist()
        assert "main.py" in names
        assert [n for n in names if n.startswith("shared/")] == shared_files
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        requirements = (packaged[fn.name].folder / "requirements.txt").read_text()
        assert [line for line in requirements.splitlines() if not line.startswith("#")] == list(
            packaged[fn.name].requirements
        )


def test_only_named_functions_are_packaged_and_unknown_names_fail(tmp_path: Path) -> None:
    results = package(["health"], out_dir=tmp_path)
    assert [r.name for r in results] == ["health"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["health", "health.zip"]
    with pytest.raises(PackagingError, match="unknown function"):
        package(["no_such_function"], out_dir=tmp_path)


def test_cli_reports_errors_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["no_such_function", "--out", str(tmp_path)]) == 1
    assert "error: unknown function(s): no_such_function" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("invocation", [["infra/package.py"], ["-m", "infra.package"]])
def test_the_command_runs_from_the_repository_root(tmp_path: Path, invocation: list[str]) -> None:
    completed = subprocess.run(
        [sys.executable, *invocation, "health", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "health.zip").is_file()
    assert (tmp_path / "health" / "main.py").is_file()
