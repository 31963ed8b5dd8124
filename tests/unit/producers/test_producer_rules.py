"""Producer-key rules without I/O: the credential format and the checks on a message."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.producers.model import ProducerKey
from shared.producers.rules import (
    ProducerRejected,
    check_key,
    check_tenant,
    credential_hash,
    key_id_of,
    new_credential,
    new_key_id,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _key(credential: str, **changes: object) -> ProducerKey:
    key = ProducerKey(
        id=key_id_of(credential),
        tenant_id="tenant-a",
        name="billing",
        scopes=("ledger:post",),
        secret_hash=credential_hash(credential),
        created_at=NOW - timedelta(days=1),
        created_by={"user_id": "u-admin"},
    )
    return replace(key, **changes)  # type: ignore[arg-type]


def test_a_new_credential_is_recognisable_and_carries_its_key_id() -> None:
    key_id = new_key_id()
    credential = new_credential(key_id)
    assert credential.startswith(f"trb_pk_{key_id}_")
    assert key_id_of(credential) == key_id
    assert new_credential(key_id) != credential  # 256 random bits each time


@pytest.mark.parametrize(
    ("credential", "code"),
    [
        (None, "credential_missing"),
        ("", "credential_missing"),
        ("trb_pk_pk123_abc", "credential_malformed"),
        ("Bearer eyJhbGciOi", "credential_malformed"),
        ("trb_pk_pk" + "0" * 24 + "_" + "A" * 42, "credential_malformed"),
    ],
)
def test_a_missing_or_malformed_credential_is_refused(credential: str | None, code: str) -> None:
    with pytest.raises(ProducerRejected) as refused:
        key_id_of(credential)
    assert (refused.value.code, refused.value.tenant_id) == (code, None)


def test_a_valid_key_proves_its_tenant_and_scopes() -> None:
    credential = new_credential(new_key_id())
    identity = check_key(_key(credential), credential, "ledger:post", NOW)
    assert (identity.tenant_id, identity.scopes) == ("tenant-a", frozenset({"ledger:post"}))
    assert identity.actor == {"producer_key_id": identity.key_id, "producer": "billing"}


@pytest.mark.parametrize(
    ("changes", "code", "tenant"),
    [
        ({"secret_hash": "0" * 64}, "credential_unknown", None),
        ({"revoked_at": NOW - timedelta(seconds=1)}, "credential_revoked", "tenant-a"),
        ({"expires_at": NOW}, "credential_expired", "tenant-a"),
        ({"scopes": ()}, "scope_missing", "tenant-a"),
    ],
)
def test_a_key_that_does_not_allow_the_message_is_refused(
    changes: dict[str, object], code: str, tenant: str | None
) -> None:
    credential = new_credential(new_key_id())
    with pytest.raises(ProducerRejected) as refused:
        check_key(_key(credential, **changes), credential, "ledger:post", NOW)
    assert (refused.value.code, refused.value.tenant_id) == (code, tenant)


def test_an_unknown_key_is_refused() -> None:
    credential = new_credential(new_key_id())
    with pytest.raises(ProducerRejected) as refused:
        check_key(None, credential, "ledger:post", NOW)
    assert refused.value.code == "credential_unknown"


def test_a_key_acts_for_its_own_tenant_only() -> None:
    credential = new_credential(new_key_id())
    identity = check_key(_key(credential), credential, "ledger:post", NOW)
    check_tenant(identity, "tenant-a")
    with pytest.raises(ProducerRejected) as refused:
        check_tenant(identity, "tenant-b")
    assert (refused.value.code, refused.value.tenant_id) == ("tenant_mismatch", "tenant-a")
