"""Progress lines while ``up`` starts the stack: one per part as it starts and is ready.

Every line carries the seconds since ``up`` began, and a wait that lasts longer than
a few seconds names what it is still waiting for, so a slow start never looks hung.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator

Say = Callable[[str], None]
# Longest silence while something is still starting.
HEARTBEAT_SECONDS = 5.0


class Progress:
    def __init__(self, say: Say, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._say = say
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._lock = threading.Lock()  # a heartbeat thread may speak too

    def elapsed(self) -> float:
        return self._clock() - self._started

    def line(self, message: str) -> None:
        with self._lock:
            self._last_line = self._clock()
            self._say(f"[{self._last_line - self._started:6.1f}s] {message}")

    def starting(self, part: str, detail: str = "") -> None:
        self.line(f"{part}: starting{' ' + detail if detail else ''}")

    def ready(self, part: str) -> None:
        self.line(f"{part}: ready")

    def waiting(self, parts: Iterable[str]) -> None:
        """Called on every poll of a wait: speaks only after a silence of a heartbeat."""
        if self._clock() - self._last_line < HEARTBEAT_SECONDS:
            return
        names = list(parts)
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        self.line(f"still waiting for {shown}")

    @contextlib.contextmanager
    def beating(self, what: str) -> Iterator[None]:
        """While a call that cannot poll runs, say what is awaited after each silence."""
        finished = threading.Event()

        def beat() -> None:
            while not finished.wait(0.5):
                self.waiting([what])

        thread = threading.Thread(target=beat, name="progress-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            finished.set()
            thread.join()

    @contextlib.contextmanager
    def during(self, part: str, doing: str, done: str = "ready") -> Iterator[None]:
        """One long call: a line before, heartbeats meanwhile, a line after."""
        self.line(f"{part}: {doing}")
        with self.beating(part):
            yield
        self.line(f"{part}: {done}")


def part_name(name: str, role: str) -> str:
    """How a progress line names a part of the stack."""
    if role == "emulator":
        return f"{name} emulator"
    if role == "function":
        return f"function {name}"
    return name
