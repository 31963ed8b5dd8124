"""Dead letters: the admin API with a principal per tenant, and dead-letter pushes."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from tests.support.http import Principal, RouterClient, StaticAuthenticator, load_function

ADMIN = Principal("u-admin", "tenant-a", "admin", frozenset({"dead_letters:admin"}))
OTHER_ADMIN = Principal("u-other", "tenant-b", "admin", frozenset({"dead_letters:admin"}))
VIEWER = Principal("u-viewer", "tenant-a", "viewer", frozenset())


def dead_letter_event(
    project: str, topic: str, envelope_bytes: bytes, message_id: str, attributes: dict[str, str]
) -> CloudEvent:
    """What Pub/Sub pushes from ``topic``'s dead-letter topic ``{topic}-dlq``."""
    return CloudEvent(
        {
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "source": f"//pubsub.googleapis.com/projects/{project}/topics/{topic}-dlq",
            "id": message_id,
        },
        {
            "message": {
                "data": base64.b64encode(envelope_bytes).decode(),
                "attributes": attributes,
                "messageId": message_id,
                "publishTime": "2026-11-23T00:00:00Z",
            }
        },
    )


@pytest.fixture
def api(firestore_client: Any) -> RouterClient:
    """``admin`` is tenant-a's admin, ``other`` tenant-b's, ``viewer`` lacks the permission."""
    module = load_function("dead_letters_api")
    module.router._authenticator = StaticAuthenticator(
        {"admin": ADMIN, "other": OTHER_ADMIN, "viewer": VIEWER}
    )
    return RouterClient(module.router)
