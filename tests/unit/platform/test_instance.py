"""shared.instance: a value made once per instance, even under concurrent first calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from shared.instance import PerInstance, PerInstanceOver, per_instance_over, reset_instances

THREADS = 16


def _call_at_once(value: Callable[[], object]) -> list[object]:
    """Call ``value`` from many threads released together by a barrier; their answers."""
    barrier = threading.Barrier(THREADS)
    answers: list[object] = []
    answers_lock = threading.Lock()

    def call() -> None:
        barrier.wait()
        answer = value()
        with answers_lock:
            answers.append(answer)

    threads = [threading.Thread(target=call) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_concurrent_first_calls_run_the_factory_once_and_share_its_value() -> None:
    builds: list[object] = []

    def build() -> object:
        time.sleep(0.05)  # every thread reaches the value while the first build runs
        made = object()
        builds.append(made)
        return made

    value = PerInstance(build, scope="tests.instance.concurrent")
    answers = _call_at_once(value)
    assert len(builds) == 1
    assert len(answers) == THREADS
    assert all(answer is builds[0] for answer in answers)
    assert value() is builds[0]


def test_a_factory_that_raises_keeps_nothing_and_the_next_call_builds() -> None:
    attempts: list[int] = []

    def build() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("not yet")
        return "built"

    value = PerInstance(build, scope="tests.instance.raises")
    try:
        value()
    except RuntimeError:
        pass
    else:
        raise AssertionError("the first build should have raised")
    assert value() == "built"
    assert value() == "built"
    assert len(attempts) == 2


def test_reset_drops_the_values_of_its_scope_only() -> None:
    counts = {"a": 0, "b": 0}

    def build_a() -> int:
        counts["a"] += 1
        return counts["a"]

    def build_b() -> int:
        counts["b"] += 1
        return counts["b"]

    in_scope = PerInstance(build_a, scope="tests.instance.reset.a")
    other = PerInstance(build_b, scope="tests.instance.reset.b")
    assert (in_scope(), other()) == (1, 1)
    reset_instances("tests.instance.reset.a")
    assert (in_scope(), other()) == (2, 1)
    reset_instances()
    assert (in_scope(), other()) == (3, 2)
    assert (in_scope(), other()) == (3, 2)


def test_an_installed_value_is_returned_until_reset() -> None:
    value = PerInstance(lambda: "built", scope="tests.instance.install")
    value.install("installed")
    assert value() == "installed"
    value.reset()
    assert value() == "built"


def test_the_keyed_variant_builds_once_per_key_and_again_on_a_new_key() -> None:
    dependency = [object()]
    builds: list[object] = []

    def build(on: object) -> tuple[str, object]:
        time.sleep(0.05)
        builds.append(on)
        return ("service", on)

    service = PerInstanceOver(lambda: dependency[0], build, scope="tests.instance.keyed")
    answers = _call_at_once(service)
    first = service()
    assert builds == [dependency[0]]
    assert all(answer is first for answer in answers)

    dependency[0] = object()
    second = service()
    assert second is not first and second[1] is dependency[0]
    assert service() is second
    assert len(builds) == 2


def test_the_decorators_keep_the_call_site_and_the_docstring() -> None:
    client = [object()]

    @per_instance_over(lambda: client[0])
    def service(db: object) -> tuple[object]:
        """The service over the client."""
        return (db,)

    assert service.__doc__ == "The service over the client."
    assert vars(service)["__name__"] == "service"
    assert service()[0] is client[0]
    assert service.scope == __name__
    reset_instances(__name__)
    assert service()[0] is client[0]


def test_the_platform_singletons_are_per_instance_values_with_scoped_resets() -> None:
    from shared import clients, config
    from shared.auth import runtime

    for value in (config.get_settings, clients.firestore_client, runtime.token_verifier):
        assert isinstance(value, PerInstance)
    settings = config.get_settings()
    assert config.get_settings() is settings
    config.reset_settings()
    assert config.get_settings() is not settings
