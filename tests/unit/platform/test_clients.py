"""PerInstance: one use-case object per instance, rebuilt when its client is replaced."""

from __future__ import annotations


def test_per_instance_builds_once_and_again_when_its_dependency_is_replaced() -> None:
    import threading

    from shared.clients import PerInstance

    dependency = [object()]
    builds: list[object] = []

    def build(on: object) -> tuple[str, object]:
        builds.append(on)
        return ("service", on)

    service = PerInstance(lambda: dependency[0], build)
    threads = [threading.Thread(target=service) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first = service()
    assert builds == [dependency[0]]
    dependency[0] = object()
    second = service()
    assert second is not first and second[1] is dependency[0]
    assert len(builds) == 2
