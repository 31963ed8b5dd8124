"""Benchmarks of the shared platform modules; every figure is a ratio to a baseline of the same run.

    python tests/benchmarks/bench_platform.py [--quick] [--profile]

1. Throughput: a no-op route through the whole shared HTTP stack vs a bare
   functions-framework function, both served by functions-framework (gunicorn,
   same THREADS) in their own process groups, loaded by keep-alive client threads
   over loopback. Goal: requests/s ratio >= 0.90; added p50/p99 latency reported.
2. Cold start, process start to first 200 (median of several starts):
   health liveness vs bare (goal <= 1.3x), a Firestore-backed route vs bare
   (goal <= 2.5x). Uses FIRESTORE_EMULATOR_HOST if it answers, else starts one.
3. One log line: the shared logger (JSON, redaction, Cloud Logging shape) vs
   plain structlog JSONRenderer, both writing to memory. Goal <= 1.5x.

``--profile`` adds cProfile listings of an in-process request and of a log line.
Every loop is bounded in count and time; every process started here is stopped by
process group, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
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
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

BENCH_FUNCTIONS = Path(__file__).resolve().parent / "functions"
HOST = "127.0.0.1"
PROJECT_ID = "demo-tributum-bench"
# functions-framework's default is 4 x cores; fixed here so both servers get the same.
SERVER_THREADS = str(4 * (os.cpu_count() or 1))

GOAL_THROUGHPUT = 0.90
GOAL_COLD_HEALTH = 1.3
GOAL_COLD_FIRESTORE = 2.5
GOAL_LOG_LINE = 1.5


@dataclass(frozen=True)
class Plan:
    clients: int = 8
    warmup_seconds: float = 2.0
    load_seconds: float = 6.0
    rounds: int = 2  # bare and shared alternate, so drift hits both alike
    max_requests: int = 500_000
    cold_starts: int = 5
    log_lines: int = 20_000
    log_repeats: int = 7


QUICK = Plan(warmup_seconds=1.0, load_seconds=2.0, rounds=1, cold_starts=3, log_lines=5_000)


@dataclass(frozen=True)
class Target:
    label: str
    source: Path
    path: str


BARE = Target("bare", BENCH_FUNCTIONS / "bare.py", "/")
NOOP_SHARED = Target("shared no-op", BENCH_FUNCTIONS / "noop_shared.py", "/v1/bench/noop")
HEALTH = Target("health live", REPO_ROOT / "functions" / "health" / "main.py", "/v1/health/live")
FIRESTORE_ROUTE = Target("firestore route", BENCH_FUNCTIONS / "firestore_read.py", "/v1/bench/doc")


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


def start_server(target: Target, env: dict[str, str], log_dir: Path) -> Server:
    port = free_port()
    stdout_path = log_dir / f"{target.source.stem}-{port}.stdout"
    with stdout_path.open("wb") as stdout:
        process = subprocess.Popen(
            [
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
            ],
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


def wait_for_ok(server: Server, timeout_seconds: float) -> float:
    """Seconds from now until the first 200, polling every few milliseconds."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.stdout_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{server.target.label} exited early:\n{tail}")
        connection = http.client.HTTPConnection(HOST, server.port, timeout=2)
        try:
            connection.request("GET", server.target.path)
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
    port: int, path: str, clients: int, seconds: float, max_requests: int
) -> LoadResult:
    """``clients`` threads, one keep-alive connection each, for ``seconds`` or the request cap."""
    stop_at = time.monotonic() + seconds
    budget = threading.Semaphore(max_requests)
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    start_line = threading.Barrier(clients + 1)

    def client() -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=10)
        mine: list[float] = []
        failed = 0
        start_line.wait()
        try:
            while time.monotonic() < stop_at and budget.acquire(blocking=False):
                began = time.perf_counter()
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
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


def bench_throughput(plan: Plan, log_dir: Path) -> dict[str, LoadResult]:
    results: dict[str, list[LoadResult]] = {BARE.label: [], NOOP_SHARED.label: []}
    for _ in range(plan.rounds):
        for target in (BARE, NOOP_SHARED):
            server = start_server(target, server_env(), log_dir)
            try:
                wait_for_ok(server, 60)
                generate_load(server.port, target.path, plan.clients, plan.warmup_seconds, 10**9)
                cpu_before = group_cpu_seconds(server.process.pid)
                result = generate_load(
                    server.port, target.path, plan.clients, plan.load_seconds, plan.max_requests
                )
                result.server_cpu_seconds = group_cpu_seconds(server.process.pid) - cpu_before
                if result.errors:
                    raise RuntimeError(f"{target.label}: {result.errors} non-200 answers")
                results[target.label].append(result)
            finally:
                stop_server(server)
            if target is NOOP_SHARED:
                check_access_log(server.stdout_path)
    return {label: merge(runs) for label, runs in results.items()}


def merge(runs: list[LoadResult]) -> LoadResult:
    merged = LoadResult(
        sum(r.requests for r in runs),
        sum(r.seconds for r in runs),
        server_cpu_seconds=sum(r.server_cpu_seconds for r in runs),
    )
    for run in runs:
        merged.latencies.extend(run.latencies)
    return merged


def check_access_log(stdout_path: Path) -> None:
    """The shared stack really did its work: one JSON access-log line per request."""
    lines = stdout_path.read_bytes().splitlines()
    access = [line for line in lines if b'"message":"http.request"' in line]
    if not access:
        raise RuntimeError(f"the shared no-op wrote no access-log line to {stdout_path}")


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


def bench_cold_starts(plan: Plan, log_dir: Path) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {t.label: [] for t in (BARE, HEALTH, FIRESTORE_ROUTE)}
    with firestore_emulator() as address:
        env = server_env({"FIRESTORE_EMULATOR_HOST": address})
        for _ in range(plan.cold_starts):
            # Interleaved, so that a slow moment of the machine hits every target alike.
            for target in (BARE, HEALTH, FIRESTORE_ROUTE):
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


def profile_request(count: int = 3000) -> str:
    """cProfile of in-process dispatches of the no-op route (no server, no sockets)."""
    import importlib.util

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
    environ = EnvironBuilder(path=NOOP_SHARED.path).get_environ()
    handler = module.handle
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        handler(Request(dict(environ)))
    profiler.disable()
    return _top(profiler, f"{count} in-process requests of the no-op route")


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


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke check")
    parser.add_argument("--profile", action="store_true", help="add cProfile listings")
    parser.add_argument("--only", choices=["throughput", "cold", "log"], action="append")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    selected = set(args.only or ["throughput", "cold", "log"])
    misses = 0
    log_dir = Path(tempfile.mkdtemp(prefix="bench-platform-"))
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
        f"functions-framework THREADS={SERVER_THREADS}; {plan.clients} clients, "
        f"{plan.rounds} x {plan.load_seconds:.0f}s after {plan.warmup_seconds:.0f}s warm-up; "
        f"{plan.cold_starts} cold starts each; {plan.log_lines} log lines x {plan.log_repeats}"
    )
    try:
        if "throughput" in selected:
            load = bench_throughput(plan, log_dir)
            bare, shared = load[BARE.label], load[NOOP_SHARED.label]
            ratio = shared.rps / bare.rps
            misses += ratio < GOAL_THROUGHPUT
            print("\n1. throughput, no-op route: shared HTTP stack vs bare functions-framework")
            header = f"{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'CPU us/req':>12}"
            print(f"   {'':14}{header}")
            for name, result in (("bare", bare), ("shared", shared)):
                print(
                    f"   {name:14}{result.rps:9.0f}{result.percentile_ms(0.5):9.2f}"
                    f"{result.percentile_ms(0.99):9.2f}{result.requests:10d}"
                    f"{result.cpu_us_per_request:12.0f}"
                )
            print(
                f"   ratio {ratio:.2f}x (goal >= {GOAL_THROUGHPUT:.2f}x) "
                f"{verdict(ratio >= GOAL_THROUGHPUT)}; added latency p50 "
                f"{shared.percentile_ms(0.5) - bare.percentile_ms(0.5):+.2f} ms, p99 "
                f"{shared.percentile_ms(0.99) - bare.percentile_ms(0.99):+.2f} ms"
            )
            print(
                f"   server CPU per request: shared {shared.cpu_us_per_request:.0f} us vs bare "
                f"{bare.cpu_us_per_request:.0f} us "
                f"(+{shared.cpu_us_per_request - bare.cpu_us_per_request:.0f} us, capacity ratio "
                f"{bare.cpu_us_per_request / shared.cpu_us_per_request:.2f}x)"
            )
        if "cold" in selected:
            samples = bench_cold_starts(plan, log_dir)
            median = {label: statistics.median(values) for label, values in samples.items()}
            health = median[HEALTH.label] / median[BARE.label]
            firestore = median[FIRESTORE_ROUTE.label] / median[BARE.label]
            misses += (health > GOAL_COLD_HEALTH) + (firestore > GOAL_COLD_FIRESTORE)
            print("\n2. cold start, process start to first 200 (median; min-max)")
            for label, values in samples.items():
                print(
                    f"   {label:16}{median[label] * 1000:7.0f} ms"
                    f"   ({min(values) * 1000:.0f}-{max(values) * 1000:.0f} ms, n={len(values)})"
                )
            print(
                f"   health/bare {health:.2f}x (goal <= {GOAL_COLD_HEALTH}x) "
                f"{verdict(health <= GOAL_COLD_HEALTH)}"
            )
            print(
                f"   firestore/bare {firestore:.2f}x (goal <= {GOAL_COLD_FIRESTORE}x) "
                f"{verdict(firestore <= GOAL_COLD_FIRESTORE)}"
            )
        if "log" in selected:
            per_line = bench_log_line(plan, realistic_event())
            flat = bench_log_line(plan, access_log_event())
            ratio = per_line["shared"] / per_line["plain"]
            misses += ratio > GOAL_LOG_LINE
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
            print(
                f"   nested event ratio {ratio:.2f}x (goal <= {GOAL_LOG_LINE}x) "
                f"{verdict(ratio <= GOAL_LOG_LINE)}"
            )
        if args.profile:
            print()
            print(profile_request())
            print(profile_log_line())
    finally:
        stop_all()
    print(f"\n{misses} goal(s) missed")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        stop_all()
        raise
