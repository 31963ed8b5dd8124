"""Waiting for a readiness route: poll until it answers 200 or an overall deadline passes.

A just-started function answers its first readiness probe slowly or with a 503 while
its clients and the emulators warm up (the first request to a fresh Firestore
emulator can take seconds on a busy machine). One 503 is not a verdict: whoever
waits for readiness retries until its own deadline, and reports the last answer.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

# Answers that mean "not yet": the function (or the gateway in front of it) is starting.
_NOT_YET = frozenset({502, 503, 504})


class NotReadyError(RuntimeError):
    """The route did not answer 200 before the deadline, or answered what no wait mends."""


def _get(url: str, timeout: float) -> tuple[int | None, str]:
    """``GET url``: its status and the start of its body, or (None, why) if nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read(500).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read(500).decode(errors="replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, f"no answer ({type(exc).__name__})"


def wait_until_ready(
    url: str,
    *,
    timeout: float,
    interval: float = 0.5,
    request_timeout: float = 15.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once ``GET url`` answers 200; raise :class:`NotReadyError` otherwise.

    502/503/504 and no answer are retried every ``interval`` seconds until ``timeout``
    seconds have passed; any other status fails at once (a wrong route or a crash
    does not heal by waiting). ``request_timeout`` bounds one probe and should exceed
    the readiness check's own deadline, so a slow answer is read, not abandoned.
    """
    deadline = clock() + timeout
    while True:
        status, detail = _get(url, min(request_timeout, max(deadline - clock(), 1.0)))
        if status == 200:
            return
        if status is not None and status not in _NOT_YET:
            raise NotReadyError(f"GET {url} answered {status}: {detail}")
        if clock() + interval > deadline:
            answer = "nothing" if status is None else str(status)
            raise NotReadyError(
                f"GET {url} was not ready within {timeout:g}s; last answer {answer}: {detail}"
            )
        sleep(interval)
