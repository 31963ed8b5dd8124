"""Foundation benchmarks: every figure is a ratio against a baseline measured in the same run.

    python tests/benchmarks/bench_foundation.py            (or: make bench)

1. no-op route through the shared HTTP stack vs a bare functions-framework function:
   requests/s ratio (goal >= 0.90x) and added p50/p99 latency;
2. cold start, process start to first 200: health liveness vs bare (goal <= 1.3x) and a
   Firestore-backed route vs bare (goal <= 2.5x);
3. one log line with redaction and Cloud Logging shaping vs plain structlog JSON (goal <= 1.5x);
4. ``retry_call`` (on tenacity) around a call that succeeds first time, the path every
   ledger posting takes: microseconds added over calling the function directly (goal
   <= 20 us), and the ratio to the hand-written loop it replaced (kept below as the peer).

Only loopback traffic; every loop is bounded in count and time; processes it starts are
stopped by process group.
"""

from __future__ import annotations

import http.client
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import random

    from shared.resilience import Clock, RetryPolicy

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
HERE = Path(__file__).resolve().parent
FUNCTIONS = HERE / "functions"

T = TypeVar("T")

LOAD_SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "5"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
COLD_STARTS = int(os.environ.get("BENCH_COLD_STARTS", "5"))
LOG_LINES = int(os.environ.get("BENCH_LOG_LINES", "20000"))
RETRY_CALLS = int(os.environ.get("BENCH_RETRY_CALLS", "50000"))
GOAL_RETRY_ADDED_US = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_function(source: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--source",
            str(source),
            "--target",
            "handle",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def first_ok(port: int, path: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return True
        except OSError:
            time.sleep(0.005)
    return False


def base_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TRIBUTUM_ENV": "local",
        "TRIBUTUM_LOG_FORMAT": "json",
        "TRIBUTUM_FUNCTION_NAME": "bench",
    }


def load(port: int, path: str) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + LOAD_SECONDS

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    begun = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / (time.monotonic() - begun), latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def bench_throughput() -> dict[str, float]:
    results = {}
    for name, source, path in (
        ("bare", FUNCTIONS / "bare.py", "/"),
        ("shared", FUNCTIONS / "noop_shared.py", "/v1/bench/noop"),
    ):
        port = free_port()
        process = start_function(source, port, base_env())
        try:
            if not first_ok(port, path, time.monotonic() + 30):
                raise RuntimeError(f"{name} function did not start")
            load(port, path) if LOAD_SECONDS > 2 else None  # warm-up run, discarded
            rps, latencies = load(port, path)
        finally:
            stop(process)
        results[f"{name}_rps"] = rps
        results[f"{name}_p50"] = percentile(latencies, 0.50)
        results[f"{name}_p99"] = percentile(latencies, 0.99)
    return results


def cold_start(source: Path, path: str, env: dict[str, str]) -> float:
    samples = []
    for _ in range(COLD_STARTS):
        port = free_port()
        started = time.monotonic()
        process = start_function(source, port, env)
        try:
            if not first_ok(port, path, started + 60):
                raise RuntimeError(f"{source} did not answer 200")
            samples.append(time.monotonic() - started)
        finally:
            stop(process)
    return statistics.median(samples)


def bench_cold_starts() -> dict[str, float]:
    from emulator import emulators as emu

    env = base_env()
    started = None
    address = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if not address or not emu.is_answering(*_split(address)):
        port = free_port()
        started = emu.start_emulator(
            emu.FIRESTORE,
            port=port,
            project_id="demo-tributum-bench",
            log_dir=Path(tempfile.mkdtemp(prefix="bench-")),
        )
        address = started.address
    env.update(
        {
            "FIRESTORE_EMULATOR_HOST": address,
            "TRIBUTUM_PROJECT_ID": "demo-tributum-bench",
            "GOOGLE_CLOUD_PROJECT": "demo-tributum-bench",
        }
    )
    try:
        return {
            "bare": cold_start(FUNCTIONS / "bare.py", "/", env),
            "health": cold_start(REPO / "functions" / "health" / "main.py", "/v1/health/live", env),
            "firestore": cold_start(FUNCTIONS / "firestore_read.py", "/v1/bench/doc", env),
        }
    finally:
        if started is not None:
            emu.stop_process_group(started.pgid)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def bench_logging() -> dict[str, float]:
    import orjson
    import structlog

    from shared.logger import configure_logging, get_logger

    event = {
        "account_id": "acc_123",
        "amount": "12.34",
        "currency": "EUR",
        "request": {
            "headers": {"authorization": "Bearer x", "x-api-key": "k"},
            "body": {"card_number": "4111", "description": "coffee"},
        },
        "lines": [{"account_id": "a", "amount": "1.00"}, {"account_id": "b", "amount": "1.00"}],
    }

    def run(logger: object) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(LOG_LINES):
                logger.info("ledger.entry_posted", **event)  # type: ignore[attr-defined]
            best = min(best, time.perf_counter() - started)
        return best / LOG_LINES * 1e6

    plain_stream = io.BytesIO()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        logger_factory=structlog.BytesLoggerFactory(file=plain_stream),
        cache_logger_on_first_use=True,
    )
    plain = run(structlog.get_logger())
    structlog.reset_defaults()
    shared_stream = io.BytesIO()
    configure_logging(project_id="demo", function_name="bench", fmt="json", stream=shared_stream)
    shaped = run(get_logger())
    assert b"[REDACTED]" in shared_stream.getvalue()
    return {"plain_us": plain, "shared_us": shaped}


def _hand_written_retry_call(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    is_retryable: Callable[[BaseException], bool],
    clock: Clock,
    rng: random.Random | None = None,
    name: str = "call",
) -> T:
    """The loop ``shared.resilience.retry_call`` ran before tenacity, kept only as the peer."""
    from shared.resilience import _JITTER, _log

    chooser = rng or _JITTER
    for attempt in range(policy.max_attempts):
        try:
            return fn()
        except Exception as exc:
            if not is_retryable(exc) or attempt == policy.max_attempts - 1:
                raise
            wait = policy.delay(attempt, chooser)
            _log.info(
                "resilience.retrying",
                call=name,
                attempt=attempt + 1,
                max_attempts=policy.max_attempts,
                wait_seconds=round(wait, 3),
                error=type(exc).__name__,
            )
            clock.sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises")


def bench_retry_hot_path() -> dict[str, float]:
    """Microseconds per call that succeeds first time: direct, hand-written loop, tenacity."""
    from shared.events.transact import CONTENTION_RETRY as DEFAULT_RETRY
    from shared.resilience import SYSTEM_CLOCK, is_firestore_contention, retry_call

    def posting() -> int:
        return 1

    def direct() -> int:
        return posting()

    def hand_written() -> int:
        return _hand_written_retry_call(
            posting,
            policy=DEFAULT_RETRY,
            is_retryable=is_firestore_contention,
            clock=SYSTEM_CLOCK,
            name="ledger",
        )

    def tenacity_based() -> int:
        return retry_call(
            posting,
            policy=DEFAULT_RETRY,
            is_retryable=is_firestore_contention,
            clock=SYSTEM_CLOCK,
            name="ledger",
        )

    def per_call_us(call: Callable[[], int]) -> float:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(RETRY_CALLS):
                call()
            best = min(best, time.perf_counter() - started)
        return best / RETRY_CALLS * 1e6

    return {
        "direct_us": per_call_us(direct),
        "hand_written_us": per_call_us(hand_written),
        "tenacity_us": per_call_us(tenacity_based),
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    print(
        f"machine: {os.cpu_count()} cores; {CLIENTS} clients x {LOAD_SECONDS:.0f}s; "
        f"{COLD_STARTS} cold starts each; {LOG_LINES} log lines"
    )
    t = bench_throughput()
    ratio = t["shared_rps"] / t["bare_rps"]
    print("\n1. no-op route, shared HTTP stack vs bare functions-framework")
    print(
        f"   bare   {t['bare_rps']:8.0f} req/s  p50 {t['bare_p50']:6.2f} ms  "
        f"p99 {t['bare_p99']:6.2f} ms"
    )
    print(
        f"   shared {t['shared_rps']:8.0f} req/s  p50 {t['shared_p50']:6.2f} ms  "
        f"p99 {t['shared_p99']:6.2f} ms"
    )
    added_p50 = t["shared_p50"] - t["bare_p50"]
    added_p99 = t["shared_p99"] - t["bare_p99"]
    print(
        f"   ratio {ratio:.2f}x (goal >= 0.90x) {verdict(ratio >= 0.90)}; "
        f"added p50 {added_p50:+.2f} ms, p99 {added_p99:+.2f} ms"
    )
    c = bench_cold_starts()
    health, firestore = c["health"] / c["bare"], c["firestore"] / c["bare"]
    print("\n2. cold start, process start to first 200 (median)")
    print(
        f"   bare {c['bare'] * 1000:.0f} ms, health {c['health'] * 1000:.0f} ms, "
        f"firestore route {c['firestore'] * 1000:.0f} ms"
    )
    print(
        f"   health/bare {health:.2f}x (goal <= 1.3x) {verdict(health <= 1.3)}; "
        f"firestore/bare {firestore:.2f}x (goal <= 2.5x) {verdict(firestore <= 2.5)}"
    )
    lg = bench_logging()
    log_ratio = lg["shared_us"] / lg["plain_us"]
    print("\n3. one log line: redaction + Cloud Logging shape vs plain structlog JSON")
    print(
        f"   plain {lg['plain_us']:.1f} us, shared {lg['shared_us']:.1f} us: "
        f"{log_ratio:.2f}x (goal <= 1.5x) {verdict(log_ratio <= 1.5)}"
    )
    r = bench_retry_hot_path()
    added = r["tenacity_us"] - r["direct_us"]
    print("\n4. retry_call around a call that succeeds first time (the posting hot path)")
    print(
        f"   direct {r['direct_us']:.2f} us, hand-written loop {r['hand_written_us']:.2f} us, "
        f"retry_call on tenacity {r['tenacity_us']:.2f} us"
    )
    print(
        f"   added over direct {added:.2f} us (goal <= {GOAL_RETRY_ADDED_US:.0f} us) "
        f"{verdict(added <= GOAL_RETRY_ADDED_US)}; "
        f"vs hand-written {r['tenacity_us'] / r['hand_written_us']:.1f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
