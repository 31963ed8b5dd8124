"""The tax function, called in-process against the Firestore and Pub/Sub emulators."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from google.api_core.exceptions import AlreadyExists

from shared.clients import firestore_client as instance_firestore_client
from shared.clients import reset_clients
from shared.config import reset_settings
from shared.events.audit import AUDIT_TOPIC
from shared.tax import store
from tests.support.http import Principal, RouterClient, StaticAuthenticator, load_function

CLERK_PERMISSIONS = frozenset({"tax:calculate", "tax:read"})
ADMIN_PERMISSIONS = CLERK_PERMISSIONS | {"tax:admin"}
PRINCIPALS = {
    "clerk-a": Principal("u-clerk-a", "tenant-a", "accountant", CLERK_PERMISSIONS),
    "admin-a": Principal("u-admin-a", "tenant-a", "admin", ADMIN_PERMISSIONS),
    "clerk-b": Principal("u-clerk-b", "tenant-b", "accountant", CLERK_PERMISSIONS),
    "admin-b": Principal("u-admin-b", "tenant-b", "admin", ADMIN_PERMISSIONS),
    "viewer-a": Principal("u-viewer-a", "tenant-a", "viewer", frozenset({"tax:read"})),
}
SOURCE = {
    "publication": "Finance Act 2030, section 12",
    "url": "https://example.org/finance-act-2030",
}


@pytest.fixture
def api(firestore_client: Any, emulators: Any, pubsub_publisher: Any) -> RouterClient:
    if instance_firestore_client().project != emulators.project_id:
        # Settings were read before the emulator fixture set the test project.
        reset_settings()
        reset_clients()
    store.default_cache().clear()
    with contextlib.suppress(AlreadyExists):
        pubsub_publisher.create_topic(
            name=pubsub_publisher.topic_path(emulators.project_id, AUDIT_TOPIC)
        )
    module = load_function("tax")
    module.router._authenticator = StaticAuthenticator(PRINCIPALS)
    return RouterClient(module.router)


def invoice(
    *lines: dict[str, Any],
    place: str = "DE",
    on: str = "2025-06-01",
    currency: str = "EUR",
    **document: Any,
) -> dict[str, Any]:
    return {
        "document_date": on,
        "currency": currency,
        "place_of_supply": place,
        "seller": {"country": place[:2]},
        "lines": list(lines) or [line("1", "100.00", currency)],
        **document,
    }


def line(quantity: str, price: str, currency: str = "EUR", **extra: Any) -> dict[str, Any]:
    return {"quantity": quantity, "unit_price": {"amount": price, "currency": currency}, **extra}


@pytest.fixture
def stored_calculations(firestore_client: Any) -> Callable[[str], list[dict[str, Any]]]:
    def read(tenant_id: str) -> list[dict[str, Any]]:
        collection = store.calculations_collection(firestore_client, tenant_id)
        return [snapshot.to_dict() or {} for snapshot in collection.stream()]

    return read


@pytest.fixture
def outbox(firestore_client: Any) -> Callable[[], list[dict[str, Any]]]:
    def read() -> list[dict[str, Any]]:
        return [s.to_dict() or {} for s in firestore_client.collection("outbox").stream()]

    return read
