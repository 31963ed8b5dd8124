"""Creating, listing, reading and revoking producer keys through the producer_keys function."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.ledger.conftest import dump
from tests.integration.producers.conftest import TENANT
from tests.support.http import Answer, RouterClient


def _create(keys: RouterClient, body: dict[str, Any], who: str = "admin") -> Answer:
    return keys.post(
        "/v1/producer-keys", json=body, token=who, headers={"Idempotency-Key": uuid.uuid4().hex}
    )


def _key_documents(db: Any) -> dict[str, dict[str, Any]]:
    return {p: d for p, d in dump(db).items() if p.startswith("producer_keys/")}


def test_an_admin_creates_a_key_whose_secret_is_shown_once(
    keys: RouterClient, platform: Any
) -> None:
    answer = _create(keys, {"name": "billing", "scopes": ["ledger:post"]})

    assert answer.status == 201, answer.json
    created = answer.data
    assert created["credential"].startswith(f"trb_pk_{created['id']}_")
    assert answer.headers["Cache-Control"] == "no-store"
    assert (created["status"], created["scopes"]) == ("active", ["ledger:post"])
    [(path, stored)] = _key_documents(platform).items()
    assert path == f"producer_keys/{created['id']}"
    assert stored["tenant_id"] == TENANT
    assert stored["secret_hash"] == hashlib.sha256(created["credential"].encode()).hexdigest()
    assert created["credential"] not in str(stored)
    # The secret exists only in that response: no idempotency record keeps a copy.
    assert not any(created["credential"] in str(d) for d in dump(platform).values())
    listed = keys.get("/v1/producer-keys", token="owner")
    assert listed.status == 200
    assert [k["id"] for k in listed.data] == [created["id"]]
    assert all("credential" not in k for k in listed.data)
    one = keys.get(f"/v1/producer-keys/{created['id']}", token="admin")
    assert one.status == 200 and "credential" not in one.data


def test_revoking_is_recorded_and_idempotent(keys: RouterClient) -> None:
    key_id = _create(keys, {"name": "pos", "scopes": ["ledger:post"]}).data["id"]

    first = keys.post(f"/v1/producer-keys/{key_id}/revoke", token="admin")
    second = keys.post(f"/v1/producer-keys/{key_id}/revoke", token="owner")

    assert first.status == second.status == 200
    assert first.data["status"] == "revoked"
    assert second.data["revoked_at"] == first.data["revoked_at"]


@pytest.mark.parametrize("who", ["accountant", "viewer"])
def test_only_owners_and_admins_manage_keys(keys: RouterClient, platform: Any, who: str) -> None:
    answer = _create(keys, {"name": "billing", "scopes": ["ledger:post"]}, who=who)

    assert answer.status == 403
    assert answer.json["code"] == "forbidden"
    assert _key_documents(platform) == {}
    assert keys.get("/v1/producer-keys", token=who).status == 403


def test_another_tenants_key_does_not_exist(keys: RouterClient, platform: Any) -> None:
    key_id = _create(keys, {"name": "billing", "scopes": ["ledger:post"]}).data["id"]
    before = _key_documents(platform)

    assert keys.get(f"/v1/producer-keys/{key_id}", token="other-admin").status == 404
    assert keys.post(f"/v1/producer-keys/{key_id}/revoke", token="other-admin").status == 404
    assert keys.get("/v1/producer-keys", token="other-admin").data == []
    assert _key_documents(platform) == before


BAD_BODIES: dict[str, tuple[Callable[[], dict[str, Any]], str]] = {
    "no_scopes": (lambda: {"name": "billing", "scopes": []}, "scopes"),
    "unknown_scope": (lambda: {"name": "billing", "scopes": ["ledger:admin"]}, "scopes.0"),
    "control_characters": (lambda: {"name": "bill\ning", "scopes": ["ledger:post"]}, "name"),
    "bidi_override": (lambda: {"name": "bill\u202eing", "scopes": ["ledger:post"]}, "name"),
    "long_name": (lambda: {"name": "b" * 101, "scopes": ["ledger:post"]}, "name"),
    "naive_expiry": (
        lambda: {"name": "b", "scopes": ["ledger:post"], "expires_at": "2030-01-01T00:00:00"},
        "expires_at",
    ),
    "past_expiry": (
        lambda: {
            "name": "b",
            "scopes": ["ledger:post"],
            "expires_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        },
        "expires_at",
    ),
    "unknown_field": (
        lambda: {"name": "b", "scopes": ["ledger:post"], "tenant_id": "tenant-b"},
        "tenant_id",
    ),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_a_bad_body_is_a_problem_naming_the_field_and_writes_nothing(
    keys: RouterClient, platform: Any, case: str
) -> None:
    body, field = BAD_BODIES[case]

    answer = _create(keys, body())

    assert answer.status == 422, answer.json
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert field in {error["field"].removeprefix("body.") for error in answer.json["errors"]}
    assert _key_documents(platform) == {}


@pytest.mark.parametrize("key_id", ["__x__", "pk123", "PK" + "0" * 24])
def test_an_id_that_cannot_be_a_key_is_refused_before_any_read(
    keys: RouterClient, key_id: str
) -> None:
    answer = keys.get(f"/v1/producer-keys/{key_id}", token="admin")

    assert answer.status in (404, 422)
    assert answer.headers["Content-Type"].startswith("application/problem+json")
