"""The rules of password reset tokens: random, stored as a digest, single use, 30 minutes,
void once the user's access epoch moves on."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from shared.users.reset_tokens import (
    RESET_TOKEN_BYTES,
    RESET_TOKEN_LIFETIME,
    StoredResetToken,
    issue_token,
    token_digest,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _stored(epoch: int = 2) -> StoredResetToken:
    return StoredResetToken.new(user_id="u1", tenant_id="t1", epoch=epoch, now=NOW)


def test_a_token_is_32_random_bytes_url_safe_and_stored_as_its_sha256() -> None:
    issued = issue_token()

    raw = base64.urlsafe_b64decode(issued.secret + "=" * (-len(issued.secret) % 4))
    assert len(raw) == RESET_TOKEN_BYTES
    assert set(issued.secret) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert issued.digest == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert token_digest(issued.secret) == issued.digest
    assert len({issue_token().secret for _ in range(50)}) == 50


def test_a_token_lives_thirty_minutes() -> None:
    stored = _stored()

    assert timedelta(minutes=30) == RESET_TOKEN_LIFETIME
    assert stored.expires_at == NOW + RESET_TOKEN_LIFETIME
    assert stored.usable(now=NOW, current_epoch=2)
    assert stored.usable(now=stored.expires_at - timedelta(microseconds=1), current_epoch=2)
    assert not stored.usable(now=stored.expires_at, current_epoch=2)
    assert not stored.usable(now=stored.expires_at + timedelta(days=1), current_epoch=2)


def test_a_used_token_is_never_usable_again() -> None:
    used = replace(_stored(), used_at=NOW + timedelta(minutes=1))

    assert not used.usable(now=NOW + timedelta(minutes=2), current_epoch=2)


def test_a_token_dies_when_the_users_epoch_moves_on() -> None:
    stored = _stored(epoch=2)

    # A password change, a reset or a disable raised the epoch after the request.
    assert not stored.usable(now=NOW, current_epoch=3)


def test_the_stored_document_holds_no_secret_and_reads_back() -> None:
    issued = issue_token()
    stored = _stored()

    document = stored.to_document()

    assert set(document) == {"user_id", "tenant_id", "epoch", "created_at", "expires_at", "used_at"}
    assert issued.secret not in str(document)
    assert StoredResetToken.from_document(document) == stored
