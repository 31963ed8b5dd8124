"""project_users: one effect per event id, newest version wins, bad events dead-lettered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.events.envelope import new_event
from shared.events.event_context import processed_document_id
from tests.integration.users.conftest import Identity, documents

TENANT = "0123456789abcdef0123456789abcdef"
USER_ID = "fedcba9876543210fedcba9876543210"


def _event(event_type: str, version: int, **changes: Any) -> dict[str, Any]:
    created = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    snapshot = {
        "id": USER_ID,
        "tenant_id": TENANT,
        "email": "proj@example.com",
        "name": f"Name v{version}",
        "role": "viewer",
        "status": "active",
        "version": version,
        "created_at": created.isoformat(),
        "updated_at": datetime(2026, 1, 5, 9, 30 + version, tzinfo=UTC).isoformat(),
        **changes,
    }
    envelope = new_event(
        event_type,
        source="tributum/users",
        subject=f"users/{USER_ID}",
        tenant_id=TENANT,
        data=snapshot,
    )
    return envelope.model_dump(mode="json")


def _read(identity: Identity) -> dict[str, Any]:
    return documents(identity.main, "users_read")[USER_ID]


def test_user_created_becomes_a_read_model_document_with_listing_fields(
    identity: Identity,
) -> None:
    event = _event("user.created", 1)

    identity.push(event)

    read = _read(identity)
    assert read["tenant_id"] == TENANT and read["email"] == "proj@example.com"
    assert read["role"] == "viewer" and read["status"] == "active" and read["version"] == 1
    assert read["created_at"] == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    assert "password_hash" not in read
    processed = documents(identity.main, "processed_events")
    assert processed_document_id("project_users", event["id"]) in processed


def test_a_redelivered_event_has_no_second_effect(identity: Identity) -> None:
    created = _event("user.created", 1)
    identity.push(created)
    identity.push(_event("user.updated", 2, name="Second"))

    # The first event again (same id), after a newer one: it is a duplicate, not applied.
    identity.push(created)

    assert _read(identity)["name"] == "Second"
    assert len(documents(identity.main, "processed_events")) == 2


def test_an_older_version_arriving_late_changes_nothing(identity: Identity) -> None:
    identity.push(_event("user.role_changed", 3, role="admin", name="Third"))

    identity.push(_event("user.created", 1))
    identity.push(_event("user.updated", 2, name="Second"))
    identity.push(_event("user.updated", 3, name="Same version, other event"))

    read = _read(identity)
    assert read["version"] == 3 and read["role"] == "admin" and read["name"] == "Third"
    # Each late event was still processed (acknowledged), once.
    assert len(documents(identity.main, "processed_events")) == 4


def test_events_of_the_real_write_side_project_in_order(identity: Identity) -> None:
    owner = identity.owner("writer@example.com")
    token = identity.token_for(owner)
    identity.users.patch("/v1/users/me", token=token, json={"name": "Renamed"})

    assert identity.project() == 2

    read = documents(identity.main, "users_read")[owner["id"]]
    assert read["name"] == "Renamed" and read["version"] == 2


def test_malformed_data_is_dead_lettered_not_projected(identity: Identity) -> None:
    event = _event("user.created", 1)
    event["data"]["password_hash"] = "$argon2id$leaked"

    identity.push(event)

    assert documents(identity.main, "users_read") == {}
    [dead] = documents(identity.main, "dead_letters").values()
    assert "password_hash" in dead["reason"]


def test_an_unknown_user_event_type_is_dead_lettered(identity: Identity) -> None:
    identity.push(_event("user.deleted", 1))

    assert documents(identity.main, "users_read") == {}
    [dead] = documents(identity.main, "dead_letters").values()
    assert "user.deleted" in dead["reason"]
