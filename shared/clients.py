"""Google clients, imported lazily and created once per instance.

functions-framework serves requests on several threads, so creation is guarded
by a lock; the clients themselves are thread-safe. Both libraries read
``FIRESTORE_EMULATOR_HOST`` / ``PUBSUB_EMULATOR_HOST`` and then talk to the
emulators without credentials; in the cloud they use the function's service account.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from shared.config import get_settings

if TYPE_CHECKING:
    from google.cloud import firestore, pubsub_v1  # type: ignore[attr-defined]

D = TypeVar("D")
T = TypeVar("T")
_lock = threading.Lock()
_instances: dict[str, Any] = {}


def _once(name: str, factory: Any) -> Any:
    client = _instances.get(name)
    if client is None:
        with _lock:
            client = _instances.get(name)
            if client is None:
                client = factory()
                _instances[name] = client
    return client


def _database_client(database: str, access: str) -> firestore.Client:
    from google.cloud import firestore

    from shared.firestore_access import denied, read_only_client

    project = get_settings().project_id
    if access == "none":
        raise denied(database, "reach")
    if access == "read":
        return read_only_client(project, database)
    return firestore.Client(project=project, database=database)


def firestore_client() -> firestore.Client:
    """The instance's client of the main database (emulator-aware).

    Read-only when the function's manifest entry says ``firestore: {main: read}``.
    """

    def create() -> firestore.Client:
        settings = get_settings()
        access = settings.firestore.access
        return _database_client(settings.firestore_database, access.main if access else "write")

    client: firestore.Client = _once("firestore", create)
    return client


def credentials_client() -> firestore.Client:
    """The instance's client of the credentials database (emulator-aware).

    Users, password hashes, sessions, revocations, key hashes and single-use tokens live
    there, apart from the books. A function whose manifest entry grants no access to it
    gets ``PermissionDenied``, as IAM answers in the cloud; one granted ``read`` gets a
    client that refuses writes.
    """

    def create() -> firestore.Client:
        settings = get_settings()
        access = settings.firestore.access
        database = settings.firestore.credentials_database
        return _database_client(database, access.credentials if access else "write")

    client: firestore.Client = _once("credentials", create)
    return client


def publisher_client() -> pubsub_v1.PublisherClient:
    """The instance's Pub/Sub publisher.

    No message ordering: every consumer is idempotent and independent of arrival order
    (projections keep the newer version, the audit chain serialises per tenant), so no
    message carries an ordering key.
    """

    def create() -> pubsub_v1.PublisherClient:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]
        from google.cloud.pubsub_v1.types import BatchSettings

        # A request publishes its events after its commit and waits for them: the
        # client's default 10 ms wait for a fuller batch was added to every such answer.
        # The events of one commit are submitted together, so they still share a batch.
        return pubsub_v1.PublisherClient(batch_settings=BatchSettings(max_latency=0.001))

    client: pubsub_v1.PublisherClient = _once("publisher", create)
    return client


def topic_path(topic: str) -> str:
    return f"projects/{get_settings().project_id}/topics/{topic}"


def reset_clients() -> None:
    """Drop cached clients (tests that change the environment; after a fork)."""
    with _lock:
        _instances.clear()


class PerInstance(Generic[D, T]):
    """One ``T`` per instance, built from the instance's ``D`` on first use.

    Use cases that keep per-instance state over a client (a service's group committer
    and caches) are built once and shared by every request; when the ``D`` they were
    built over is replaced (tests reset the clients between cases), they are rebuilt.
    """

    def __init__(self, dependency: Callable[[], D], build: Callable[[D], T]) -> None:
        self._dependency = dependency
        self._build = build
        self._lock = threading.Lock()
        self._built: tuple[D, T] | None = None

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
