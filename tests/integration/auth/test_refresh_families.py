"""Refresh-token families on the emulator: rotation, reuse detection, logout, concurrency,
and the session service reading and writing users' access states."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.api_core import exceptions as api_exceptions

from shared.auth import (
    ACCESS,
    TOKEN_INVALID,
    TOKEN_REVOKED,
    AccessState,
    FirestoreRefreshTokenFamilies,
    RefreshTokenReused,
    TokenPair,
)
from shared.auth.families import REFRESH_FAMILIES_COLLECTION
from shared.errors import AppError, UnauthorizedError
from tests.integration.auth.support import (
    sessions,
    store_state,
    stored_state,
    verifier,
)

EXPIRES = datetime(2031, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def users(credentials_client: Any) -> None:
    """The access state of the user these tests log in."""
    store_state(credentials_client, AccessState(user_id="u-1", tenant_id="t-1", role="accountant"))


def family(client: Any, family_id: str) -> dict[str, Any]:
    record = FirestoreRefreshTokenFamilies(client).get(family_id)
    assert record is not None
    return record


def refused(action: Any) -> str:
    with pytest.raises(UnauthorizedError) as caught:
        action()
    return caught.value.code


# -- the store -------------------------------------------------------------------------------


def test_start_records_the_first_jti(credentials_client: Any) -> None:
    families = FirestoreRefreshTokenFamilies(credentials_client)
    families.start("fam-1", jti="j0", user_id="u", tenant_id="t", expires_at=EXPIRES)
    record = family(credentials_client, "fam-1")
    assert (record["current_jti"], record["status"], record["generation"]) == ("j0", "active", 0)
    assert record["expires_at"] > EXPIRES  # TTL field: token expiry plus a margin


def test_a_family_id_cannot_be_reused(credentials_client: Any) -> None:
    families = FirestoreRefreshTokenFamilies(credentials_client)
    families.start("fam-1", jti="j0", user_id="u", tenant_id="t", expires_at=EXPIRES)
    with pytest.raises(api_exceptions.AlreadyExists):
        families.start("fam-1", jti="j9", user_id="x", tenant_id="y", expires_at=EXPIRES)
    assert family(credentials_client, "fam-1")["user_id"] == "u"


def test_rotate_moves_to_the_next_jti(credentials_client: Any) -> None:
    families = FirestoreRefreshTokenFamilies(credentials_client)
    families.start("fam-1", jti="j0", user_id="u", tenant_id="t", expires_at=EXPIRES)
    later = EXPIRES + timedelta(days=3)
    families.rotate(
        "fam-1", presented_jti="j0", next_jti="j1", user_id="u", tenant_id="t", expires_at=later
    )
    record = family(credentials_client, "fam-1")
    assert (record["current_jti"], record["generation"], record["status"]) == ("j1", 1, "active")
    assert record["expires_at"] > later


def test_presenting_a_rotated_jti_revokes_the_family(credentials_client: Any) -> None:
    families = FirestoreRefreshTokenFamilies(credentials_client)
    families.start("fam-1", jti="j0", user_id="u", tenant_id="t", expires_at=EXPIRES)

    def rotate(presented: str, following: str) -> None:
        families.rotate(
            "fam-1",
            presented_jti=presented,
            next_jti=following,
            user_id="u",
            tenant_id="t",
            expires_at=EXPIRES,
        )

    rotate("j0", "j1")
    assert refused(lambda: rotate("j0", "j2")) == TOKEN_REVOKED
    record = family(credentials_client, "fam-1")
    assert (record["status"], record["revoke_reason"]) == ("revoked", "reuse_detected")
    # The legitimate current token dies with it.
    assert refused(lambda: rotate("j1", "j3")) == TOKEN_REVOKED


def test_unknown_family_or_other_owner_is_invalid(credentials_client: Any) -> None:
    families = FirestoreRefreshTokenFamilies(credentials_client)
    families.start("fam-1", jti="j0", user_id="u", tenant_id="t", expires_at=EXPIRES)
    code = refused(
        lambda: families.rotate(
            "nope",
            presented_jti="j0",
            next_jti="j1",
            user_id="u",
            tenant_id="t",
            expires_at=EXPIRES,
        )
    )
    assert code == TOKEN_INVALID
    code = refused(
        lambda: families.rotate(
            "fam-1",
            presented_jti="j0",
            next_jti="j1",
            user_id="u",
            tenant_id="other",
            expires_at=EXPIRES,
        )
    )
    assert code == TOKEN_INVALID
    assert family(credentials_client, "fam-1")["current_jti"] == "j0"


def test_revoke_user_revokes_only_that_users_active_families(credentials_client: Any) -> None:
    families = FirestoreRefreshTokenFamilies(credentials_client)
    for family_id, user, tenant in [
        ("f1", "u", "t"),
        ("f2", "u", "t"),
        ("f3", "u", "other-tenant"),
        ("f4", "someone-else", "t"),
    ]:
        families.start(family_id, jti="j", user_id=user, tenant_id=tenant, expires_at=EXPIRES)
    assert families.revoke_user("t", "u", reason="password_changed") == 2
    statuses = {
        doc.id: doc.get("status")
        for doc in credentials_client.collection(REFRESH_FAMILIES_COLLECTION).stream()
    }
    assert statuses == {"f1": "revoked", "f2": "revoked", "f3": "active", "f4": "active"}
    assert families.revoke_user("t", "u", reason="again") == 0


def test_revoke_user_can_keep_one_session(credentials_client: Any) -> None:
    families = FirestoreRefreshTokenFamilies(credentials_client)
    for family_id in ("f1", "f2", "f3"):
        families.start(family_id, jti="j", user_id="u", tenant_id="t", expires_at=EXPIRES)
    assert families.revoke_user("t", "u", reason="password_changed", keep="f2") == 2
    assert [family(credentials_client, f)["status"] for f in ("f1", "f2", "f3")] == [
        "revoked",
        "active",
        "revoked",
    ]


def test_revoke_unknown_family_reports_false(credentials_client: Any) -> None:
    assert FirestoreRefreshTokenFamilies(credentials_client).revoke("ghost", reason="x") is False


# -- sessions --------------------------------------------------------------------------------


def test_login_refresh_and_reuse_detection(credentials_client: Any) -> None:
    service = sessions(credentials_client)
    first = service.start(user_id="u-1", tenant_id="t-1", role="accountant")
    body = first.to_json()
    assert body["token_type"] == "Bearer"
    assert (body["expires_in"], body["refresh_expires_in"]) == (900, 7 * 86_400)
    assert first.access.claims.family_id == first.refresh.claims.family_id

    second = service.refresh(first.refresh.token)
    assert second.family_id == first.family_id
    assert second.refresh.claims.jti != first.refresh.claims.jti
    assert verifier(credentials_client).verify(second.access.token, ACCESS).role == "accountant"

    # The rotated token comes back: stolen or replayed, the whole family goes.
    assert refused(lambda: service.refresh(first.refresh.token)) == TOKEN_REVOKED
    assert refused(lambda: service.refresh(second.refresh.token)) == TOKEN_REVOKED


def test_refresh_carries_the_stored_role_and_epoch(credentials_client: Any) -> None:
    service = sessions(credentials_client)
    first = service.start(user_id="u-1", tenant_id="t-1", role="accountant")
    store_state(credentials_client, AccessState(user_id="u-1", tenant_id="t-1", role="viewer"))

    second = service.refresh(first.refresh.token)
    assert second.access.claims.role == second.refresh.claims.role == "viewer"

    # The password was changed in this session: it stays, at the new epoch.
    store_state(
        credentials_client,
        AccessState(
            user_id="u-1", tenant_id="t-1", role="viewer", epoch=1, kept_session=first.family_id
        ),
    )
    third = service.refresh(second.refresh.token)
    assert third.access.claims.epoch == third.refresh.claims.epoch == 1


def test_a_refused_refresh_leaves_the_session_untouched(credentials_client: Any) -> None:
    service = sessions(credentials_client)
    first = service.start(user_id="u-1", tenant_id="t-1", role="accountant")
    disabled = AccessState(user_id="u-1", tenant_id="t-1", role="accountant", status="disabled")
    store_state(credentials_client, disabled)

    assert refused(lambda: service.refresh(first.refresh.token)) == TOKEN_REVOKED
    assert family(credentials_client, first.family_id)["current_jti"] == first.refresh.claims.jti

    store_state(credentials_client, AccessState(user_id="u-1", tenant_id="t-1", role="accountant"))
    assert service.refresh(first.refresh.token).family_id == first.family_id


def test_a_refresh_token_from_before_the_users_epoch_is_refused(credentials_client: Any) -> None:
    service = sessions(credentials_client)
    pair = service.start(user_id="u-1", tenant_id="t-1", role="accountant")
    store_state(
        credentials_client, AccessState(user_id="u-1", tenant_id="t-1", role="accountant", epoch=1)
    )
    assert refused(lambda: service.refresh(pair.refresh.token)) == TOKEN_REVOKED


def test_a_user_without_an_access_state_cannot_refresh(credentials_client: Any) -> None:
    service = sessions(credentials_client)
    pair = service.start(user_id="u-404", tenant_id="t-1", role="owner")
    assert refused(lambda: service.refresh(pair.refresh.token)) == TOKEN_REVOKED
    # Without a state store (a tool), the token's own role is trusted.
    assert sessions(credentials_client, with_states=False).refresh(pair.refresh.token)


def test_reuse_ends_the_sessions_access_tokens_in_the_users_state(credentials_client: Any) -> None:
    service = sessions(credentials_client)
    first = service.start(user_id="u-1", tenant_id="t-1", role="accountant")
    service.refresh(first.refresh.token)

    with pytest.raises(RefreshTokenReused) as caught:
        service.refresh(first.refresh.token)
    assert caught.value.code == TOKEN_REVOKED and caught.value.status == 401
    assert caught.value.family_id == first.family_id
    ended = stored_state(credentials_client, "u-1").ended_sessions
    assert set(ended) == {first.family_id}
    assert ended[first.family_id] > first.access.claims.expires_at


def test_logout_ends_the_session_and_revokes_the_access_token(credentials_client: Any) -> None:
    service = sessions(credentials_client)
    pair = service.start(user_id="u-1", tenant_id="t-1", role="viewer")
    principal = verifier(credentials_client).verify(pair.access.token, ACCESS)
    service.end(pair.refresh.token, access=principal)
    assert refused(lambda: service.refresh(pair.refresh.token)) == TOKEN_REVOKED
    assert refused(lambda: verifier(credentials_client).verify(pair.access.token, ACCESS)) == (
        TOKEN_REVOKED
    )
    assert pair.family_id in stored_state(credentials_client, "u-1").ended_sessions


def test_end_all_logs_a_user_out_everywhere(credentials_client: Any) -> None:
    service = sessions(credentials_client)
    laptop = service.start(user_id="u-1", tenant_id="t-1", role="viewer")
    phone = service.start(user_id="u-1", tenant_id="t-1", role="viewer")
    assert service.end_all(tenant_id="t-1", user_id="u-1", reason="password_changed") == 2
    for pair in (laptop, phone):
        assert refused(lambda p=pair: service.refresh(p.refresh.token)) == TOKEN_REVOKED


def test_access_token_cannot_refresh(credentials_client: Any) -> None:
    service = sessions(credentials_client)
    pair = service.start(user_id="u-1", tenant_id="t-1", role="viewer")
    assert refused(lambda: service.refresh(pair.access.token)) == "token_wrong_type"


def test_concurrent_refreshes_of_one_token_let_exactly_one_succeed(credentials_client: Any) -> None:
    service = sessions(credentials_client)
    pair = service.start(user_id="u-1", tenant_id="t-1", role="viewer")
    barrier = threading.Barrier(2)
    successes: list[TokenPair] = []
    failures: list[AppError] = []
    lock = threading.Lock()

    def refresh() -> None:
        barrier.wait()
        try:
            result = service.refresh(pair.refresh.token)
        except AppError as exc:
            with lock:
                failures.append(exc)
        else:
            with lock:
                successes.append(result)

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(successes) == 1, failures
    assert len(failures) == 1
    assert failures[0].code in {TOKEN_REVOKED, "refresh_in_progress"}
    record = family(credentials_client, pair.family_id)
    assert record["generation"] <= 1  # never rotated twice
