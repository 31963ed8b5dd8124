"""Human text, metadata and PATCH bodies refused at the door: a 422 naming the field, and
nothing written (an Idempotency-Key's stored answer aside, which a retry replays)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shared.clients import reset_clients
from shared.config import reset_settings
from shared.idempotency.store import IDEMPOTENCY_COLLECTION
from tests.integration.ledger.conftest import dump
from tests.support.http import Principal, RouterClient, StaticAuthenticator, load_function

TENANT = "tenant-text"
ACCOUNT = {"code": "1000-cash", "name": "Cash", "type": "asset", "currency": "EUR"}


def _client(function: str) -> RouterClient:
    router = load_function(function).router
    permissions = frozenset(route.permission for route in router.routes if route.permission)
    router._authenticator = StaticAuthenticator(
        {"admin": Principal("u-admin", TENANT, "owner", permissions)}
    )
    return RouterClient(router)


def _writes(db: Any) -> dict[str, Any]:
    return {k: v for k, v in dump(db).items() if not k.startswith(f"{IDEMPOTENCY_COLLECTION}/")}


@pytest.fixture
def accounts(firestore_client: Any) -> Iterator[tuple[Any, RouterClient, str]]:
    reset_settings()
    reset_clients()
    client = _client("accounts")
    opened = client.post("/v1/accounts", json=ACCOUNT, token="admin")
    assert opened.status == 201, opened.json
    yield firestore_client, client, str(opened.data["id"])
    reset_clients()
    reset_settings()


def _assert_refused(answer: Any, field: str, code: str) -> None:
    assert answer.status == 422, answer.json
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert [(e["field"], e["code"]) for e in answer.json["errors"]] == [(field, code)]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"name": "Cash\u202e"}, "name", "forbidden_character"),
        ({"name": "Cash\r\nInjected: yes"}, "name", "forbidden_character"),
        ({"metadata": {"__name__": "x"}}, "metadata.__name__.[key]", "bad_format"),
        ({"metadata": {"bank": "Demo\u2066Bank"}}, "metadata.bank", "forbidden_character"),
    ],
)
def test_an_account_with_unsafe_text_is_refused_and_not_opened(
    accounts: tuple[Any, RouterClient, str], body: dict[str, Any], field: str, code: str
) -> None:
    db, client, _ = accounts
    before = _writes(db)
    answer = client.post("/v1/accounts", json={**ACCOUNT, "code": "2000", **body}, token="admin")
    _assert_refused(answer, field, code)
    assert _writes(db) == before


@pytest.mark.parametrize(
    ("body", "field", "code", "problem_code"),
    [
        ({}, "body", "empty_update", "empty_update"),
        ({"name": None}, "name", "null_not_allowed", "validation_error"),
        ({"name": None, "status": "frozen"}, "name", "null_not_allowed", "validation_error"),
        ({"metadata": {"Bank": "x"}}, "metadata.Bank.[key]", "bad_format", "validation_error"),
    ],
)
def test_an_account_update_must_name_a_value_to_change(
    accounts: tuple[Any, RouterClient, str],
    body: dict[str, Any],
    field: str,
    code: str,
    problem_code: str,
) -> None:
    db, client, account_id = accounts
    before = _writes(db)
    answer = client.patch(f"/v1/accounts/{account_id}", json=body, token="admin")
    _assert_refused(answer, field, code)
    assert answer.json["code"] == problem_code
    assert _writes(db) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": "rent\u202egnp"}, "description"),
        ({"description": "a\nb"}, "description"),
        ({"metadata": {"invoice": "INV\x001"}}, "metadata.invoice"),
    ],
)
def test_a_journal_entry_with_unsafe_text_is_refused_and_not_posted(
    accounts: tuple[Any, RouterClient, str], body: dict[str, Any], field: str
) -> None:
    db, _, account_id = accounts
    before = _writes(db)
    lines = [
        {"account_id": account_id, "side": "debit", "amount": "1.00"},
        {"account_id": account_id, "side": "credit", "amount": "1.00"},
    ]
    answer = _client("journal").post(
        "/v1/journal-entries",
        json={"lines": lines, **body},
        token="admin",
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    _assert_refused(answer, field, "forbidden_character")
    assert _writes(db) == before
