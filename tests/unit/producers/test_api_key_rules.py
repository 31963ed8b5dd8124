"""API-key rules without I/O: what a key may hold, its permissions, the role ceiling,
rotation, the per-instance cache and how the bearer authenticator tells keys from JWTs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.auth.access import STALENESS_SECONDS as SESSION_STALENESS_SECONDS
from shared.auth.context import KeyPrincipal, authorize
from shared.auth.http import BearerAuthenticator
from shared.errors import ForbiddenError, ValidationError
from shared.identity.roles import Permission, permissions_for
from shared.producers.cache import STALENESS_SECONDS, CachedKeys, forget_locally
from shared.producers.model import ProducerKey
from shared.producers.rules import (
    check_key_access,
    check_role_ceiling,
    credential_hash,
    is_credential,
    key_permissions,
    new_credential,
    new_key_id,
    rotation_expiry,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _key(key_id: str = "pk" + "a" * 24, **changes: Any) -> ProducerKey:
    key = ProducerKey(
        id=key_id,
        tenant_id="tenant-a",
        name="ci",
        scopes=(),
        secret_hash=credential_hash(new_credential(key_id)),
        created_at=NOW - timedelta(days=1),
        created_by={"user_id": "u-owner", "role": "owner"},
        role="admin",
    )
    return replace(key, **changes)


# -- what a key may hold ------------------------------------------------------------------


def test_a_key_must_open_some_door() -> None:
    with pytest.raises(ValidationError) as refused:
        check_key_access(None, None, [])
    assert {e.field for e in refused.value.errors} == {"role", "scopes"}
    check_key_access("viewer", None, [])
    check_key_access(None, None, ["ledger:post"])


def test_restricted_permissions_lie_within_the_role_and_need_one() -> None:
    with pytest.raises(ValidationError) as outside:
        check_key_access("viewer", ["journal:read", "journal:post", "users:read_self"], [])
    assert [e.field for e in outside.value.errors] == ["permissions.1", "permissions.2"]
    with pytest.raises(ValidationError) as without_role:
        check_key_access(None, ["journal:read"], ["ledger:post"])
    assert [e.field for e in without_role.value.errors] == ["permissions"]
    check_key_access("accountant", ["journal:read", "journal:post"], [])


def test_a_keys_permissions_are_its_roles_narrowed_and_never_the_people_only_ones() -> None:
    self_service = Permission.USERS_READ_SELF.value
    assert key_permissions("admin", None) == permissions_for("admin") - {self_service}
    assert key_permissions("admin", ["journal:read", self_service]) == {"journal:read"}
    # Narrowing never widens: a listed permission outside the role is not held.
    assert key_permissions("viewer", ["journal:post"]) == frozenset()
    assert key_permissions(None, None) == frozenset()


# -- the role ceiling ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "target", "allowed"),
    [
        ("owner", "owner", True),
        ("admin", "admin", True),
        ("admin", "viewer", True),
        ("admin", "owner", False),
        ("accountant", "admin", False),
        ("", "viewer", False),
        ("admin", None, True),
    ],
)
def test_nobody_manages_a_key_whose_role_ranks_above_their_own(
    actor: str, target: str | None, allowed: bool
) -> None:
    if allowed:
        check_role_ceiling(actor, target, action="revoke")
        return
    with pytest.raises(ForbiddenError) as refused:
        check_role_ceiling(actor, target, action="revoke")
    assert refused.value.code == "role_escalation"


# -- rotation and status ------------------------------------------------------------------


def test_a_rotated_key_ends_after_the_overlap_but_never_later_than_it_would_have() -> None:
    assert rotation_expiry(NOW, timedelta(hours=1), None) == NOW + timedelta(hours=1)
    assert rotation_expiry(NOW, timedelta(0), None) == NOW
    sooner = NOW + timedelta(minutes=5)
    assert rotation_expiry(NOW, timedelta(hours=1), sooner) == sooner


def test_status_says_revoked_expired_or_active() -> None:
    assert _key().status_at(NOW) == "active"
    assert _key(expires_at=NOW).status_at(NOW) == "expired"
    assert _key(expires_at=NOW, revoked_at=NOW).status_at(NOW) == "revoked"


def test_a_key_is_told_from_a_jwt_by_its_prefix() -> None:
    assert is_credential(new_credential(new_key_id()))
    assert not is_credential("eyJhbGciOiJFUzI1NiJ9.e30.sig")
    assert not is_credential("trb_xx_something")


# -- the per-instance cache ---------------------------------------------------------------


class _Reads:
    def __init__(self, key: ProducerKey | None) -> None:
        self.key = key
        self.count = 0

    def __call__(self, key_id: str) -> ProducerKey | None:
        self.count += 1
        return self.key


def test_the_key_cache_has_the_sessions_staleness_bound() -> None:
    assert STALENESS_SECONDS == SESSION_STALENESS_SECONDS


def test_a_cached_key_is_served_for_the_bound_then_read_again() -> None:
    now = [0.0]
    reads = _Reads(_key())
    cache = CachedKeys(reads, clock=lambda: now[0])

    cache.get("k")
    now[0] = STALENESS_SECONDS - 0.01
    cache.get("k")
    assert reads.count == 1
    reads.key = _key(revoked_at=NOW)
    now[0] = STALENESS_SECONDS
    found = cache.get("k")
    assert reads.count == 2 and found is not None and found.revoked_at == NOW


def test_a_local_write_is_seen_at_once_and_unknown_keys_are_not_cached() -> None:
    reads = _Reads(_key())
    cache = CachedKeys(reads, clock=lambda: 0.0)
    cache.get("k")
    forget_locally("k")
    cache.get("k")
    assert reads.count == 2
    reads.key = None
    cache.forget("k")
    assert cache.get("k") is None and cache.get("k") is None
    assert reads.count == 4


def test_the_key_cache_keeps_at_most_its_size() -> None:
    reads = _Reads(_key())
    cache = CachedKeys(reads, max_entries=2, clock=lambda: 0.0)
    for key_id in ("a", "b", "c"):
        cache.get(key_id)
    cache.get("a")
    assert reads.count == 4  # "a" was evicted, "c" and "b" were not


# -- the bearer authenticator and the principal -------------------------------------------


class _Keys:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def authenticate(self, credential: str) -> KeyPrincipal:
        self.seen.append(credential)
        return KeyPrincipal("pk1", "tenant-a", "ci", "viewer", key_permissions("viewer", None))


class _Context:
    def __init__(self, authorization: str) -> None:
        self.headers = {"Authorization": authorization}


def test_the_bearer_authenticator_hands_keys_to_the_key_authenticator() -> None:
    def no_jwt() -> Any:
        raise AssertionError("a key must never reach the JWT verifier")

    keys = _Keys()
    bearer = BearerAuthenticator(verifier=no_jwt, keys=keys)  # type: ignore[arg-type]
    credential = new_credential(new_key_id())

    principal = bearer.authenticate(_Context(f"Bearer {credential}"))  # type: ignore[arg-type]

    assert keys.seen == [credential]
    assert isinstance(principal, KeyPrincipal)
    bearer.authorize(principal, "journal:read")
    with pytest.raises(ForbiddenError):
        bearer.authorize(principal, "journal:post")


def test_a_key_principal_acts_as_the_key() -> None:
    principal = KeyPrincipal("pk1", "tenant-a", "ci", "admin", key_permissions("admin", None))
    assert principal.user_id == "key:pk1"
    assert principal.family_id is None
    with pytest.raises(ForbiddenError) as refused:
        authorize(principal, Permission.USERS_READ_SELF.value)
    assert "this key" in (refused.value.detail or "")
