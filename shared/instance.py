"""Values made once per instance, on first use: the one mechanism of ``shared/``.

    from shared.instance import per_instance, per_instance_over

    @per_instance
    def token_verifier() -> TokenVerifier:
        return TokenVerifier(...)

    @per_instance_over(firestore_client)
    def ledger_service(db: firestore.Client) -> LedgerService:
        return LedgerService(db)

Callers keep calling ``token_verifier()``. The first call builds the value, every later
call returns the same one. functions-framework serves requests on several threads, so
the build runs under the value's own lock with a second check inside it (double-checked
locking): however many threads make the first call at once, the factory runs exactly
once and all of them get its value. ``functools.cache`` does not promise that (two
threads missing the cache at once both run the function, and each may keep its own
result), which is why this module exists. A factory that raises stores nothing: the next
call tries again.

A value built over a dependency (``per_instance_over``) is rebuilt when the dependency
returns another object than the one it was built over: a use case that keeps state over
the instance's Firestore client (a group committer, caches) follows the client when
tests replace it.

Every value is kept in one registry, grouped by the module that defines it, and
:func:`reset_instances` forgets them (tests that change the environment; after a fork).
Each value has its own lock, so a factory may use other per-instance values.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

D = TypeVar("D")
T = TypeVar("T")

_registry: list[PerInstanceOver[Any, Any]] = []
_registry_lock = threading.Lock()


class PerInstanceOver(Generic[D, T]):
    """One ``T`` per instance, built from the instance's current ``D`` on first use.

    Rebuilt when ``dependency()`` returns another object (compared by identity) than the
    one the value was built over.
    """

    def __init__(self, dependency: Callable[[], D], build: Callable[[D], T], *, scope: str) -> None:
        self._dependency = dependency
        self._build = build
        self._lock = threading.Lock()
        self._built: tuple[D, T] | None = None
        self.scope = scope
        with _registry_lock:
            _registry.append(self)

    def __call__(self) -> T:
        current = self._dependency()
        built = self._built
        if built is not None and built[0] is current:
            return built[1]
        with self._lock:
            built = self._built
            if built is None or built[0] is not current:
                built = (current, self._build(current))
                self._built = built
            return built[1]

    def install(self, value: T) -> None:
        """Use ``value`` as the instance's (tests that build it with their own settings)."""
        current = self._dependency()
        with self._lock:
            self._built = (current, value)

    def reset(self) -> None:
        """Forget the value; the next call builds a new one."""
        with self._lock:
            self._built = None


def _no_dependency() -> None:
    return None


class PerInstance(PerInstanceOver[None, T]):
    """One ``T`` per instance, made by ``factory`` on first use."""

    def __init__(self, factory: Callable[[], T], *, scope: str) -> None:
        super().__init__(_no_dependency, lambda _: factory(), scope=scope)
        functools.update_wrapper(self, factory)


def per_instance(factory: Callable[[], T]) -> PerInstance[T]:
    """Decorate a factory: calling it returns the value it made on the first call."""
    return PerInstance(factory, scope=factory.__module__)


def per_instance_over(
    dependency: Callable[[], D],
) -> Callable[[Callable[[D], T]], PerInstanceOver[D, T]]:
    """Decorate a builder of a ``T`` from a ``D``: calling it returns the value built over
    the current ``dependency()``, built again when that changes."""

    def decorate(build: Callable[[D], T]) -> PerInstanceOver[D, T]:
        value = PerInstanceOver(dependency, build, scope=build.__module__)
        functools.update_wrapper(value, build)
        return value

    return decorate


def reset_instances(scope: str | None = None) -> None:
    """Forget the values of one defining module (``scope``, e.g. ``"shared.clients"``),
    or every value when ``scope`` is None."""
    with _registry_lock:
        values = [value for value in _registry if scope is None or value.scope == scope]
    # Outside the registry's lock: a factory running under its value's lock may import a
    # module that registers a value, which takes the registry's lock.
    for value in values:
        value.reset()
