"""Timeouts, retries with backoff and jitter, and the circuit breaker, on a fake clock."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from shared.payments.provider import (
    AuthorizationRequest,
    ProviderDeclined,
    ProviderTimeout,
    ProviderUnavailable,
    ResilientProvider,
)
from shared.payments.sandbox import SandboxProvider
from shared.resilience import (
    BreakerPolicy,
    CallTimeoutError,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    Resilience,
    RetryPolicy,
    call_with_timeout,
    retry_call,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Transient(Exception):
    pass


class Permanent(Exception):
    pass


def flaky(failures: int, result: str = "ok") -> Any:
    calls = {"n": 0}

    def call() -> str:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise Transient(f"failure {calls['n']}")
        return result

    call.calls = calls  # type: ignore[attr-defined]
    return call


# -- backoff math ---------------------------------------------------------------------------


def test_the_backoff_ceiling_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay_seconds=0.1, max_delay_seconds=1.0)
    assert [policy.backoff_ceiling(n) for n in range(6)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    )
    assert policy.backoff_ceiling(10_000) == 1.0


def test_full_jitter_is_uniform_below_the_ceiling_and_reproducible_with_a_seed() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay_seconds=0.1, max_delay_seconds=1.0)
    delays = [policy.delay(n, random.Random(7)) for n in range(6)]
    assert delays == [random.Random(7).uniform(0, policy.backoff_ceiling(n)) for n in range(6)]
    rng = random.Random(3)
    samples = [policy.delay(2, rng) for _ in range(2000)]
    assert all(0 <= s <= 0.4 for s in samples)
    assert min(samples) < 0.04 and max(samples) > 0.36  # spread over the whole range


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"base_delay_seconds": -0.1},
        {"base_delay_seconds": 2.0, "max_delay_seconds": 1.0},
    ],
)
def test_retry_policies_are_validated(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r".+"):
        RetryPolicy(**kwargs)


# -- retries ---------------------------------------------------------------------------------


def test_transient_failures_are_retried_with_seeded_jittered_sleeps() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=4, base_delay_seconds=0.5, max_delay_seconds=10)
    call = flaky(2)
    result = retry_call(
        call,
        policy=policy,
        is_retryable=lambda e: isinstance(e, Transient),
        clock=clock,
        rng=random.Random(11),
    )
    assert result == "ok"
    assert call.calls["n"] == 3
    replay = random.Random(11)
    assert clock.sleeps == [replay.uniform(0, 0.5), replay.uniform(0, 1.0)]


def test_attempts_are_bounded_and_the_last_error_is_raised_as_is() -> None:
    clock = FakeClock()
    call = flaky(10)
    with pytest.raises(Transient, match="failure 3"):
        retry_call(
            call,
            policy=RetryPolicy(max_attempts=3),
            is_retryable=lambda e: isinstance(e, Transient),
            clock=clock,
            rng=random.Random(1),
        )
    assert call.calls["n"] == 3
    assert len(clock.sleeps) == 2


def test_permanent_failures_are_not_retried() -> None:
    clock = FakeClock()
    calls = {"n": 0}

    def declined() -> None:
        calls["n"] += 1
        raise Permanent("no")

    with pytest.raises(Permanent):
        retry_call(
            declined,
            policy=RetryPolicy(max_attempts=5),
            is_retryable=lambda e: isinstance(e, Transient),
            clock=clock,
        )
    assert calls["n"] == 1
    assert clock.sleeps == []


# -- deadline --------------------------------------------------------------------------------


def test_a_call_within_its_deadline_returns_or_raises_its_own_outcome() -> None:
    assert call_with_timeout(lambda: 42, 1.0) == 42
    with pytest.raises(Permanent):
        call_with_timeout(lambda: (_ for _ in ()).throw(Permanent("x")), 1.0)


def test_a_call_past_its_deadline_is_abandoned() -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(CallTimeoutError) as caught:
        call_with_timeout(lambda: release.wait(5), 0.05, name="slow")
    assert time.monotonic() - started < 1.0
    assert caught.value.name == "slow"
    release.set()


def test_the_deadline_worker_sees_the_callers_context() -> None:
    from contextvars import ContextVar

    marker: ContextVar[str] = ContextVar("marker", default="unset")
    marker.set("request-7")
    assert call_with_timeout(marker.get, 1.0) == "request-7"


# -- circuit breaker -------------------------------------------------------------------------


def breaker(clock: FakeClock, **policy: Any) -> CircuitBreaker:
    values = {
        "consecutive_failures": 3,
        "failure_rate": 0.5,
        "window_seconds": 60.0,
        "minimum_calls": 10,
        "cool_down_seconds": 30.0,
    }
    values.update(policy)
    return CircuitBreaker("test", BreakerPolicy(**values), clock=clock)


def fail(circuit: CircuitBreaker) -> None:
    with pytest.raises(Transient):
        circuit.call(lambda: (_ for _ in ()).throw(Transient()))


def succeed(circuit: CircuitBreaker) -> str:
    return circuit.call(lambda: "ok")


def test_consecutive_failures_open_the_circuit() -> None:
    clock = FakeClock()
    circuit = breaker(clock)
    fail(circuit)
    fail(circuit)
    succeed(circuit)  # a success resets the run
    fail(circuit)
    fail(circuit)
    assert circuit.state is CircuitState.CLOSED
    fail(circuit)
    assert circuit.state is CircuitState.OPEN
    calls = {"n": 0}

    def counted() -> str:
        calls["n"] += 1
        return "ok"

    with pytest.raises(CircuitOpenError) as caught:
        circuit.call(counted)
    assert calls["n"] == 0
    assert caught.value.retry_after_seconds == pytest.approx(30.0)


def test_a_failure_rate_in_the_window_opens_the_circuit() -> None:
    clock = FakeClock()
    circuit = breaker(clock, consecutive_failures=100, minimum_calls=10, failure_rate=0.5)
    for _ in range(5):
        succeed(circuit)
        fail(circuit)
        clock.now += 1
    # 10 calls, 5 failures: 50 % reached.
    assert circuit.state is CircuitState.OPEN


def test_old_calls_leave_the_window() -> None:
    clock = FakeClock()
    circuit = breaker(clock, consecutive_failures=100, minimum_calls=4, window_seconds=10)
    fail(circuit)
    fail(circuit)
    clock.now += 11  # those two are forgotten
    succeed(circuit)
    succeed(circuit)
    fail(circuit)
    assert circuit.state is CircuitState.CLOSED
    assert circuit.snapshot()["window_calls"] == 3
    fail(circuit)
    assert circuit.state is CircuitState.OPEN


def test_after_the_cool_down_one_trial_closes_the_circuit() -> None:
    clock = FakeClock()
    circuit = breaker(clock)
    for _ in range(3):
        fail(circuit)
    clock.now += 29.9
    with pytest.raises(CircuitOpenError):
        succeed(circuit)
    clock.now += 0.1
    assert circuit.state is CircuitState.HALF_OPEN
    assert succeed(circuit) == "ok"
    assert circuit.state is CircuitState.CLOSED
    assert circuit.snapshot()["consecutive_failures"] == 0


def test_a_failed_trial_opens_the_circuit_for_another_cool_down() -> None:
    clock = FakeClock()
    circuit = breaker(clock)
    for _ in range(3):
        fail(circuit)
    clock.now += 30
    fail(circuit)
    assert circuit.state is CircuitState.OPEN
    clock.now += 29
    with pytest.raises(CircuitOpenError):
        succeed(circuit)
    clock.now += 1
    succeed(circuit)
    assert circuit.state is CircuitState.CLOSED


def test_half_open_lets_exactly_one_trial_through() -> None:
    clock = FakeClock()
    circuit = breaker(clock)
    for _ in range(3):
        fail(circuit)
    clock.now += 30
    inside = threading.Event()
    release = threading.Event()
    results: list[str] = []

    def trial() -> str:
        inside.set()
        release.wait(5)
        return "trial"

    worker = threading.Thread(target=lambda: results.append(circuit.call(trial)))
    worker.start()
    assert inside.wait(5)
    with pytest.raises(CircuitOpenError):
        succeed(circuit)
    release.set()
    worker.join(5)
    assert results == ["trial"]
    assert circuit.state is CircuitState.CLOSED


def test_answers_that_are_not_failures_count_as_successes() -> None:
    clock = FakeClock()
    circuit = breaker(clock)
    for _ in range(10):
        with pytest.raises(Permanent):
            circuit.call(
                lambda: (_ for _ in ()).throw(Permanent()),
                is_failure=lambda e: isinstance(e, Transient),
            )
    assert circuit.state is CircuitState.CLOSED
    for _ in range(3):
        fail(circuit)
    clock.now += 30
    with pytest.raises(Permanent):
        circuit.call(
            lambda: (_ for _ in ()).throw(Permanent()),
            is_failure=lambda e: isinstance(e, Transient),
        )
    assert circuit.state is CircuitState.CLOSED


def test_the_breaker_is_thread_safe_under_concurrent_failures() -> None:
    # Opens on exactly the 40th failure: only if no update was lost on the way.
    circuit = breaker(FakeClock(), consecutive_failures=40, minimum_calls=1000)
    barrier = threading.Barrier(8)

    def hammer() -> None:
        barrier.wait()
        for _ in range(5):
            with pytest.raises(Transient):
                circuit.call(lambda: (_ for _ in ()).throw(Transient()))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert circuit.state is CircuitState.OPEN
    assert circuit.snapshot()["window_calls"] == 40


@pytest.mark.parametrize(
    "kwargs",
    [
        {"consecutive_failures": 0},
        {"failure_rate": 0.0},
        {"failure_rate": 1.5},
        {"cool_down_seconds": 0},
    ],
)
def test_breaker_policies_are_validated(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r".+"):
        BreakerPolicy(**kwargs)


# -- together --------------------------------------------------------------------------------


def resilience(clock: FakeClock, **kwargs: Any) -> Resilience:
    return Resilience(
        "dep",
        is_transient=lambda e: isinstance(e, Transient),
        timeout_seconds=kwargs.pop("timeout_seconds", 1.0),
        retry=RetryPolicy(max_attempts=3, base_delay_seconds=0.1, max_delay_seconds=1.0),
        breaker=CircuitBreaker("dep", BreakerPolicy(consecutive_failures=3), clock=clock),
        clock=clock,
        rng=random.Random(5),
        **kwargs,
    )


def test_retries_happen_inside_one_call() -> None:
    clock = FakeClock()
    guard = resilience(clock)
    assert guard.call(flaky(2), operation="op") == "ok"
    assert len(clock.sleeps) == 2
    assert guard.breaker.state is CircuitState.CLOSED


def test_an_open_circuit_stops_the_retries_at_once() -> None:
    clock = FakeClock()
    guard = resilience(clock)
    call = flaky(100)
    with pytest.raises(Transient):
        guard.call(call)  # three attempts: the circuit opens on the third
    assert guard.breaker.state is CircuitState.OPEN
    sleeps_before = len(clock.sleeps)
    with pytest.raises(CircuitOpenError):
        guard.call(call)
    assert call.calls["n"] == 3
    assert len(clock.sleeps) == sleeps_before


def test_a_timeout_is_transient_and_retried() -> None:
    clock = FakeClock()
    guard = resilience(clock, timeout_seconds=0.05)
    hang = threading.Event()
    calls = {"n": 0}

    def slow_then_fast() -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            hang.wait(2)
        return "fast"

    assert guard.call(slow_then_fast) == "fast"
    assert calls["n"] == 2
    hang.set()


def test_the_resilient_provider_maps_timeouts_and_passes_declines_through() -> None:
    clock = FakeClock()
    sandbox = SandboxProvider(hang_seconds=1.0, transient_failures=1)
    provider = ResilientProvider(
        sandbox,
        timeout_seconds=0.05,
        retry=RetryPolicy(max_attempts=2, base_delay_seconds=0.01, max_delay_seconds=0.01),
        clock=clock,
        rng=random.Random(2),
    )

    def request(token: str, pid: str = "pay_1") -> AuthorizationRequest:
        from decimal import Decimal

        return AuthorizationRequest(pid, "t", Decimal("10.00"), "EUR", token)

    with pytest.raises(ProviderTimeout):
        provider.authorize(request("tok_timeout"))
    with pytest.raises(ProviderDeclined):
        provider.authorize(request("tok_decline"))
    assert len(clock.sleeps) == 1  # the timeout was retried once, the decline never
    assert provider.authorize(request("tok_transient", "pay_t")).amount == 10
    assert sandbox.attempts("authorize", "pay_t") == 2
    assert len(clock.sleeps) == 2


def test_the_resilient_provider_opens_during_an_outage_and_recovers() -> None:
    clock = FakeClock()
    sandbox = SandboxProvider(outage=True)
    provider = ResilientProvider(
        sandbox,
        retry=RetryPolicy(max_attempts=1),
        breaker_policy=BreakerPolicy(consecutive_failures=2, cool_down_seconds=10),
        clock=clock,
    )
    from decimal import Decimal

    request = AuthorizationRequest("pay_1", "t", Decimal("1.00"), "EUR", "tok_approve")
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            provider.authorize(request)
    with pytest.raises(CircuitOpenError):
        provider.authorize(request)
    sandbox.outage = False
    clock.now += 10
    assert provider.authorize(request).amount == Decimal("1.00")
    assert provider.breaker.state is CircuitState.CLOSED
