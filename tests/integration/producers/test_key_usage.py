"""A key's last use: noted in the main database, merged into the key when it is read.

Key records are in the credentials database, which the functions that accept keys may
only read; the note (``producer_key_usage/{key id}``) is in the main database, and is
not attempted where the function may only read that one too (the audit function).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import clients
from shared.clients import reset_clients
from shared.config import reset_settings
from shared.identity.actor import Actor
from shared.producers import CreateProducerKeyRequest, create_key
from shared.producers.http import KeyAuthenticator
from shared.producers.store import key_ref
from tests.integration.producers.conftest import TENANT, KeyApi
from tests.integration.producers.test_api_keys import _last_used

OWNER = Actor.user("u-owner", role="owner")


def _credential(credentials: Any) -> str:
    request = CreateProducerKeyRequest(name="reporting", role="viewer")
    return create_key(credentials, TENANT, request, actor=OWNER).credential


def _key_id(credential: str) -> str:
    return credential.split("_")[2]


class Books:
    """The main database's client, counting how often the authenticator asked for it."""

    def __init__(self) -> None:
        self.asked = 0

    def __call__(self) -> Any:
        self.asked += 1
        return clients.firestore_client()


def _declare(monkeypatch: pytest.MonkeyPatch, access: str) -> None:
    monkeypatch.setenv("TRIBUTUM_FIRESTORE__ACCESS", access)
    reset_settings()
    reset_clients()


def test_a_key_used_where_the_main_database_is_read_only_is_accepted_and_noted_nowhere(
    platform: Any, firestore_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = _credential(platform)
    before = key_ref(platform, _key_id(credential)).get().to_dict()
    _declare(monkeypatch, '{"main": "read", "credentials": "read"}')  # the audit function
    books = Books()

    principal = KeyAuthenticator(books=books).authenticate(credential)

    assert (principal.key_id, principal.tenant_id) == (_key_id(credential), TENANT)
    assert books.asked == 0  # no write was attempted
    assert _last_used(firestore_client, _key_id(credential)) is None
    assert key_ref(platform, _key_id(credential)).get().to_dict() == before


def test_a_key_used_where_the_credentials_are_read_only_is_noted_in_the_main_database(
    platform: Any, firestore_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = _credential(platform)
    before = key_ref(platform, _key_id(credential)).get().to_dict()
    _declare(monkeypatch, '{"main": "write", "credentials": "read"}')  # e.g. the journal
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    books = Books()
    keys = KeyAuthenticator(books=books, now=lambda: at)

    keys.authenticate(credential)
    keys.authenticate(credential)  # within the minute: no second note

    assert books.asked == 1
    assert _last_used(firestore_client, _key_id(credential)) == at
    # The key's record is untouched (the function may not write it).
    assert key_ref(platform, _key_id(credential)).get().to_dict() == before


def test_listing_and_reading_keys_show_their_noted_last_use(
    api: KeyApi, platform: Any, firestore_client: Any
) -> None:
    credential = _credential(platform)
    key_id = _key_id(credential)
    # Authenticated, then refused the route's permission (a viewer key): it was used.
    assert api.client.get("/v1/producer-keys", token=credential).status == 403
    noted = _last_used(firestore_client, key_id)

    listed = api.client.get("/v1/producer-keys", token="owner").data
    read = api.client.get(f"/v1/producer-keys/{key_id}", token="owner").data

    assert [k["last_used_at"] for k in listed] == [noted.isoformat()]
    assert read["last_used_at"] == noted.isoformat()
    assert key_ref(platform, key_id).get().get("last_used_at") is None


@pytest.mark.parametrize(
    ("on_record", "in_note", "shown"),
    [
        # A key used before the note existed carries its last use on its record.
        (timedelta(hours=-2), None, timedelta(hours=-2)),
        (timedelta(hours=-2), timedelta(hours=-1), timedelta(hours=-1)),
        (timedelta(hours=-1), timedelta(hours=-2), timedelta(hours=-1)),
        (None, None, None),
    ],
    ids=["record-only", "note-later", "record-later", "never-used"],
)
def test_the_later_of_the_record_and_the_note_is_shown(
    api: KeyApi,
    platform: Any,
    firestore_client: Any,
    on_record: timedelta | None,
    in_note: timedelta | None,
    shown: timedelta | None,
) -> None:
    key_id = _key_id(_credential(platform))
    base = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    def at(offset: timedelta | None) -> datetime | None:
        return None if offset is None else base + offset

    key_ref(platform, key_id).update({"last_used_at": at(on_record)})
    if in_note is not None:
        firestore_client.collection("producer_key_usage").document(key_id).set(
            {"last_used_at": at(in_note)}
        )

    read = api.client.get(f"/v1/producer-keys/{key_id}", token="owner").data

    expected = at(shown)
    assert read["last_used_at"] == (expected.isoformat() if expected else None)
