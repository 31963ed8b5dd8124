"""``up --watch``: restart the functions whose code changed, and only those.

A change under a function's own folder restarts that function. A change to a module of
``shared/`` restarts the functions that import it, directly or through other shared
modules: the import statements of every file are read (lazy imports and imports under
``TYPE_CHECKING`` included, so the set is never too small). A data file of ``shared/``
restarts the functions that load a module of its package; documentation restarts none.

Each restart stops the function's process group, stages its archive layout again
(``.local/run/<project>/<name>/``) and starts it on its port, as ``up`` does; the watcher
reports the changed path and the seconds until the function answered. It runs in the
process of ``up --watch``, in the foreground, and stops when that process is interrupted
or the stack is taken down.
"""

from __future__ import annotations

import ast
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    EVENT_TYPE_ATTRIB,
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from emulator import stack
from emulator.launch import own_folder
from emulator.processes import group_matches, log_tail, stop_groups
from emulator.settings import StackConfig
from emulator.state import load_state

Say = Callable[[str], None]
SHARED_PACKAGE = "shared"
# Saving a file is often several events (write, close, attributes); one restart for all.
SETTLE_SECONDS = 0.15
# SIGTERM first, as the platform does; whatever still runs after this is killed.
STOP_GRACE_SECONDS = 2.0
# Opening or reading a file (staging reads every shared file) is no change.
_CHANGE_EVENTS = frozenset(
    {
        EVENT_TYPE_MODIFIED,
        EVENT_TYPE_CREATED,
        EVENT_TYPE_DELETED,
        EVENT_TYPE_MOVED,
        EVENT_TYPE_CLOSED,
        EVENT_TYPE_ATTRIB,
    }
)
_IGNORED_FOLDERS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", ".swo", "~", ".tmp")


class WatchError(RuntimeError):
    """Watching cannot start or go on; the message says why."""


def is_source_change(path: Path) -> bool:
    """False for caches, compiled files and editors' temporary files."""
    if any(part in _IGNORED_FOLDERS for part in path.parts):
        return False
    name = path.name
    return not (name.endswith(_IGNORED_SUFFIXES) or name.startswith(".#") or name == "4913")


# -- which functions a change concerns ----------------------------------------------------


class ImportGraph:
    """The files of ``shared/`` each function loads, read from import statements.

    Each file is parsed once and kept until :meth:`forget` is told it changed, so
    recomputing every function's files after a change costs only the changed files.
    """

    def __init__(self, shared_dir: Path) -> None:
        self.shared_dir = shared_dir.resolve()
        self._parsed: dict[Path, frozenset[str]] = {}
        self._files: dict[str, Path | None] = {}

    def forget(self, changed: Iterable[Path]) -> None:
        """Read these files again; a file may also have appeared or gone, so look again."""
        for path in changed:
            self._parsed.pop(path, None)
        self._files.clear()

    def module_file(self, module: str) -> Path | None:
        if module not in self._files:
            self._files[module] = self._find(module)
        return self._files[module]

    def _find(self, module: str) -> Path | None:
        parts = module.split(".")
        if parts[0] != SHARED_PACKAGE:
            return None
        base = self.shared_dir.parent.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def _module_name(self, file: Path) -> str | None:
        if not file.is_relative_to(self.shared_dir):
            return None
        parts = list(file.relative_to(self.shared_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        return ".".join(parts)

    def imports(self, file: Path) -> frozenset[str]:
        """Absolute names of the ``shared`` modules ``file`` imports (and their packages)."""
        cached = self._parsed.get(file)
        if cached is not None:
            return cached
        try:
            tree = ast.parse(file.read_bytes(), filename=str(file))
        except (OSError, SyntaxError, ValueError):
            names: frozenset[str] = frozenset()  # being edited: the next save parses again
        else:
            names = frozenset(self._names(tree, self._module_name(file), file.name))
        self._parsed[file] = names
        return names

    def _names(self, tree: ast.AST, module: str | None, filename: str) -> set[str]:
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = self._absolute(node, module, filename)
                if base is None:
                    continue
                found.add(base)
                # "from shared.x import y": y may be a module of the package shared.x.
                found.update(f"{base}.{alias.name}" for alias in node.names)
        wanted: set[str] = set()
        for name in found:
            parts = name.split(".")
            if parts[0] == SHARED_PACKAGE:
                # Importing shared.a.b runs shared/__init__.py and shared/a/__init__.py too.
                wanted.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        return wanted

    @staticmethod
    def _absolute(node: ast.ImportFrom, module: str | None, filename: str) -> str | None:
        if node.level == 0:
            return node.module
        if module is None:
            return None  # a relative import in a function's folder stays in that folder
        package = module.split(".")
        if filename != "__init__.py":
            package = package[:-1]
        if node.level > 1:
            package = package[: len(package) - (node.level - 1)]
        return ".".join([*package, *([node.module] if node.module else [])]) or None

    def closure(self, folder: Path) -> frozenset[Path]:
        """Every file of ``shared/`` loaded by the Python files under ``folder``."""
        pending = [
            name
            for file in sorted(folder.rglob("*.py"))
            if is_source_change(file)
            for name in self.imports(file)
        ]
        seen: set[str] = set()
        files: set[Path] = set()
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            file = self.module_file(name)
            if file is not None:
                files.add(file)
                pending.extend(self.imports(file))
        return frozenset(files)


def _owning_package(path: Path, shared_dir: Path) -> Path:
    """The folder of the package a data file belongs to (its nearest ``__init__.py``)."""
    folder = path.parent
    while folder != shared_dir and not (folder / "__init__.py").is_file():
        folder = folder.parent
    return folder


def functions_to_restart(
    changed: Iterable[Path],
    own_folders: Mapping[str, Path],
    shared_dir: Path,
    shared_files: Mapping[str, frozenset[Path]],
) -> dict[str, Path]:
    """Function name -> the first changed path that concerns it (in manifest order).

    ``shared_files``: for each function, the ``shared/`` files it loads; pass those from
    before and after the change together, so that a module removed from an import (or
    deleted) still counts for the functions that loaded it until now. A data file of
    ``shared/`` concerns the functions that load a module of its package; documentation
    (``*.md``) concerns none.
    """
    restarts: dict[str, Path] = {}
    for path in sorted(set(changed)):
        if not is_source_change(path):
            continue
        for name, folder in own_folders.items():
            if path.is_relative_to(folder):
                restarts.setdefault(name, path)
        if not path.is_relative_to(shared_dir) or path.suffix == ".md":
            continue
        package = None if path.suffix == ".py" else _owning_package(path, shared_dir)
        for name in own_folders:
            loaded = shared_files.get(name, frozenset())
            if path in loaded or any(file.parent == package for file in loaded):
                restarts.setdefault(name, path)
    order = list(own_folders)
    return dict(sorted(restarts.items(), key=lambda item: order.index(item[0])))


# -- watching and restarting --------------------------------------------------------------


class _Collector(FileSystemEventHandler):
    """Queues the paths of file changes; folder events say nothing the file events do not."""

    def __init__(self) -> None:
        self.changes: queue.Queue[tuple[float, Path]] = queue.Queue()

    def dispatch(self, event: FileSystemEvent) -> None:
        if event.event_type not in _CHANGE_EVENTS:
            return
        if event.is_directory and event.event_type not in (EVENT_TYPE_MOVED, EVENT_TYPE_DELETED):
            return
        now = time.monotonic()
        for raw in (event.src_path, event.dest_path):
            if raw:
                self.changes.put((now, Path(os.fsdecode(raw))))


@dataclass(frozen=True, slots=True)
class Restart:
    name: str
    changed: Path
    seconds: float | None  # until it answered; None when it did not
    problem: str = ""


class Watcher:
    def __init__(self, config: StackConfig, say: Say, *, timeout: float = 60.0) -> None:
        if config.from_build:
            raise WatchError(
                "--watch restarts functions from the source tree; it cannot watch --from-build"
            )
        self.config = config
        self.say = say
        self.timeout = timeout
        self.plan = stack.prepare(config)
        self.functions = {fn.name: fn for fn in self.plan.manifest.functions}
        self.own_folders = {
            name: own_folder(fn, config).resolve() for name, fn in self.functions.items()
        }
        self.shared_dir = (config.repo_root / SHARED_PACKAGE).resolve()
        self.graph = ImportGraph(self.shared_dir)
        self.shared_files = self._shared_files()
        state = load_state(config.state_path)
        if state is None:
            raise WatchError(f"no local stack recorded for project {config.project_id}")
        self.started_at = state.started_at

    def _shared_files(self) -> dict[str, frozenset[Path]]:
        return {name: self.graph.closure(folder) for name, folder in self.own_folders.items()}

    def folders(self) -> list[Path]:
        """What is watched: each function's own folder and shared/ (nested ones once)."""
        wanted = sorted({*self.own_folders.values(), self.shared_dir})
        return [f for f in wanted if not any(f != o and f.is_relative_to(o) for o in wanted)]

    def stack_is_ours(self) -> bool:
        """False once the stack was taken down, or replaced by another ``up``."""
        try:
            state = load_state(self.config.state_path)
        except ValueError:
            return False
        return state is not None and state.started_at == self.started_at

    def plan_restarts(self, changed: Iterable[Path]) -> dict[str, Path]:
        changed = set(changed)
        self.graph.forget(changed)
        before = self.shared_files
        self.shared_files = self._shared_files()
        merged = {name: before[name] | self.shared_files[name] for name in self.functions}
        return functions_to_restart(changed, self.own_folders, self.shared_dir, merged)

    def restart(
        self,
        restarts: Mapping[str, Path],
        detected_at: float,
        stop: threading.Event | None = None,
    ) -> list[Restart]:
        """Stop, re-stage and start the named functions together; wait until each answers.

        Each is reported as soon as it answers (or failed). ``stop`` ends the wait early
        (Ctrl-C): what was started keeps starting.
        """
        state = load_state(self.config.state_path)
        if state is None or state.started_at != self.started_at:
            raise WatchError("the stack was taken down or restarted; stopped watching")
        records = [r for r in (state.find(name) for name in restarts) if r is not None]
        # A function takes seconds to shut down gracefully; an edited one need not.
        stop_groups(
            [r.pgid for r in records if group_matches(r.pgid, r.markers)],
            grace_seconds=STOP_GRACE_SECONDS,
        )
        stack.wait_ports_released(self.config.host, [self.plan.ports[name] for name in restarts])
        processes = {
            name: stack.start_function(self.config, self.plan, self.functions[name], state)
            for name in restarts
        }
        results: dict[str, Restart] = {}
        deadline = time.monotonic() + self.timeout
        while len(results) < len(restarts) and not (stop is not None and stop.is_set()):
            for name, changed in restarts.items():
                if name in results:
                    continue
                log = self.config.log_dir / f"{name}.log"
                if processes[name].poll() is not None:
                    status = processes[name].returncode
                    problem = f"exited with status {status}; end of {log}:\n{log_tail(log)}"
                    results[name] = Restart(name, changed, None, problem)
                elif stack.function_answers(
                    self.functions[name], self.config.host, self.plan.ports[name]
                ):
                    results[name] = Restart(name, changed, time.monotonic() - detected_at)
                elif time.monotonic() > deadline:
                    problem = f"did not answer within {self.timeout:.0f}s; see {log}"
                    results[name] = Restart(name, changed, None, problem)
                if name in results:
                    self.say(self.describe(results[name]))
            time.sleep(0.05)
        return [results[name] for name in restarts if name in results]

    def describe(self, result: Restart) -> str:
        clock = time.strftime("%H:%M:%S")
        changed = result.changed
        if changed.is_relative_to(self.config.repo_root.resolve()):
            changed = changed.relative_to(self.config.repo_root.resolve())
        if result.seconds is not None:
            return (
                f"[{clock}] restarted {result.name} ({changed} changed): "
                f"healthy in {result.seconds:.1f}s"
            )
        return f"[{clock}] restarted {result.name} ({changed} changed) but it {result.problem}"

    def run(self, stop: threading.Event) -> None:
        """Watch until ``stop`` is set or the stack goes away."""
        collector = _Collector()
        observer = Observer()
        for folder in self.folders():
            observer.schedule(collector, str(folder), recursive=True)
        observer.start()
        try:
            self.say(
                f"Watching {len(self.own_folders)} function folders and "
                f"{self._shown(self.shared_dir)} for changes; each changed function restarts."
            )
            while not stop.is_set():
                try:
                    detected_at, first = collector.changes.get(timeout=1.0)
                except queue.Empty:
                    if not self.stack_is_ours():
                        self.say("The stack was taken down or restarted; stopped watching.")
                        return
                    continue
                changed = {first, *_settle(collector.changes)}
                restarts = self.plan_restarts(changed)
                if not restarts:
                    continue
                if len(restarts) > 1:
                    self.say(
                        f"[{time.strftime('%H:%M:%S')}] restarting {len(restarts)} functions: "
                        + ", ".join(restarts)
                    )
                try:
                    self.restart(restarts, detected_at, stop)
                except WatchError as exc:
                    self.say(str(exc))
                    return
                except (OSError, RuntimeError, ValueError) as exc:
                    # A file that vanished while it was staged, say: the next save retries.
                    self.say(f"restarting {', '.join(restarts)} failed: {exc}")
                    continue
        finally:
            observer.stop()
            observer.join(timeout=5)

    def _shown(self, folder: Path) -> str:
        root = self.config.repo_root.resolve()
        return f"{folder.relative_to(root)}/" if folder.is_relative_to(root) else f"{folder}/"


def _settle(changes: queue.Queue[tuple[float, Path]], longest: float = 1.0) -> list[Path]:
    """Drain the queue until it stays quiet for a moment (at most ``longest``)."""
    paths: list[Path] = []
    deadline = time.monotonic() + longest
    while time.monotonic() < deadline:
        try:
            _when, path = changes.get(timeout=SETTLE_SECONDS)
        except queue.Empty:
            return paths
        paths.append(path)
    return paths
