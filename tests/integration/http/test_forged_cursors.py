"""Every list refuses a forged, stale or malformed cursor with a 400 before it queries.

The real routers run in-process against the Firestore emulator. The forgeries are
the kinds a fuzzer found answering 500: a position naming another path (Firestore's
"a document must have an even number of path elements") and a moment that is not
one ("Invalid isoformat string"); both in the old unchecked format and with a
checksum recomputed by the client, so the typed position itself has to refuse them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from shared.audit.store import _LIST_CURSOR as AUDIT_CURSOR
from shared.clients import reset_clients
from shared.config import reset_settings
from shared.deadletters.store import _LIST_CURSOR as DEAD_LETTERS_CURSOR
from shared.ledger.requests import ACCOUNT_ENTRIES_CURSOR, ACCOUNTS_CURSOR
from shared.pagination import _b64encode, _check
from shared.payments.requests import PAYMENTS_CURSOR
from shared.users.requests import USERS_NEWEST_FIRST_CURSOR
from tests.integration.ledger.conftest import dump
from tests.support.http import Principal, RouterClient, StaticAuthenticator, load_function

TENANT = "tenant-cursors"
ACCOUNT = "{account_id}"  # the account the fixture opens


def _old_format(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def _checksummed(scope: str, position: dict[str, Any]) -> str:
    payload = _b64encode(orjson.dumps(position))
    return f"v1.{payload}.{_check(scope, payload)}"


# (function, path, the list's cursor scope, a good position, the field a forgery breaks)
LISTS: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = [
    (
        "accounts",
        "/v1/accounts",
        ACCOUNTS_CURSOR,
        {"after": "a-1", "filters": {"type": None, "status": None, "currency": None}},
        {"after": "a/b/c"},
    ),
    (
        "journal",
        f"/v1/accounts/{ACCOUNT}/entries",
        ACCOUNT_ENTRIES_CURSOR,
        {
            "effective_date": "2025-01-01",
            "after": "e-1",
            "account": ACCOUNT,
            "filters": {"date_from": None, "date_to": None},
        },
        {"after": "x/y"},
    ),
    (
        "users",
        "/v1/users",
        USERS_NEWEST_FIRST_CURSOR,
        {"at": "2025-01-01T00:00:00Z", "id": "u-1"},
        {"at": "yesterday"},
    ),
    (
        "payments",
        "/v1/payments",
        PAYMENTS_CURSOR,
        {
            "created_at": "2025-01-01T00:00:00+00:00",
            "after": "p-1",
            "filters": {
                "status": None,
                "payer_ref": None,
                "created_from": None,
                "created_to": None,
            },
        },
        {"created_at": "not a moment"},
    ),
    (
        "tax",
        "/v1/tax/calculations",
        "tax.calculations",
        {"at": "2025-01-01T00:00:00Z", "id": "c-1"},
        {"at": "2025-02-30T00:00:00Z"},
    ),
    (
        "dead_letters_api",
        "/v1/dead-letters",
        DEAD_LETTERS_CURSOR,
        {"at": "2025-01-01T00:00:00Z", "id": "dlq-1"},
        {"id": "__reserved__"},
    ),
    (
        "audit",
        "/v1/audit",
        AUDIT_CURSOR,
        {
            "occurred_at": "2025-01-01T00:00:00.000000Z",
            "seq": 1,
            "filters": dict.fromkeys(
                (
                    "actor_id",
                    "action",
                    "resource_type",
                    "resource_id",
                    "occurred_from",
                    "occurred_to",
                )
            ),
        },
        {"occurred_at": "1' OR '1"},
    ),
]
LIST_IDS = [listed[0] for listed in LISTS]


@pytest.fixture
def database(firestore_client: Any) -> Iterator[tuple[Any, str]]:
    """The emulator's database, with one account whose entries can be listed."""
    reset_settings()
    reset_clients()
    opened = _client("accounts").post(
        "/v1/accounts",
        json={"code": "1000", "name": "Cash", "type": "asset", "currency": "EUR"},
        token="admin",
    )
    assert opened.status == 201, opened.json
    yield firestore_client, str(opened.data["id"])
    reset_clients()
    reset_settings()


_REPLACED: list[tuple[Any, Any]] = []


@pytest.fixture(autouse=True)
def _real_authenticators() -> Iterator[None]:
    """Give each router its own authenticator back: later tests load the same modules."""
    yield
    while _REPLACED:
        router, authenticator = _REPLACED.pop()
        router._authenticator = authenticator


def _client(function: str) -> RouterClient:
    router = load_function(function).router
    permissions = frozenset(route.permission for route in router.routes if route.permission)
    everything = Principal("u-admin", TENANT, "owner", permissions)
    _REPLACED.append((router, router._authenticator))
    router._authenticator = StaticAuthenticator({"admin": everything})
    return RouterClient(router)


def _at(path: str, position: dict[str, Any], account_id: str) -> tuple[str, dict[str, Any]]:
    mine = {k: account_id if v == ACCOUNT else v for k, v in position.items()}
    return path.replace(ACCOUNT, account_id), mine


@pytest.mark.parametrize(("function", "path", "scope", "good", "hole"), LISTS, ids=LIST_IDS)
def test_a_cursor_of_the_lists_own_shape_is_followed(
    database: tuple[Any, str],
    function: str,
    path: str,
    scope: str,
    good: dict[str, Any],
    hole: dict[str, Any],
) -> None:
    """The forgeries below differ from a position the list accepts in one field only."""
    path, position = _at(path, good, database[1])
    answer = _client(function).get(
        path, token="admin", query={"cursor": _checksummed(scope, position)}
    )
    assert answer.status == 200, answer.json


@pytest.mark.parametrize(("function", "path", "scope", "good", "hole"), LISTS, ids=LIST_IDS)
@pytest.mark.parametrize(
    "forge",
    [
        lambda scope, position: _old_format(position),
        lambda scope, position: _checksummed(scope, position),
        lambda scope, position: _checksummed(scope, position)[:-3],
        lambda scope, position: "v1.%%%.???",
    ],
    ids=["old-format", "recomputed-checksum", "truncated", "garbage"],
)
def test_a_forged_cursor_is_a_400_and_writes_nothing(
    database: tuple[Any, str],
    function: str,
    path: str,
    scope: str,
    good: dict[str, Any],
    hole: dict[str, Any],
    forge: Callable[[str, dict[str, Any]], str],
    credentials_client: Any,
) -> None:
    db, account_id = database
    path, position = _at(path, {**good, **hole}, account_id)
    # Both databases: the users and invitations lists' callers live in the credentials one.
    before = (dump(db), dump(credentials_client))
    answer = _client(function).get(path, token="admin", query={"cursor": forge(scope, position)})
    assert answer.status == 400, answer.json
    assert answer.headers["Content-Type"] == "application/problem+json"
    document = answer.json
    assert document["code"] == "invalid_cursor"
    assert [(e["field"], e["code"]) for e in document["errors"]] == [
        ("query.cursor", "invalid_cursor")
    ]
    assert (dump(db), dump(credentials_client)) == before


def test_a_cursor_of_one_list_is_refused_by_another(database: tuple[Any, str]) -> None:
    tax_cursor = _checksummed("tax.calculations", {"at": "2025-01-01T00:00:00Z", "id": "c-1"})
    answer = _client("dead_letters_api").get(
        "/v1/dead-letters", token="admin", query={"cursor": tax_cursor}
    )
    assert (answer.status, answer.json["code"]) == (400, "invalid_cursor")
