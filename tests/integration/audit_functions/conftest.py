"""The audit_writer consumer and the audit API, in-process, against the Firestore emulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from shared.clients import reset_clients
from shared.config import reset_settings
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.envelope import EventEnvelope
from tests.integration.events.conftest import push_envelope
from tests.support.http import Principal, RouterClient, StaticAuthenticator, load_function

TENANT = "tenant-audit"
OTHER_TENANT = "tenant-elsewhere"
PRINCIPALS = {
    "auditor": Principal("u-admin", TENANT, "admin", frozenset({"audit:read"})),
    "viewer": Principal("u-viewer", TENANT, "viewer", frozenset({"payments:read"})),
    "other-auditor": Principal("u-other", OTHER_TENANT, "admin", frozenset({"audit:read"})),
}


def recorded(
    action: str = "payment.created",
    *,
    tenant_id: str = TENANT,
    user: str = "u-clerk",
    resource_id: str = "pay_1",
) -> EventEnvelope:
    return audit_event(
        action,
        tenant_id=tenant_id,
        actor={"user_id": user, "role": "accountant"},
        resource_type="payment",
        resource_id=resource_id,
        details={"amount": "10.00", "currency": "EUR"},
        source="tributum/payments",
    )


@dataclass
class Audit:
    db: Any
    api: RouterClient
    writer: Any
    project_id: str

    def deliver(self, envelope: EventEnvelope) -> None:
        self.writer(push_envelope(self.project_id, AUDIT_TOPIC, envelope))

    def records(self, tenant_id: str = TENANT) -> list[dict[str, Any]]:
        collection = self.db.collection(f"tenants/{tenant_id}/audit")
        return [s.to_dict() or {} for s in collection.order_by("seq").stream()]


@pytest.fixture
def audit(firestore_client: Any, emulators: Any) -> Iterator[Audit]:
    reset_settings()
    reset_clients()
    module = load_function("audit")
    module.router._authenticator = StaticAuthenticator(PRINCIPALS)
    writer = load_function("audit_writer").handle
    yield Audit(firestore_client, RouterClient(module.router), writer, emulators.project_id)
    reset_clients()
    reset_settings()
