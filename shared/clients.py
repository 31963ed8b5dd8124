"""Google clients, imported lazily and created once per instance (``shared.instance``).

The clients themselves are thread-safe. Both libraries read
``FIRESTORE_EMULATOR_HOST`` / ``PUBSUB_EMULATOR_HOST`` and then talk to the
emulators without credentials; in the cloud they use the function's service account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.config import get_settings
from shared.instance import per_instance, reset_instances

if TYPE_CHECKING:
    from google.cloud import firestore, pubsub_v1  # type: ignore[attr-defined]


def _database_client(database: str, access: str) -> firestore.Client:
    from google.cloud import firestore

    from shared.firestore_access import denied, read_only_client

    project = get_settings().project_id
    if access == "none":
        raise denied(database, "reach")
    if access == "read":
        return read_only_client(project, database)
    return firestore.Client(project=project, database=database)


@per_instance
def firestore_client() -> firestore.Client:
    """The instance's client of the main database (emulator-aware).

    Read-only when the function's manifest entry says ``firestore: {main: read}``.
    """
    settings = get_settings()
    access = settings.firestore.access
    return _database_client(settings.firestore_database, access.main if access else "write")


@per_instance
def credentials_client() -> firestore.Client:
    """The instance's client of the credentials database (emulator-aware).

    Users, password hashes, sessions, revocations, key hashes and single-use tokens live
    there, apart from the books. A function whose manifest entry grants no access to it
    gets ``PermissionDenied``, as IAM answers in the cloud; one granted ``read`` gets a
    client that refuses writes.
    """
    settings = get_settings()
    access = settings.firestore.access
    database = settings.firestore.credentials_database
    return _database_client(database, access.credentials if access else "write")


@per_instance
def publisher_client() -> pubsub_v1.PublisherClient:
    """The instance's Pub/Sub publisher.

    No message ordering: every consumer is idempotent and independent of arrival order
    (projections keep the newer version, the audit chain serialises per tenant), so no
    message carries an ordering key.
    """
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]
    from google.cloud.pubsub_v1.types import BatchSettings

    # A request publishes its events after its commit and waits for them: the
    # client's default 10 ms wait for a fuller batch was added to every such answer.
    # The events of one commit are submitted together, so they still share a batch.
    client: pubsub_v1.PublisherClient = pubsub_v1.PublisherClient(
        batch_settings=BatchSettings(max_latency=0.001)
    )
    return client


def topic_path(topic: str) -> str:
    return f"projects/{get_settings().project_id}/topics/{topic}"


def reset_clients() -> None:
    """Drop cached clients (tests that change the environment; after a fork).

    Values built over a client (``per_instance_over(firestore_client)``) are rebuilt
    over the new one on their next use.
    """
    reset_instances(__name__)
