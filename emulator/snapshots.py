"""Keep the Firestore emulator's data across ``down`` and ``up``.

The emulator exports and imports its own data over its REST API
(``POST /emulator/v1/projects/<project>:export`` and ``:import``), in the format of
``gcloud firestore export``, one export per database. ``down --export DIR`` writes
the main database's to ``DIR/firestore/`` and the credentials database's to
``DIR/firestore-credentials/``; ``up --import DIR`` reads them back before any
function starts (an export without the second folder holds no credentials).
Pub/Sub is not exported: its topology is re-created from the manifest by every ``up``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from emulator.processes import group_matches
from emulator.runtime_contract import CREDENTIALS_DATABASE
from emulator.state import StackState

EXPORT_FOLDER = "firestore"
CREDENTIALS_EXPORT_FOLDER = "firestore-credentials"
# Each database of the stack and the folder its export goes to.
DATABASES = (("(default)", EXPORT_FOLDER), (CREDENTIALS_DATABASE, CREDENTIALS_EXPORT_FOLDER))
# The file an export's reader starts from; the emulator's import takes its path.
METADATA_SUFFIX = ".overall_export_metadata"
_HINT = "make one with: python -m emulator down --export DIR"


class SnapshotError(RuntimeError):
    """An export or import cannot be made; the message names the folder and why."""


def _has_export(folder: Path) -> bool:
    return any(folder.glob(f"*{METADATA_SUFFIX}"))


def find_export(directory: Path) -> Path:
    """The export's metadata file in ``directory`` (``--import``), or why there is none.

    ``directory`` is a folder written by ``down --export`` (the export in its
    ``firestore/`` subfolder) or an emulator export itself (``--export-on-exit``).
    """
    if not directory.exists():
        raise SnapshotError(f"--import {directory}: no such directory ({_HINT})")
    if not directory.is_dir():
        raise SnapshotError(f"--import {directory}: not a directory ({_HINT})")
    candidates = sorted(directory.glob(f"{EXPORT_FOLDER}/*{METADATA_SUFFIX}")) or sorted(
        directory.glob(f"*{METADATA_SUFFIX}")
    )
    if not candidates:
        raise SnapshotError(
            f"--import {directory}: not a Firestore export (no {EXPORT_FOLDER}/*"
            f"{METADATA_SUFFIX} in it; {_HINT})"
        )
    if len(candidates) > 1:
        names = ", ".join(c.name for c in candidates)
        raise SnapshotError(
            f"--import {directory}: holds more than one export ({names}); name one export's folder"
        )
    return candidates[0].resolve()


def check_export_target(directory: Path) -> Path:
    """Refuse an ``--export`` folder that cannot take an export, before anything stops.

    The folder may be missing (it is created) or hold an earlier export (replaced);
    anything else already at ``DIR/firestore`` is left alone and refused.
    """
    directory = directory.resolve()
    if directory.exists() and not directory.is_dir():
        raise SnapshotError(f"--export {directory}: exists and is not a directory")
    target = directory / EXPORT_FOLDER
    if target.exists() and not (target.is_dir() and _has_export(target)):
        raise SnapshotError(
            f"--export {directory}: {target} exists and is not an export; "
            "choose another folder or remove it"
        )
    ancestor = directory
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise SnapshotError(f"--export {directory}: {ancestor} is not a directory")
    return directory


def _call(address: str, method: str, path: str, body: dict[str, str] | None, what: str) -> None:
    request = urllib.request.Request(
        f"http://{address}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method=method,
    )
    try:
        # A fresh emulator's first requests can take many seconds on a busy machine.
        with urllib.request.urlopen(request, timeout=120):
            return
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            detail = json.loads(detail)["error"]["message"]
        raise SnapshotError(
            f"{what}: the Firestore emulator answered {exc.code}: {detail}"
        ) from None
    except OSError as exc:
        raise SnapshotError(f"{what}: the Firestore emulator did not answer ({exc})") from None


def _database(project_id: str, database: str = "(default)") -> str:
    return f"projects/{project_id}/databases/{database}"


def export_firestore(address: str, project_id: str, directory: Path) -> Path:
    """Export every document to ``directory/firestore/``, replacing an earlier export whole.

    The emulator writes into a fresh folder beside it, which is swapped in only once
    complete: a failed export leaves the earlier one as it was.
    """
    directory = check_export_target(directory)
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{EXPORT_FOLDER}-", dir=directory))
    try:
        for database, folder in DATABASES:
            _call(
                address,
                "POST",
                f"/emulator/v1/projects/{project_id}:export",
                {
                    "database": _database(project_id, database),
                    "export_directory": str(staging),
                    "export_name": folder,
                },
                f"exporting to {directory}",
            )
            if not _has_export(staging / folder):
                raise SnapshotError(f"exporting to {directory}: the emulator wrote no export")
        for _, folder in DATABASES:
            target = directory / folder
            if target.exists():
                shutil.rmtree(target)
            (staging / folder).rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory / EXPORT_FOLDER


def _credentials_export(metadata: Path) -> Path | None:
    """The credentials database's export beside the main one's, if it was written."""
    found = sorted(metadata.parent.parent.glob(f"{CREDENTIALS_EXPORT_FOLDER}/*{METADATA_SUFFIX}"))
    return found[0] if metadata.parent.name == EXPORT_FOLDER and found else None


def import_firestore(address: str, project_id: str, metadata: Path) -> None:
    """Load an export (found by :func:`find_export`); documents it holds are overwritten."""
    imports = [("(default)", metadata)]
    credentials = _credentials_export(metadata)
    if credentials is not None:
        imports.append((CREDENTIALS_DATABASE, credentials))
    for database, export in imports:
        _call(
            address,
            "POST",
            f"/emulator/v1/projects/{project_id}:import",
            {"database": _database(project_id, database), "export_directory": str(export)},
            f"importing {export.parent}",
        )


def replace_with_export(address: str, project_id: str, metadata: Path, *, kept: bool) -> None:
    """Make the emulator's data exactly the export's. ``kept``: the emulator ran before
    this ``up`` and may hold documents the export does not, so it is emptied first."""
    if kept:
        for database, _ in DATABASES:
            _call(
                address,
                "DELETE",
                f"/emulator/v1/{_database(project_id, database)}/documents",
                None,
                f"importing {metadata.parent}: emptying Firestore first",
            )
    import_firestore(address, project_id, metadata)


def export_step(
    state: StackState, directory: Path, say: Callable[[str], None]
) -> Callable[[], None]:
    """For ``down --export``: checked now, before anything stops; the step exports later.

    The step runs once the functions have stopped (nothing writes any more) and the
    emulators still run. If it fails, ``down`` stops there: the emulators keep the data.
    """
    record = state.find("firestore")
    if record is None or record.port is None or not group_matches(record.pgid, record.markers):
        raise SnapshotError(
            f"--export {directory}: stack '{state.project_id}' has no running Firestore emulator"
        )
    address = f"{state.host}:{record.port}"

    def export() -> None:
        try:
            written = export_firestore(address, state.project_id, directory)
        except (SnapshotError, OSError) as exc:
            raise SnapshotError(
                f"{exc}; the emulators still run with their data: fix that and run "
                "down --export again"
            ) from None
        say(f"Firestore data exported to {written}")

    return export
