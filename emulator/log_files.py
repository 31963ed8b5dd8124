"""The stack's log files: which exist, their last lines, and new lines as they come."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from emulator.settings import StackConfig
from emulator.state import load_state


class LogNotFoundError(ValueError):
    """No log of that name; the message lists the known ones."""


def log_files(config: StackConfig, name: str | None) -> list[Path]:
    state = load_state(config.state_path)
    available = {path.stem: path for path in sorted(config.log_dir.glob("*.log"))}
    if state is not None:
        available.update({r.name: Path(r.log) for r in state.processes})
    if name is None:
        return sorted(set(available.values()))
    if name not in available:
        known = ", ".join(sorted(available)) or "none yet"
        raise LogNotFoundError(f"no log named {name!r} in {config.log_dir} (known: {known})")
    return [available[name]]


def _last_lines(path: Path, count: int, end: int) -> list[str]:
    """The last ``count`` lines of the first ``end`` bytes of ``path``."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, end - 256 * count))
            raw = handle.read(end - handle.tell())
    except FileNotFoundError:
        return []
    # Lines end at "\n" only, as follow_lines reads them: a log line may hold characters
    # that str.splitlines() would also break at (U+0085, U+2028).
    return [line.decode(errors="replace") for line in raw.splitlines()][-count:]


def follow_lines(
    paths: list[Path], lines: int, follow: bool, *, poll_seconds: float = 0.5
) -> Iterator[tuple[str, str]]:
    """``(log name, line)``: the last ``lines`` of each log, then new lines while ``follow``.

    Only whole lines are yielded: a line still being written waits for its newline.
    """
    positions: dict[Path, int] = {}
    partial: dict[Path, bytes] = {}
    for path in paths:
        # Where the tail ends is fixed before anything is read or yielded: lines
        # written meanwhile are followed, not lost.
        positions[path] = path.stat().st_size if path.exists() else 0
        partial[path] = b""
    tails = {path: _last_lines(path, lines, positions[path]) for path in paths}
    for path in paths:
        for line in tails[path]:
            yield path.stem, line
    while follow:
        time.sleep(poll_seconds)
        for path in paths:
            if not path.exists():
                continue
            size = path.stat().st_size
            if size < positions[path]:
                positions[path], partial[path] = 0, b""  # truncated or replaced
            if size > positions[path]:
                with path.open("rb") as handle:
                    handle.seek(positions[path])
                    chunk = partial[path] + handle.read(size - positions[path])
                positions[path] = size
                *complete, partial[path] = chunk.split(b"\n")
                for raw in complete:
                    yield path.stem, raw.decode(errors="replace")
