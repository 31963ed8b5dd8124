"""Readiness over real gRPC: a slow Firestore is ready, a silent one is not (in time).

The served health function reaches the Firestore emulator through a TCP relay that
holds the emulator's first bytes on each connection back (a cold emulator on a busy
machine answers its first request seconds late) or never forwards anything.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from shared.health import READINESS_DEADLINE_SECONDS
from tests.conftest import Emulators
from tests.integration.http.conftest import HOST, ServedFunction, serve_function, stop_function

# Longer than the round-trip deadline readiness once had (2 s), well within today's.
SLOW_FIRST_ANSWER_SECONDS = 3.0


class Relay:
    """Relays TCP connections to ``upstream``, holding each one's first answer back.

    ``hold`` None forwards nothing at all: the dependency accepts and never answers.
    """

    def __init__(self, upstream: str, hold: float | None) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.hold = hold
        self.listener = socket.create_server((HOST, 0))
        self.address = f"{HOST}:{self.listener.getsockname()[1]}"
        self._open: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            self._open.append(client)
            if self.hold is None:
                continue  # accepted, never answered
            server = socket.create_connection(self.upstream)
            self._open.append(server)
            threading.Thread(target=self._pump, args=(client, server, 0.0), daemon=True).start()
            threading.Thread(
                target=self._pump, args=(server, client, self.hold), daemon=True
            ).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, hold: float) -> None:
        try:
            while chunk := source.recv(65536):
                if hold:
                    time.sleep(hold)
                    hold = 0.0
                target.sendall(chunk)
        except OSError:
            pass  # either end closed: the relay of this connection is over
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        for end in self._open:
            end.close()


@pytest.fixture
def relay(emulators: Emulators) -> Iterator[type[Relay]]:
    relays: list[Relay] = []

    class Opened(Relay):
        def __init__(self, upstream: str, hold: float | None) -> None:
            super().__init__(upstream, hold)
            relays.append(self)

    yield Opened
    for opened in relays:
        opened.close()


def _health_through(relay: Relay, emulators: Emulators, logs: Path) -> ServedFunction:
    return serve_function("health", emulators, logs, FIRESTORE_EMULATOR_HOST=relay.address)


def _not_ready_lines(served: ServedFunction) -> list[dict[str, Any]]:
    lines = [orjson.loads(line) for line in served.stdout_lines() if line.strip()]
    return [line for line in lines if line.get("message") == "health.not_ready"]


def test_a_firestore_that_answers_slowly_is_ready(
    relay: type[Relay], emulators: Emulators, function_logs: Path
) -> None:
    slow = relay(emulators.firestore_address, SLOW_FIRST_ANSWER_SECONDS)
    served = _health_through(slow, emulators, function_logs)
    try:
        started = time.monotonic()
        reply = served.request("/v1/health/ready")
        elapsed = time.monotonic() - started
    finally:
        stop_function(served)
    assert reply.status == 200, reply.body
    assert reply.json["data"] == {"status": "ok"}
    # The relay held Firestore's answer back, and readiness waited for it.
    assert elapsed >= SLOW_FIRST_ANSWER_SECONDS
    assert _not_ready_lines(served) == []


def test_a_firestore_that_never_answers_is_not_ready_within_the_deadline(
    relay: type[Relay], emulators: Emulators, function_logs: Path
) -> None:
    silent = relay(emulators.firestore_address, None)
    served = _health_through(silent, emulators, function_logs)
    try:
        started = time.monotonic()
        reply = served.request("/v1/health/ready")
        elapsed = time.monotonic() - started
    finally:
        stop_function(served)
    assert reply.status == 503, reply.body
    assert reply.json["code"] == "not_ready"
    assert "DeadlineExceeded" not in reply.body.decode()
    # What failed and how is for operators: in the log, not in the answer.
    [logged] = _not_ready_lines(served)
    assert logged["failed"] == ["firestore"]
    assert logged["checks"]["firestore"]["error"] == "DeadlineExceeded"
    assert logged["checks"]["pubsub"]["status"] == "ok"
    # The answer comes once the deadline passes, inside the health function's 10 s timeout.
    assert READINESS_DEADLINE_SECONDS <= elapsed < 10
