"""Build each function's deployable source: ``build/<name>/`` and ``build/<name>.zip``.

An archive holds exactly what Cloud Functions needs to build and run one function:

* every file of ``functions/<name>/`` (``main.py`` and any helpers beside it);
* a copy of ``shared/`` (without tests and caches);
* a ``requirements.txt`` with the function's manifest ``requirements``, each pinned
  to the version pyproject.toml pins (pip resolves their own dependencies).

Zips are reproducible: entries sorted, fixed timestamps and permissions, so the
archive's hash (which names the uploaded object in Terraform) changes only when
the content does.

Usage, from the repository root::

    python infra/package.py                 # every function in the manifest
    python infra/package.py health ledger   # only these
    python -m infra.package --out /elsewhere
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script: make `shared` importable
    sys.path.insert(0, str(REPO_ROOT))

from shared.topology import MANIFEST_PATH, Function, Manifest, load_manifest  # noqa: E402

PYPROJECT_PATH = REPO_ROOT / "pyproject.toml"
DEFAULT_OUT_DIR = REPO_ROOT / "build"
SHARED_DIR = REPO_ROOT / "shared"
REQUIREMENTS_FILE = "requirements.txt"

# The zip epoch: the earliest timestamp the format can hold, the same on every build.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o100644  # regular file, rw-r--r--
ZIP_UNIX = 3  # "made by" Unix, so the mode above is honoured when extracted

EXCLUDED_DIRS = frozenset(
    {"__pycache__", "tests", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}
)
EXCLUDED_SUFFIXES = frozenset({".pyc", ".pyo"})
EXCLUDED_NAMES = frozenset({".DS_Store"})

_PINNED = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<extras>\[[^\]]*\])?\s*"
    r"==\s*(?P<version>[A-Za-z0-9.+!_-]+)\s*(?P<marker>;.*)?$"
)
_NAME = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)")


class PackagingError(ValueError):
    """A function cannot be packaged; the message names the function and the reason."""


@dataclass(frozen=True, slots=True)
class PackagedFunction:
    name: str
    folder: Path
    archive: Path
    requirements: tuple[str, ...]
    sha256: str
    md5: str


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: ``PyJWT``, ``pyjwt`` and ``py_jwt`` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_requirements(pyproject: Path = PYPROJECT_PATH) -> dict[str, str]:
    """The runtime dependencies pyproject pins exactly, by canonical name -> requirement line.

    A dependency that is listed but not pinned with ``==`` maps to ``""`` so that a
    function asking for it is told why it cannot have it.
    """
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    pins: dict[str, str] = {}
    for line in data.get("project", {}).get("dependencies", []):
        match = _PINNED.match(line)
        if match:
            pins[canonical_name(match["name"])] = line.strip()
            continue
        named = _NAME.match(line)
        if named:
            pins[canonical_name(named["name"])] = ""
    return pins


def _dev_only(pyproject: Path) -> set[str]:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    names: set[str] = set()
    for group in data.get("project", {}).get("optional-dependencies", {}).values():
        for line in group:
            named = _NAME.match(line)
            if named:
                names.add(canonical_name(named["name"]))
    return names


def requirements_for(function: Function, pyproject: Path = PYPROJECT_PATH) -> list[str]:
    """The pinned requirement lines of one function, sorted by name.

    Raises :class:`PackagingError` for a duplicate, a name pyproject's runtime
    dependencies do not list, or one they list without an exact pin.
    """
    pins = pinned_requirements(pyproject)
    seen: set[str] = set()
    lines: dict[str, str] = {}
    for requested in function.requirements:
        key = canonical_name(requested)
        if key in seen:
            raise PackagingError(f"{function.name}: requirement {requested!r} is listed twice")
        seen.add(key)
        if key not in pins:
            hint = (
                " (it is a development dependency; functions may only use runtime ones)"
                if key in _dev_only(pyproject)
                else ""
            )
            raise PackagingError(
                f"{function.name}: requirement {requested!r} is not a runtime dependency "
                f"in pyproject.toml{hint}; add it there pinned with =="
            )
        if not pins[key]:
            raise PackagingError(
                f"{function.name}: requirement {requested!r} is not pinned with == "
                "in pyproject.toml"
            )
        lines[key] = pins[key]
    return [lines[key] for key in sorted(lines)]


def _included(relative: Path) -> bool:
    if any(part in EXCLUDED_DIRS for part in relative.parts[:-1]):
        return False
    return relative.suffix not in EXCLUDED_SUFFIXES and relative.name not in EXCLUDED_NAMES


def _files_under(root: Path) -> list[Path]:
    """Every file to ship below ``root`` (relative paths, sorted); symlinks are refused."""
    found: list[Path] = []
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_DIRS)
        for filename in files:
            path = Path(current) / filename
            relative = path.relative_to(root)
            if not _included(relative):
                continue
            if path.is_symlink():
                raise PackagingError(f"{path} is a symlink; archives hold regular files only")
            found.append(relative)
    return sorted(found, key=lambda p: p.as_posix())


def source_files(function: Function, repo_root: Path = REPO_ROOT) -> dict[str, Path]:
    """Archive path -> source file for one function (its folder plus ``shared/``)."""
    folder = repo_root / function.folder
    if not (folder / "main.py").is_file():
        raise PackagingError(f"{function.name}: {function.folder}/main.py does not exist")
    files: dict[str, Path] = {}
    for relative in _files_under(folder):
        arcname = relative.as_posix()
        if arcname == REQUIREMENTS_FILE or arcname.split("/", 1)[0] == "shared":
            raise PackagingError(
                f"{function.name}: {function.folder}/{arcname} would clash with the generated "
                f"{REQUIREMENTS_FILE} or the copy of shared/; remove it"
            )
        files[arcname] = folder / relative
    shared = repo_root / "shared"
    for relative in _files_under(shared):
        files[f"shared/{relative.as_posix()}"] = shared / relative
    return dict(sorted(files.items()))


def write_reproducible_zip(source_dir: Path, archive: Path) -> None:
    """Zip every file under ``source_dir``: sorted entries, fixed time and mode, no directories."""
    entries = sorted(
        (p.relative_to(source_dir).as_posix(), p) for p in source_dir.rglob("*") if p.is_file()
    )
    archive.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{archive.name}.", dir=archive.parent)
    os.close(fd)
    temp = Path(temp_name)
    try:
        with zipfile.ZipFile(temp, "w") as zf:
            for arcname, path in entries:
                info = zipfile.ZipInfo(arcname, date_time=ZIP_TIMESTAMP)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = ZIP_UNIX
                info.external_attr = ZIP_FILE_MODE << 16
                zf.writestr(info, path.read_bytes(), compresslevel=9)
        temp.replace(archive)
    finally:
        temp.unlink(missing_ok=True)


def _digests(path: Path) -> tuple[str, str]:
    sha256 = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 16), b""):
            sha256.update(chunk)
            md5.update(chunk)
    return sha256.hexdigest(), md5.hexdigest()


def package_function(
    function: Function,
    *,
    out_dir: Path = DEFAULT_OUT_DIR,
    repo_root: Path = REPO_ROOT,
    pyproject: Path = PYPROJECT_PATH,
) -> PackagedFunction:
    """Build ``out_dir/<name>/`` and ``out_dir/<name>.zip`` for one function."""
    requirements = requirements_for(function, pyproject)
    files = source_files(function, repo_root)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Stage next to the destination and swap it in whole, so a reader never sees a half tree.
    staging = Path(tempfile.mkdtemp(prefix=f".{function.name}.", dir=out_dir))
    try:
        for arcname, source in files.items():
            target = staging / arcname
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        header = "# Generated by infra/package.py from functions/manifest.yaml and pyproject.toml."
        (staging / REQUIREMENTS_FILE).write_text(
            "\n".join([header, *requirements]) + "\n", encoding="utf-8"
        )
        folder = out_dir / function.name
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    archive = out_dir / f"{function.name}.zip"
    write_reproducible_zip(folder, archive)
    sha256, md5 = _digests(archive)
    return PackagedFunction(function.name, folder, archive, tuple(requirements), sha256, md5)


def select_functions(manifest: Manifest, names: Iterable[str]) -> list[Function]:
    """The named functions (all of them when none are named); unknown names are an error."""
    wanted = list(names)
    if not wanted:
        return list(manifest.functions)
    unknown = [n for n in wanted if n not in manifest.functions_by_name]
    if unknown:
        raise PackagingError(
            f"unknown function(s): {', '.join(unknown)}; the manifest has "
            f"{', '.join(sorted(manifest.functions_by_name))}"
        )
    return [manifest.functions_by_name[n] for n in dict.fromkeys(wanted)]


def package(
    names: Iterable[str] = (),
    *,
    out_dir: Path = DEFAULT_OUT_DIR,
    manifest_path: Path = MANIFEST_PATH,
    repo_root: Path = REPO_ROOT,
    pyproject: Path = PYPROJECT_PATH,
) -> list[PackagedFunction]:
    """Package every function of the manifest, or only those named."""
    manifest = load_manifest(manifest_path)
    functions = select_functions(manifest, names)
    # Check every function's requirements before writing anything.
    for function in functions:
        requirements_for(function, pyproject)
    return [
        package_function(fn, out_dir=out_dir, repo_root=repo_root, pyproject=pyproject)
        for fn in functions
    ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python infra/package.py",
        description="Build build/<function>/ and build/<function>.zip for deployment.",
    )
    parser.add_argument("functions", nargs="*", help="function names (default: all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR, help="output directory")
    parser.add_argument(
        "--manifest", type=Path, default=MANIFEST_PATH, help="topology manifest to read"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        packaged = package(args.functions, out_dir=args.out, manifest_path=args.manifest)
    except (PackagingError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for result in packaged:
        print(
            f"{result.archive}  sha256={result.sha256}  ({len(result.requirements)} requirements)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
