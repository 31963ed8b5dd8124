"""FirestoreRevocationStore on the emulator, alone and behind the verifier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.auth import ACCESS, TOKEN_REVOKED, FirestoreRevocationStore, revoke_token
from shared.auth.revocation import (
    RETENTION_MARGIN,
    REVOKED_TOKENS_COLLECTION,
    revocation_id,
)
from shared.errors import UnauthorizedError
from tests.integration.auth.support import sessions, verifier

EXPIRES = datetime(2031, 1, 1, tzinfo=UTC)


def test_revoke_then_is_revoked(credentials_client: Any) -> None:
    store = FirestoreRevocationStore(credentials_client)
    assert not store.is_revoked("iss-a", "jti-1")
    store.revoke("iss-a", "jti-1", expires_at=EXPIRES, reason="logout")
    assert store.is_revoked("iss-a", "jti-1")
    assert not store.is_revoked("iss-b", "jti-1")  # keyed by issuer and jti together
    assert not store.is_revoked("iss-a", "jti-2")


def test_record_shape_and_ttl_field(credentials_client: Any) -> None:
    FirestoreRevocationStore(credentials_client).revoke(
        "iss-a", "jti-1", expires_at=EXPIRES, reason="compromised"
    )
    snapshot = (
        credentials_client.collection(REVOKED_TOKENS_COLLECTION)
        .document(revocation_id("iss-a", "jti-1"))
        .get()
    )
    record = snapshot.to_dict()
    assert len(snapshot.id) == 64
    assert (record["iss"], record["jti"], record["reason"]) == ("iss-a", "jti-1", "compromised")
    assert record["expires_at"] == EXPIRES + RETENTION_MARGIN
    assert isinstance(record["revoked_at"], datetime)


def test_revoking_twice_is_harmless(credentials_client: Any) -> None:
    store = FirestoreRevocationStore(credentials_client)
    store.revoke("iss", "j", expires_at=EXPIRES, reason="a")
    store.revoke("iss", "j", expires_at=EXPIRES + timedelta(days=1), reason="b")
    assert store.is_revoked("iss", "j")
    assert len(list(credentials_client.collection(REVOKED_TOKENS_COLLECTION).stream())) == 1


def test_revoked_access_token_is_refused_on_every_verifier(credentials_client: Any) -> None:
    pair = sessions(credentials_client).start(user_id="u-1", tenant_id="t-1", role="viewer")
    first, second = verifier(credentials_client), verifier(credentials_client)  # two "instances"
    assert first.verify(pair.access.token, ACCESS).jti == pair.access.claims.jti
    revoke_token(FirestoreRevocationStore(credentials_client), pair.access.claims, reason="logout")
    for instance in (first, second):
        with pytest.raises(UnauthorizedError) as caught:
            instance.verify(pair.access.token, ACCESS)
        assert caught.value.code == TOKEN_REVOKED
