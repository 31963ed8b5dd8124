"""The producer_keys function in-process against the Firestore and Pub/Sub emulators."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core.exceptions import AlreadyExists

from shared.clients import reset_clients
from shared.config import reset_settings
from shared.identity.roles import permissions_for
from tests.support.http import Principal, RouterClient, StaticAuthenticator, load_function

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
PRINCIPALS = {
    role: Principal(f"u-{role}", TENANT, role, permissions_for(role))
    for role in ("owner", "admin", "accountant", "viewer")
} | {"other-admin": Principal("u-other", OTHER_TENANT, "admin", permissions_for("admin"))}


@pytest.fixture(autouse=True)
def platform(firestore_client: Any, emulators: Any, pubsub_publisher: Any) -> Iterator[Any]:
    reset_settings()
    reset_clients()
    with contextlib.suppress(AlreadyExists):
        pubsub_publisher.create_topic(
            name=pubsub_publisher.topic_path(emulators.project_id, "audit-events")
        )
    yield firestore_client
    reset_clients()
    reset_settings()


@pytest.fixture
def keys(platform: Any) -> RouterClient:
    module = load_function("producer_keys")
    module.router._authenticator = StaticAuthenticator(PRINCIPALS)
    return RouterClient(module.router)
