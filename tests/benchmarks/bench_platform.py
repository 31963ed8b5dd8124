"""Benchmarks of the shared platform modules; every figure is a ratio measured in one run.

    python tests/benchmarks/bench_platform.py [--quick] [--profile] [--only ...]
        [--budget PATH | --no-budget] [--record-budget]

1. Throughput: a no-op route through the whole shared HTTP stack vs a bare
   functions-framework function (goal >= 0.90x) and vs the FastAPI peer, the same
   route and contract on uvicorn (goal >= 1.0x); the same for a validated POST,
   shared vs peer. Every server runs in its own process group, one at a time, loaded
   by keep-alive client threads over loopback; requests/s, p50/p99 and server CPU
   per request (from /proc) are reported.
2. Cold start, process start to first 200 (median of several interleaved starts):
   health liveness vs bare (goal <= 1.3x) and vs the peer's liveness (goal <= 1.0x),
   a Firestore-backed route vs bare (goal <= 2.5x). Uses FIRESTORE_EMULATOR_HOST if it
   answers, else starts one.
3. One log line: the shared logger (JSON, redaction, Cloud Logging shape) vs
   plain structlog JSONRenderer, both writing to memory. Goal <= 1.5x.
4. The session check: an authenticated no-op through the real router and
   BearerAuthenticator (ES256 token, revocation read, the caller's access state through
   CachedAccessStates over the Firestore emulator) vs the same route with the token
   verified and no access-state check, loaded in the same rounds as 1; the difference
   of server CPU per request is the check's cost on a cache hit. Plus the cache miss:
   one access-state read in-process. Reported, not budgeted.

Goals are printed PASS/MISS and never change the exit status. The budget does: each
ratio is compared with budget.json, and a ratio more than 25 % worse than recorded
exits 1 (``--record-budget`` writes this run's ratios there instead).
``--profile`` adds cProfile listings of in-process requests and of a log line.
Every loop is bounded in count and time; every process started here is stopped by
process group, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import importlib.util
import io
import os
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_FUNCTIONS = Path(__file__).resolve().parent / "functions"
for _entry in (str(REPO_ROOT), str(BENCH_FUNCTIONS)):
    if _entry not in sys.path:
        sys.path.insert(0, _entry)

from tests.benchmarks import budget as perf_budget  # noqa: E402  (after the path set-up)

HOST = "127.0.0.1"
PROJECT_ID = "demo-tributum-bench"
# functions-framework's default is 4 x cores; fixed here so every run gets the same.
SERVER_THREADS = str(4 * (os.cpu_count() or 1))

GOAL_THROUGHPUT = 0.90
GOAL_THROUGHPUT_PEER = 1.0
GOAL_COLD_HEALTH = 1.3
GOAL_COLD_HEALTH_PEER = 1.0
GOAL_COLD_FIRESTORE = 2.5
GOAL_LOG_LINE = 1.5


@dataclass(frozen=True)
class Plan:
    clients: int = 8
    warmup_seconds: float = 2.0
    load_seconds: float = 6.0
    rounds: int = 2  # the servers alternate, in turned order, so drift hits all alike
    max_requests: int = 500_000
    cold_starts: int = 5
    log_lines: int = 20_000
    log_repeats: int = 7
    access_reads: int = 50  # cold access-state reads, in-process
    access_hits: int = 20_000  # cache-hit checks per repeat, in-process


# About a minute: enough rounds that a single slow moment does not decide a ratio.
QUICK = Plan(
    warmup_seconds=0.5,
    load_seconds=2.0,
    rounds=2,
    cold_starts=5,
    log_lines=5_000,
    log_repeats=5,
    access_reads=20,
    access_hits=5_000,
)


@dataclass(frozen=True)
class Target:
    label: str
    source: Path
    path: str
    server: str = "functions-framework"  # or "uvicorn"


BARE = Target("bare", BENCH_FUNCTIONS / "bare.py", "/")
NOOP_SHARED = Target("shared no-op", BENCH_FUNCTIONS / "noop_shared.py", "/v1/bench/noop")
NOOP_PEER = Target("peer no-op", BENCH_FUNCTIONS / "fastapi_peer.py", "/v1/bench/noop", "uvicorn")
HEALTH = Target("health live", REPO_ROOT / "functions" / "health" / "main.py", "/v1/health/live")
PEER_LIVE = Target("peer live", BENCH_FUNCTIONS / "fastapi_peer.py", "/v1/health/live", "uvicorn")
FIRESTORE_ROUTE = Target("firestore route", BENCH_FUNCTIONS / "firestore_read.py", "/v1/bench/doc")
POST_PATH = "/v1/bench/entries"
AUTH_PATH = "/v1/bench/noop-auth"  # bench_auth.PATH
AUTH_FULL = Target("token + session", BENCH_FUNCTIONS / "noop_authenticated.py", AUTH_PATH)
AUTH_TOKEN_ONLY = Target("token only", BENCH_FUNCTIONS / "noop_token_only.py", AUTH_PATH)
AUTH_TARGETS = (AUTH_FULL, AUTH_TOKEN_ONLY)


@dataclass(frozen=True)
class Load:
    """One kind of request a load sends, and the status every answer must have."""

    method: str
    path: str
    status: int
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()


def post_load() -> Load:
    import orjson
    from bench_models import POST_BODY

    return Load("POST", POST_PATH, 201, orjson.dumps(POST_BODY))


# -- processes -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    target: Target
    port: int
    process: subprocess.Popen[bytes]
    stdout_path: Path


_running: list[Server] = []


def server_command(target: Target, port: int) -> list[str]:
    if target.server == "uvicorn":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            f"{target.source.stem}:app",
            "--app-dir",
            str(target.source.parent),
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",  # the app writes its own access line, as ours does
            "--log-level",
            "warning",
        ]
    return [
        sys.executable,
        "-m",
        "functions_framework",
        "--source",
        str(target.source),
        "--target",
        "handle",
        "--host",
        HOST,
        "--port",
        str(port),
    ]


def start_server(target: Target, env: dict[str, str], log_dir: Path) -> Server:
    port = free_port()
    stdout_path = log_dir / f"{target.source.stem}-{port}.stdout"
    with stdout_path.open("wb") as stdout:
        process = subprocess.Popen(
            server_command(target, port),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(target, port, process, stdout_path)
    _running.append(server)
    return server


def stop_server(server: Server) -> None:
    with suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
    if server in _running:
        _running.remove(server)


def stop_all() -> None:
    for server in list(_running):
        stop_server(server)


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU consumed so far by every live process of a process group."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        # After the command name: state, ppid, pgrp, ... utime (11th), stime (12th).
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_for_ok(
    server: Server, timeout_seconds: float, headers: dict[str, str] | None = None
) -> float:
    """Seconds from now until the first 200, polling every few milliseconds."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.stdout_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{server.target.label} exited early:\n{tail}")
        connection = http.client.HTTPConnection(HOST, server.port, timeout=2)
        try:
            connection.request("GET", server.target.path, headers=headers or {})
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return time.perf_counter() - started
            raise RuntimeError(f"{server.target.label} answered {response.status}")
        except (ConnectionError, OSError):
            time.sleep(0.005)
        finally:
            connection.close()
    raise RuntimeError(f"{server.target.label} gave no 200 within {timeout_seconds:.0f}s")


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TRIBUTUM_") and key not in ("THREADS", "WORKERS")
    }
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "THREADS": SERVER_THREADS,
            "TRIBUTUM_ENV": "local",
            "TRIBUTUM_LOG_FORMAT": "json",
            "TRIBUTUM_FUNCTION_NAME": "bench",
            "TRIBUTUM_PROJECT_ID": PROJECT_ID,
            "GOOGLE_CLOUD_PROJECT": PROJECT_ID,
        }
    )
    env.update(extra or {})
    return env


# -- 1. throughput ---------------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    server_cpu_seconds: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu_seconds / self.requests * 1e6

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def generate_load(
    port: int, load: Load, clients: int, seconds: float, max_requests: int
) -> LoadResult:
    """``clients`` threads, one keep-alive connection each, for ``seconds`` or the request cap."""
    stop_at = time.monotonic() + seconds
    budget = threading.Semaphore(max_requests)
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    start_line = threading.Barrier(clients + 1)
    headers = {"Content-Type": "application/json"} if load.body is not None else {}
    headers.update(load.headers)

    def client() -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=10)
        mine: list[float] = []
        failed = 0
        start_line.wait()
        try:
            while time.monotonic() < stop_at and budget.acquire(blocking=False):
                began = time.perf_counter()
                connection.request(load.method, load.path, body=load.body, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status != load.status:
                    failed += 1
                mine.append(time.perf_counter() - began)
        finally:
            connection.close()
            with lock:
                latencies.extend(mine)
                errors[0] += failed

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start_line.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(timeout=seconds + 30)
    elapsed = time.perf_counter() - began
    return LoadResult(len(latencies), elapsed, latencies, errors[0])


# What each server is loaded with: the no-op GET everywhere, the validated POST on ours and
# the peer. Keys of the results: (target label, method).
LOADS: dict[Target, tuple[str, ...]] = {
    BARE: ("GET",),
    NOOP_SHARED: ("GET", "POST"),
    NOOP_PEER: ("GET", "POST"),
    AUTH_FULL: ("GET",),
    AUTH_TOKEN_ONLY: ("GET",),
}
THROUGHPUT_TARGETS = (BARE, NOOP_SHARED, NOOP_PEER)
# The session check: both authenticated servers, and the unauthenticated no-op beside them.
SESSION_TARGETS = (NOOP_SHARED, AUTH_FULL, AUTH_TOKEN_ONLY)


@dataclass(frozen=True)
class SessionStack:
    """What the authenticated servers need: their environment (emulator, signing key) and
    the tokens of the two users whose access states the benchmark wrote."""

    setup: Any  # bench_auth.SessionSetup
    env: dict[str, str]
    client: Any  # this process's Firestore client of the same emulator

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@contextmanager
def session_stack(log_dir: Path) -> Iterator[SessionStack]:
    import bench_auth

    with firestore_emulator() as address:
        saved = os.environ.get("FIRESTORE_EMULATOR_HOST")
        os.environ["FIRESTORE_EMULATOR_HOST"] = address  # read by the client below
        try:
            client = bench_auth.access_state_client(PROJECT_ID)
            try:
                setup = bench_auth.prepare(client)
                secrets_dir = tempfile.mkdtemp(prefix="secrets-", dir=log_dir)  # stays empty
                yield SessionStack(setup, setup.server_env(address, secrets_dir), client)
            finally:
                client.close()
        finally:
            if saved is None:
                os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
            else:
                os.environ["FIRESTORE_EMULATOR_HOST"] = saved


def target_load(target: Target, method: str, session: SessionStack | None) -> Load:
    if method == "POST":
        return post_load()
    if target in AUTH_TARGETS:
        if session is None:
            raise RuntimeError(f"{target.label} needs the session stack")
        headers = SessionStack.bearer(session.setup.active_token)
        return Load("GET", target.path, 200, headers=tuple(headers.items()))
    return Load("GET", target.path, 200)


def measure(server: Server, load: Load, plan: Plan) -> LoadResult:
    generate_load(server.port, load, plan.clients, plan.warmup_seconds, 10**9)
    cpu_before = group_cpu_seconds(server.process.pid)
    result = generate_load(server.port, load, plan.clients, plan.load_seconds, plan.max_requests)
    result.server_cpu_seconds = group_cpu_seconds(server.process.pid) - cpu_before
    if result.errors:
        raise RuntimeError(f"{server.target.label} {load.method}: {result.errors} wrong answers")
    return result


def bench_throughput(
    plan: Plan, log_dir: Path, targets: tuple[Target, ...], session: SessionStack | None = None
) -> dict[tuple[str, str], LoadResult]:
    results: dict[tuple[str, str], list[LoadResult]] = {
        (target.label, method): [] for target in targets for method in LOADS[target]
    }
    order = list(targets)
    for round_number in range(plan.rounds):
        # Every other round in reverse, so no server always follows the same one.
        for target in order if round_number % 2 == 0 else order[::-1]:
            authenticating = session if target in AUTH_TARGETS else None
            env = server_env(authenticating.env if authenticating is not None else None)
            server = start_server(target, env, log_dir)
            try:
                if authenticating is not None:
                    bearer = SessionStack.bearer(authenticating.setup.active_token)
                    wait_for_ok(server, 60, bearer)
                    if round_number == 0:
                        check_session_contract(server, authenticating)
                else:
                    wait_for_ok(server, 60)
                    if round_number == 0 and target is not BARE:
                        check_contract(server)
                for method in LOADS[target]:
                    load = target_load(target, method, session)
                    results[(target.label, method)].append(measure(server, load, plan))
            finally:
                stop_server(server)
            if target is not BARE:
                check_access_log(server.stdout_path, target.label)
    return {key: merge(runs) for key, runs in results.items()}


def merge(runs: list[LoadResult]) -> LoadResult:
    merged = LoadResult(
        sum(r.requests for r in runs),
        sum(r.seconds for r in runs),
        server_cpu_seconds=sum(r.server_cpu_seconds for r in runs),
    )
    for run in runs:
        merged.latencies.extend(run.latencies)
    return merged


def check_access_log(stdout_path: Path, label: str) -> None:
    """The stack really did its work: JSON access-log lines on its stdout."""
    lines = stdout_path.read_bytes().splitlines()
    access = [line for line in lines if b'"message":"http.request"' in line]
    if not access:
        raise RuntimeError(f"{label} wrote no access-log line to {stdout_path}")


SECURITY_HEADER_NAMES = frozenset(
    {
        "x-content-type-options",
        "content-security-policy",
        "x-frame-options",
        "referrer-policy",
        "strict-transport-security",
        "cache-control",
        "cross-origin-opener-policy",
    }
)


def _exchange(
    port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, dict[str, str], Any]:
    import orjson

    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        names = {name.lower(): value for name, value in response.getheaders()}
        return response.status, names, orjson.loads(payload)
    finally:
        connection.close()


def check_contract(server: Server) -> None:
    """Ours and the peer answer these routes alike, so the comparison is of equal work:
    correlation id in and out, security headers, the envelope, a problem document with
    field errors for a body the strict model refuses."""
    import orjson
    from bench_models import POST_BODY

    label = server.target.label
    sent = {"X-Correlation-ID": "bench-check-1", "Content-Type": "application/json"}
    status, headers, document = _exchange(server.port, "GET", NOOP_SHARED.path, None, sent)
    problems = []
    if status != 200 or document != {"data": {"ok": True}, "meta": document.get("meta")}:
        problems.append(f"no-op answered {status} {document}")
    if headers.get("x-correlation-id") != "bench-check-1":
        problems.append("no-op did not return the correlation id")
    if document.get("meta", {}).get("correlation_id") != "bench-check-1":
        problems.append("no-op's envelope does not carry the correlation id")
    missing = SECURITY_HEADER_NAMES - headers.keys()
    if missing:
        problems.append(f"security headers missing: {sorted(missing)}")
    refused = dict(POST_BODY, currency=978, surplus=True)
    status, headers, document = _exchange(
        server.port, "POST", POST_PATH, orjson.dumps(refused), sent
    )
    fields = {error.get("field") for error in document.get("errors", ())}
    if status != 422 or headers.get("content-type") != "application/problem+json":
        problems.append(f"refused POST answered {status} {headers.get('content-type')}")
    if not {"currency", "surplus"} <= fields:
        problems.append(f"refused POST named fields {sorted(map(str, fields))}")
    if document.get("correlation_id") != "bench-check-1":
        problems.append("problem document does not carry the correlation id")
    if problems:
        raise RuntimeError(f"{label} does not keep the contract: " + "; ".join(problems))


def check_session_contract(server: Server, session: SessionStack) -> None:
    """Both authenticated servers verify the token; only the full one checks the access
    state: a token of a disabled user is refused there and admitted by the token-only one."""
    label = server.target.label
    problems = []
    status, _, document = _exchange(server.port, "GET", AUTH_PATH, None, {})
    if status != 401 or document.get("code") != "token_missing":
        problems.append(f"no token answered {status} {document.get('code')}")
    active = SessionStack.bearer(session.setup.active_token)
    status, _, document = _exchange(server.port, "GET", AUTH_PATH, None, active)
    if status != 200 or document.get("data") != {"ok": True}:
        problems.append(f"an active user's token answered {status} {document}")
    disabled = SessionStack.bearer(session.setup.disabled_token)
    status, _, document = _exchange(server.port, "GET", AUTH_PATH, None, disabled)
    checks_state = server.target is AUTH_FULL
    if checks_state and (status != 401 or document.get("code") != "token_revoked"):
        problems.append(f"a disabled user's token answered {status} {document.get('code')}")
    if not checks_state and status != 200:
        problems.append(f"a disabled user's token answered {status}: the state was checked")
    if problems:
        raise RuntimeError(f"{label} does not authenticate as expected: " + "; ".join(problems))


# -- 2. cold start ---------------------------------------------------------------------------------


def _answering(address: str) -> bool:
    from emulator.emulators import is_answering

    host, _, port = address.rpartition(":")
    return is_answering(host or HOST, int(port))


@contextmanager
def firestore_emulator() -> Iterator[str]:
    from emulator import emulators

    configured = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if configured and _answering(configured):
        yield configured
        return
    running = emulators.start_emulator(
        emulators.FIRESTORE,
        port=free_port(),
        project_id=PROJECT_ID,
        log_dir=Path(tempfile.mkdtemp(prefix="bench-emulator-")),
    )
    try:
        yield running.address
    finally:
        emulators.stop_process_group(running.pgid)


COLD_TARGETS = (BARE, HEALTH, PEER_LIVE, FIRESTORE_ROUTE)
# Stand-ins for packages of the development environment that no archive contains.
NOT_DEPLOYED = Path(__file__).resolve().parent / "not_deployed"


def bench_cold_starts(plan: Plan, log_dir: Path) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {t.label: [] for t in COLD_TARGETS}
    with firestore_emulator() as address:
        env = server_env({"FIRESTORE_EMULATOR_HOST": address})
        # Every target imports what its deployment would have, not the development extras.
        env["PYTHONPATH"] = os.pathsep.join((str(NOT_DEPLOYED), env["PYTHONPATH"]))
        for _ in range(plan.cold_starts):
            # Interleaved, so that a slow moment of the machine hits every target alike.
            for target in COLD_TARGETS:
                started = time.perf_counter()
                server = start_server(target, env, log_dir)
                try:
                    wait_for_ok(server, 90)
                    samples[target.label].append(time.perf_counter() - started)
                finally:
                    stop_server(server)
    return samples


# -- 3. one log line -------------------------------------------------------------------------------


def realistic_event() -> dict[str, Any]:
    return {
        "entry_id": "je_01HZX3K9D4",
        "tenant_id": "t_acme",
        "amount": "1250.00",
        "currency": "EUR",
        "lines": [
            {"account_id": "acc_cash", "amount": "1250.00", "side": "debit"},
            {"account_id": "acc_revenue", "amount": "1050.42", "side": "credit"},
            {"account_id": "acc_vat", "amount": "199.58", "side": "credit"},
        ],
        "request": {
            "method": "POST",
            "path": "/v1/journal-entries",
            "headers": {
                "Authorization": "Bearer eyJhbGciOiJFUzI1NiJ9.e30.sig",
                "Idempotency-Key": "8d0a4b0e",
                "User-Agent": "acme-erp/4.2",
            },
        },
        "payment": {"card": {"cardNumber": "4111111111111111", "cvv": "123"}, "iban": "DE89"},
        "duration_ms": 12.7,
    }


def access_log_event() -> dict[str, Any]:
    return {
        "method": "GET",
        "path": "/v1/accounts/acc_cash",
        "route": "/v1/accounts/{account_id}",
        "status": 200,
        "duration_ms": 3.21,
        "tenant_id": "t_acme",
    }


def count_keys(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(count_keys(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(count_keys(v) for v in value)
    return 0


def _time_lines(emit: Callable[[], None], count: int) -> float:
    began = time.perf_counter()
    for _ in range(count):
        emit()
    return (time.perf_counter() - began) / count


def bench_log_line(plan: Plan, event: dict[str, Any]) -> dict[str, float]:
    import orjson
    import structlog

    from shared import logger as shared_logger

    saved = structlog.get_config()
    try:
        plain_stream = io.BytesIO()
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(serializer=orjson.dumps),
            ],
            logger_factory=structlog.BytesLoggerFactory(file=plain_stream),
            cache_logger_on_first_use=True,
        )
        plain = structlog.get_logger().bind()

        shared_stream = io.BytesIO()
        shared_logger.configure_logging(
            project_id=PROJECT_ID, function_name="bench", fmt="json", stream=shared_stream
        )
        shaped = shared_logger.get_logger("bench", service="bench")

        shared_logger.bind_request_context(
            correlation_id="c0ffee-1234",
            trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
            span_id="00f067aa0ba902b7",
        )
        best = {"plain": float("inf"), "shared": float("inf")}
        for _ in range(plan.log_repeats):
            for name, log in (("plain", plain), ("shared", shaped)):
                stream = plain_stream if name == "plain" else shared_stream
                stream.seek(0)
                stream.truncate()
                per_line = _time_lines(
                    lambda log=log: log.info("ledger.entry_posted", **event), plan.log_lines
                )
                best[name] = min(best[name], per_line)
        written = shared_stream.getvalue()
        if b"4111111111111111" in written or (
            b"cardNumber" in written and b"[REDACTED]" not in written
        ):
            raise RuntimeError("the shared logger did not redact the benchmark's event")
        if b"logging.googleapis.com/trace" not in written:
            raise RuntimeError("the shared logger did not shape the line for Cloud Logging")
        return best
    finally:
        shared_logger.clear_request_context()
        structlog.configure(**saved)


# -- profiles --------------------------------------------------------------------------------------


def profile_requests(count: int = 3000) -> list[str]:
    """cProfile of in-process dispatches of the no-op GET and the validated POST (no server,
    no sockets)."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from shared import logger as shared_logger

    shared_logger.configure_logging(
        project_id=PROJECT_ID, function_name="bench", fmt="json", stream=io.BytesIO()
    )
    spec = importlib.util.spec_from_file_location("bench_noop_shared", NOOP_SHARED.source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    handler = module.handle
    post = post_load()
    listings = []
    for title, builder in (
        ("no-op GET", EnvironBuilder(path=NOOP_SHARED.path)),
        (
            "validated POST",
            EnvironBuilder(
                path=post.path, method="POST", data=post.body, content_type="application/json"
            ),
        ),
    ):
        environ = builder.get_environ()
        body = post.body or b""
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(count):
            request_environ = dict(environ)
            request_environ["wsgi.input"] = io.BytesIO(body)
            handler(Request(request_environ))
        profiler.disable()
        listings.append(_top(profiler, f"{count} in-process requests, {title}"))
    return listings


def profile_log_line(count: int = 5000) -> str:
    from shared import logger as shared_logger

    shared_logger.configure_logging(
        project_id=PROJECT_ID, function_name="bench", fmt="json", stream=io.BytesIO()
    )
    log = shared_logger.get_logger("bench", service="bench")
    event = realistic_event()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        log.info("ledger.entry_posted", **event)
    profiler.disable()
    return _top(profiler, f"{count} shared log lines")


def _top(profiler: cProfile.Profile, title: str, limit: int = 18) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    return f"--- profile: {title} (sorted by own time)\n{out.getvalue()}"


# -- report ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    ratio: str  # a key of the measured ratios
    text: str
    bound: float
    better: perf_budget.Better

    def met(self, value: float) -> bool:
        return value >= self.bound if self.better == "higher" else value <= self.bound


GOALS = (
    Goal("throughput_vs_bare", "throughput vs bare functions-framework", GOAL_THROUGHPUT, "higher"),
    Goal("throughput_vs_peer", "throughput vs FastAPI peer", GOAL_THROUGHPUT_PEER, "higher"),
    Goal("cold_health_vs_bare", "health cold start vs bare", GOAL_COLD_HEALTH, "lower"),
    Goal(
        "cold_health_vs_peer", "health cold start vs FastAPI peer", GOAL_COLD_HEALTH_PEER, "lower"
    ),
    Goal(
        "cold_firestore_vs_bare", "Firestore route cold start vs bare", GOAL_COLD_FIRESTORE, "lower"
    ),
    Goal("log_line_vs_structlog", "one log line vs plain structlog", GOAL_LOG_LINE, "lower"),
)

# Which way is better for every ratio the budget records. Throughput and CPU ratios are
# ours over the baseline's capacity (higher is better); times are ours over theirs.
BETTER: dict[str, perf_budget.Better] = {
    "throughput_vs_bare": "higher",
    "cpu_vs_bare": "higher",
    "throughput_vs_peer": "higher",
    "cpu_vs_peer": "higher",
    "post_throughput_vs_peer": "higher",
    "post_cpu_vs_peer": "higher",
    "cold_health_vs_bare": "lower",
    "cold_health_vs_peer": "lower",
    "cold_firestore_vs_bare": "lower",
    "log_line_vs_structlog": "lower",
}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report_throughput(load: dict[tuple[str, str], LoadResult], ratios: dict[str, float]) -> None:
    rows = (
        ("bare GET", load[(BARE.label, "GET")]),
        ("shared GET", load[(NOOP_SHARED.label, "GET")]),
        ("peer GET", load[(NOOP_PEER.label, "GET")]),
        ("shared POST", load[(NOOP_SHARED.label, "POST")]),
        ("peer POST", load[(NOOP_PEER.label, "POST")]),
    )
    print("\n1. throughput: no-op GET and validated POST (shared stack, bare, FastAPI peer)")
    header = f"{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'CPU us/req':>12}"
    print(f"   {'':14}{header}")
    for name, result in rows:
        print(
            f"   {name:14}{result.rps:9.0f}{result.percentile_ms(0.5):9.2f}"
            f"{result.percentile_ms(0.99):9.2f}{result.requests:10d}"
            f"{result.cpu_us_per_request:12.0f}"
        )
    shared_get = load[(NOOP_SHARED.label, "GET")]
    print("   ours / baseline   req/s    CPU capacity   p50        p99")
    for label, ours, theirs in (
        ("GET vs bare", shared_get, load[(BARE.label, "GET")]),
        ("GET vs peer", shared_get, load[(NOOP_PEER.label, "GET")]),
        ("POST vs peer", load[(NOOP_SHARED.label, "POST")], load[(NOOP_PEER.label, "POST")]),
    ):
        print(
            f"   {label:16}{ours.rps / theirs.rps:6.2f}x"
            f"{theirs.cpu_us_per_request / ours.cpu_us_per_request:12.2f}x"
            f"{ours.percentile_ms(0.5) / theirs.percentile_ms(0.5):9.2f}x"
            f"{ours.percentile_ms(0.99) / theirs.percentile_ms(0.99):9.2f}x"
        )
    print(
        "   (req/s and CPU capacity: higher is better; p50/p99: ours over theirs, lower is better)"
    )
    bare, peer = load[(BARE.label, "GET")], load[(NOOP_PEER.label, "GET")]
    print(
        f"   ceiling: bare functions-framework vs peer {bare.rps / peer.rps:.2f}x req/s, "
        f"{peer.cpu_us_per_request / bare.cpu_us_per_request:.2f}x CPU capacity"
    )


def throughput_ratios(load: dict[tuple[str, str], LoadResult]) -> dict[str, float]:
    bare = load[(BARE.label, "GET")]
    shared_get, peer_get = load[(NOOP_SHARED.label, "GET")], load[(NOOP_PEER.label, "GET")]
    shared_post, peer_post = load[(NOOP_SHARED.label, "POST")], load[(NOOP_PEER.label, "POST")]
    return {
        "throughput_vs_bare": shared_get.rps / bare.rps,
        "cpu_vs_bare": bare.cpu_us_per_request / shared_get.cpu_us_per_request,
        "throughput_vs_peer": shared_get.rps / peer_get.rps,
        "cpu_vs_peer": peer_get.cpu_us_per_request / shared_get.cpu_us_per_request,
        "post_throughput_vs_peer": shared_post.rps / peer_post.rps,
        "post_cpu_vs_peer": peer_post.cpu_us_per_request / shared_post.cpu_us_per_request,
    }


@dataclass(frozen=True)
class AccessReads:
    cold: Any  # bench_auth.ColdRead: cache misses, one document read each
    hit_us: float  # the check on a cache hit, in-process


def bench_access_reads(plan: Plan, session: SessionStack) -> AccessReads:
    import bench_auth

    return AccessReads(
        bench_auth.cold_reads(session.client, plan.access_reads),
        bench_auth.cache_hit_us(session.client, plan.access_hits),
    )


def report_session(load: dict[tuple[str, str], LoadResult], reads: AccessReads) -> None:
    """Printed only: the authenticated figures stay out of the budget until they prove
    stable (each request also waits on the emulator, which shares the machine's cores)."""
    none = load[(NOOP_SHARED.label, "GET")]
    token = load[(AUTH_TOKEN_ONLY.label, "GET")]
    full = load[(AUTH_FULL.label, "GET")]
    print(
        "\n4. the session check: an authenticated no-op GET (token verified: signature, claims,"
        "\n   one revocation read) with and without the access-state check (cache hit path)"
    )
    header = f"{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'CPU us/req':>12}"
    print(f"   {'':20}{header}")
    for name, result in (
        ("no auth (public)", none),
        ("token only", token),
        ("token + session", full),
    ):
        print(
            f"   {name:20}{result.rps:9.0f}{result.percentile_ms(0.5):9.2f}"
            f"{result.percentile_ms(0.99):9.2f}{result.requests:10d}"
            f"{result.cpu_us_per_request:12.0f}"
        )
    print("   over the no-auth no-op   req/s    CPU/request   p50        p99")
    for name, result in (("token only", token), ("token + session", full)):
        print(
            f"   {name:22}{result.rps / none.rps:6.2f}x"
            f"{result.cpu_us_per_request / none.cpu_us_per_request:12.2f}x"
            f"{result.percentile_ms(0.5) / none.percentile_ms(0.5):9.2f}x"
            f"{result.percentile_ms(0.99) / none.percentile_ms(0.99):9.2f}x"
        )
    cost = full.cpu_us_per_request - token.cpu_us_per_request
    print(
        f"   session check, cache hit: {cost:+.0f} us server CPU per request "
        f"({cost / token.cpu_us_per_request:+.1%} of the token-only request); "
        f"token + session / token only: {full.rps / token.rps:.2f}x req/s, "
        f"p50 {full.percentile_ms(0.5) - token.percentile_ms(0.5):+.2f} ms, "
        f"p99 {full.percentile_ms(0.99) - token.percentile_ms(0.99):+.2f} ms"
    )
    print(
        f"   the same in-process, no server: {reads.hit_us:.1f} us per check (get + admit); "
        "a server-CPU difference far above it is the load's noise, not the check"
    )
    cold = reads.cold
    print(
        f"   cache miss, one access-state read in-process: median {cold.median_us:.0f} us "
        f"({cold.min_us:.0f}-{cold.max_us:.0f} us, n={cold.count}; "
        f"the process's first read {cold.first_us:.0f} us)"
    )


def report_cold(samples: dict[str, list[float]]) -> dict[str, float]:
    median = {label: statistics.median(values) for label, values in samples.items()}
    print("\n2. cold start, process start to first 200 (median; min-max)")
    for label, values in samples.items():
        print(
            f"   {label:16}{median[label] * 1000:7.0f} ms"
            f"   ({min(values) * 1000:.0f}-{max(values) * 1000:.0f} ms, n={len(values)})"
        )
    return {
        "cold_health_vs_bare": median[HEALTH.label] / median[BARE.label],
        "cold_health_vs_peer": median[HEALTH.label] / median[PEER_LIVE.label],
        "cold_firestore_vs_bare": median[FIRESTORE_ROUTE.label] / median[BARE.label],
    }


def report_log(plan: Plan) -> dict[str, float]:
    per_line = bench_log_line(plan, realistic_event())
    flat = bench_log_line(plan, access_log_event())
    print("\n3. one log line, best of repeats: shared logger vs plain structlog JSON")
    print(f"   {'':34}{'plain us':>9}{'shared us':>10}{'ratio':>7}")
    rows = (
        (f"nested event ({count_keys(realistic_event())} keys)", per_line),
        (f"flat access-log line ({count_keys(access_log_event())} keys)", flat),
    )
    for label, figures in rows:
        print(
            f"   {label:34}{figures['plain'] * 1e6:9.1f}{figures['shared'] * 1e6:10.1f}"
            f"{figures['shared'] / figures['plain']:6.2f}x"
        )
    return {"log_line_vs_structlog": per_line["shared"] / per_line["plain"]}


def report_goals(ratios: dict[str, float]) -> None:
    print("\ngoals (ratios of this run)")
    for goal in GOALS:
        if goal.ratio not in ratios:
            continue
        sign = ">=" if goal.better == "higher" else "<="
        value = ratios[goal.ratio]
        print(
            f"   {goal.text:38}{value:6.2f}x  goal {sign} {goal.bound:.2f}x  "
            f"{verdict(goal.met(value))}"
        )


def check_budget(ratios: dict[str, float], path: Path) -> int:
    budget = perf_budget.load(path)
    regressed, unmeasured = perf_budget.regressions(ratios, budget)
    tolerance = float(budget.get("tolerance", perf_budget.DEFAULT_TOLERANCE))
    print(
        f"\nbudget ({path.name}, recorded {budget.get('date', '?')}, "
        f"tolerance {tolerance:.0%}): "
        + ("within budget" if not regressed else f"{len(regressed)} ratio(s) regressed")
    )
    for name, entry in budget["ratios"].items():
        if name in ratios:
            bound = perf_budget.limit(float(entry["value"]), entry["better"], tolerance)
            bad = any(r.name == name for r in regressed)
            print(
                f"   {name:26}{ratios[name]:6.2f}x  recorded {float(entry['value']):5.2f}x"
                f"  limit {bound:5.2f}x  {'REGRESSED' if bad else 'ok'}"
            )
    if unmeasured:
        print(f"   not measured in this run: {', '.join(unmeasured)}")
    for regression in regressed:
        print(f"error: performance budget exceeded: {regression}", file=sys.stderr)
    return 1 if regressed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="bounded run (about a minute)")
    parser.add_argument("--profile", action="store_true", help="add cProfile listings")
    parser.add_argument("--only", choices=["throughput", "cold", "log", "session"], action="append")
    parser.add_argument("--budget", type=Path, default=perf_budget.BUDGET_PATH)
    parser.add_argument("--no-budget", action="store_true", help="report only, never fail")
    parser.add_argument(
        "--record-budget", action="store_true", help="write this run's ratios as the budget"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    selected = set(args.only or ["throughput", "cold", "log", "session"])
    if selected & {"throughput", "cold"} and importlib.util.find_spec("fastapi") is None:
        print("error: the FastAPI peer needs the dev extras (fastapi, uvloop, httptools)")
        return 2
    log_dir = Path(tempfile.mkdtemp(prefix="bench-platform-"))
    machine = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
    began = time.monotonic()
    print(
        f"machine: {machine}; functions-framework THREADS={SERVER_THREADS}, peer: uvicorn "
        f"(uvloop, httptools, 1 worker); {plan.clients} clients, {plan.rounds} x "
        f"{plan.load_seconds:.0f}s after {plan.warmup_seconds:.1f}s warm-up; "
        f"{plan.cold_starts} cold starts each; {plan.log_lines} log lines x {plan.log_repeats}; "
        f"{plan.access_reads} cold access-state reads"
    )
    ratios: dict[str, float] = {}
    # One set of rounds loads every server either part needs, so they share the moments.
    targets = tuple(
        dict.fromkeys(
            (THROUGHPUT_TARGETS if "throughput" in selected else ())
            + (SESSION_TARGETS if "session" in selected else ())
        )
    )
    try:
        load: dict[tuple[str, str], LoadResult] = {}
        reads: AccessReads | None = None
        cold_samples: dict[str, list[float]] = {}
        stack: AbstractContextManager[SessionStack | None] = (
            session_stack(log_dir) if "session" in selected else nullcontext(None)
        )
        # The cold starts run inside the session stack so that both use its emulator
        # (session_stack sets FIRESTORE_EMULATOR_HOST while it runs).
        with stack as session:
            if targets:
                load = bench_throughput(plan, log_dir, targets, session)
            if session is not None:
                reads = bench_access_reads(plan, session)
            if "cold" in selected:
                cold_samples = bench_cold_starts(plan, log_dir)
        if "throughput" in selected:
            ratios.update(throughput_ratios(load))
            report_throughput(load, ratios)
        if "cold" in selected:
            ratios.update(report_cold(cold_samples))
        if "log" in selected:
            ratios.update(report_log(plan))
        if reads is not None:
            report_session(load, reads)
        if args.profile:
            print()
            for listing in profile_requests():
                print(listing)
            print(profile_log_line())
    finally:
        stop_all()
    report_goals(ratios)
    print(f"\n({time.monotonic() - began:.0f} s)")
    if args.record_budget:
        command = "python tests/benchmarks/bench_platform.py" + (" --quick" if args.quick else "")
        perf_budget.record(
            args.budget,
            ratios,
            BETTER,
            command=command,
            machine=machine,
            date=time.strftime("%Y-%m-%d"),
        )
        print(f"budget recorded in {args.budget}")
        return 0
    if args.no_budget:
        return 0
    return check_budget(ratios, args.budget)


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        stop_all()
        raise
