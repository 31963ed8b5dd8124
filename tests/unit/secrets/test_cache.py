"""TtlCache: values live ttl_seconds, loads are per name and never cache failures."""

from __future__ import annotations

import threading
import time

import pytest

from shared.secrets import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Loader:
    def __init__(self, values: list[str]) -> None:
        self.values = values
        self.calls = 0

    def __call__(self) -> str:
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return value


def test_value_is_served_from_cache_until_the_ttl_passes() -> None:
    clock, load = Clock(), Loader(["v1", "v2"])
    cache = TtlCache(300, clock=clock)
    assert cache.get_or_load("s", load) == "v1"
    clock.now += 299
    assert cache.get_or_load("s", load) == "v1"
    assert load.calls == 1
    clock.now += 1
    assert cache.get_or_load("s", load) == "v2"
    assert load.calls == 2


def test_names_are_cached_independently() -> None:
    cache = TtlCache(300, clock=Clock())
    assert cache.get_or_load("a", lambda: "A") == "A"
    assert cache.get_or_load("b", lambda: "B") == "B"
    assert cache.get_or_load("a", lambda: "changed") == "A"


def test_zero_ttl_disables_caching() -> None:
    load = Loader(["v1", "v2"])
    cache = TtlCache(0, clock=Clock())
    assert [cache.get_or_load("s", load) for _ in range(2)] == ["v1", "v2"]


def test_failures_are_not_cached() -> None:
    cache = TtlCache(300, clock=Clock())

    def failing() -> str:
        raise ConnectionError("backend down")

    with pytest.raises(ConnectionError):
        cache.get_or_load("s", failing)
    assert cache.get_or_load("s", lambda: "recovered") == "recovered"


def test_invalidate_one_or_all() -> None:
    cache = TtlCache(300, clock=Clock())
    cache.get_or_load("a", lambda: "A1")
    cache.get_or_load("b", lambda: "B1")
    cache.invalidate("a")
    assert cache.get_or_load("a", lambda: "A2") == "A2"
    assert cache.get_or_load("b", lambda: "B2") == "B1"
    cache.invalidate()
    assert cache.get_or_load("b", lambda: "B3") == "B3"


def test_negative_ttl_is_refused() -> None:
    with pytest.raises(ValueError):
        TtlCache(-1)


def test_a_cold_burst_loads_once() -> None:
    cache = TtlCache(300)
    calls = 0
    lock = threading.Lock()

    def slow_load() -> str:
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(0.05)
        return "value"

    barrier = threading.Barrier(8)
    results: list[str] = []

    def read() -> None:
        barrier.wait()
        results.append(cache.get_or_load("s", slow_load))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["value"] * 8
    assert calls == 1
