"""Every packaged archive imports in a fresh interpreter with only its own requirements.

Each requirements.txt pins the whole closure of the function's requirements; first
the installed metadata confirms it is closed (what the direct requirements need,
recursively with markers and extras evaluated, is all pinned there). Then, for each
distinct requirements.txt, a site directory is assembled from the project's
virtualenv holding exactly the distributions it pins (at the pinned versions).
Each file is linked from the distribution's RECORD, so a namespace package such as
``google`` carries only the parts that belong to the set. The archive then runs in
``python -I -S`` with ``sys.path`` limited to the archive, that site directory and
the standard library: an import that needs an undeclared distribution, or a module
from the repository, fails here as it would in the cloud build.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from infra.package import PackagedFunction, canonical_name, direct_requirements
from shared.topology import load_manifest

BOOTSTRAP = r"""
import importlib, inspect, site, sys
archive, site_dir, stdlib, platstdlib, entry_point = sys.argv[1:6]
sys.path.insert(0, archive)
site.addsitedir(site_dir)
module = importlib.import_module("main")
handler = getattr(module, entry_point, None)
if not callable(handler):
    sys.exit(f"main.{entry_point} is missing or not callable")
parameters = [
    p for p in inspect.signature(handler).parameters.values()
    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
]
if len(parameters) != 1:
    sys.exit(f"main.{entry_point} must take exactly one argument (the request or CloudEvent)")
allowed = (archive, site_dir, stdlib, platstdlib)
strays = sorted(
    f"{name} from {path}"
    for name, mod in list(sys.modules.items())
    if (path := getattr(mod, "__file__", None)) and not path.startswith(allowed)
)
if strays:
    sys.exit("modules loaded from outside the archive and its requirements: " + "; ".join(strays))
print("ok", len(sys.modules))
"""


def requirement_closure(requirements: list[str]) -> dict[str, metadata.Distribution]:
    """Installed distributions pip would install for these pinned requirements."""
    found: dict[str, metadata.Distribution] = {}
    expanded: set[tuple[str, str]] = set()  # (distribution, extra) already followed
    pending = [Requirement(line) for line in requirements]
    while pending:
        requirement = pending.pop()
        key = canonical_name(requirement.name)
        if key not in found:
            distribution = metadata.distribution(requirement.name)
            assert requirement.specifier.contains(distribution.version, prereleases=True), (
                f"the virtualenv has {requirement.name} {distribution.version}, which does not "
                f"satisfy {requirement.specifier}; run `make install`"
            )
            found[key] = distribution
        for extra in ("", *sorted(requirement.extras)):
            if (key, extra) in expanded:
                continue
            expanded.add((key, extra))
            for line in found[key].requires or []:
                child = Requirement(line)
                if child.marker is None:
                    applies = extra == ""
                else:
                    applies = child.marker.evaluate({"extra": extra})
                if applies:
                    extras = f"[{','.join(sorted(child.extras))}]" if child.extras else ""
                    pending.append(Requirement(f"{child.name}{extras}{child.specifier}"))
    return found


def pinned_distributions(pins: tuple[str, ...]) -> dict[str, metadata.Distribution]:
    """The installed distributions of a requirements.txt's pins that apply on this machine."""
    found: dict[str, metadata.Distribution] = {}
    for pin in pins:
        requirement = Requirement(pin)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        distribution = metadata.distribution(requirement.name)
        assert requirement.specifier.contains(distribution.version, prereleases=True), (
            f"the virtualenv has {requirement.name} {distribution.version}, not {pin}; "
            "run `make install`"
        )
        found[canonical_name(requirement.name)] = distribution
    return found


def build_site(distributions: dict[str, metadata.Distribution], target: Path) -> None:
    """Link every file the distributions installed into ``target`` (a site directory)."""
    for distribution in distributions.values():
        base = Path(str(distribution.locate_file(""))).resolve()
        for record in distribution.files or []:
            source = Path(str(distribution.locate_file(record))).resolve()
            if base not in source.parents or "__pycache__" in record.parts or not source.is_file():
                continue  # scripts in bin/, caches
            link = target / source.relative_to(base)
            if link.exists():
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source)


_sites: dict[tuple[str, ...], Path] = {}


def site_for(requirements: tuple[str, ...], root: Path) -> Path:
    """One site directory per distinct requirement set, shared by the archives that need it."""
    if requirements not in _sites:
        target = root / f"site-{len(_sites)}"
        target.mkdir(parents=True)
        build_site(pinned_distributions(requirements), target)
        _sites[requirements] = target
    return _sites[requirements]


FUNCTIONS = [f.name for f in load_manifest().functions]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_requirements_hold_everything_the_direct_ones_need(
    name: str, packaged: dict[str, PackagedFunction]
) -> None:
    needed = requirement_closure(direct_requirements(load_manifest().functions_by_name[name]))
    pinned = {canonical_name(Requirement(pin).name) for pin in packaged[name].requirements}
    missing = sorted(set(needed) - pinned)
    assert not missing, f"{name}: requirements.txt lacks {missing}, which its requirements need"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_archive_imports_with_only_its_requirements(
    name: str,
    packaged: dict[str, PackagedFunction],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    fn = load_manifest().functions_by_name[name]
    archive = packaged[name]
    root = tmp_path_factory.getbasetemp() / "archive-sites"
    site_dir = site_for(archive.requirements, root)
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path_factory.mktemp("home")),
        "TRIBUTUM_ENV": "test",
        "TRIBUTUM_FUNCTION_NAME": name,
    }
    completed = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            BOOTSTRAP,
            str(archive.folder),
            str(site_dir),
            sysconfig.get_path("stdlib"),
            sysconfig.get_path("platstdlib"),
            fn.entry_point,
        ],
        cwd=archive.folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr or completed.stdout
    assert completed.stdout.startswith("ok")


# Clients imported only when first used, which importing ``main`` does not reach, and the
# functions that use them in the cloud (the local stack takes another path: no KMS there).
LAZY_IMPORTS = {"google.cloud.kms": ("webhooks", "webhook_deliver")}


@pytest.mark.parametrize(
    ("module", "name"), [(m, n) for m, names in LAZY_IMPORTS.items() for n in names]
)
def test_lazily_imported_clients_are_in_the_archives_that_use_them(
    module: str,
    name: str,
    packaged: dict[str, PackagedFunction],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    archive = packaged[name]
    site_dir = site_for(archive.requirements, tmp_path_factory.getbasetemp() / "archive-sites")
    script = (
        "import importlib, site, sys; sys.path.insert(0, sys.argv[1]); "
        "site.addsitedir(sys.argv[2]); importlib.import_module(sys.argv[3])"
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(archive.folder), str(site_dir), module],
        cwd=archive.folder,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path_factory.mktemp("home"))},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


def test_an_undeclared_requirement_fails_the_isolated_import(
    packaged: dict[str, PackagedFunction], tmp_path: Path
) -> None:
    """The isolation is real: without its requirements, an archive does not import."""
    archive = next(p for p in packaged.values() if p.requirements)
    empty_site = tmp_path / "empty-site"
    empty_site.mkdir()
    completed = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            BOOTSTRAP,
            str(archive.folder),
            str(empty_site),
            sysconfig.get_path("stdlib"),
            sysconfig.get_path("platstdlib"),
            "handle",
        ],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "TRIBUTUM_ENV": "test"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode != 0
    assert "ModuleNotFoundError" in completed.stderr
