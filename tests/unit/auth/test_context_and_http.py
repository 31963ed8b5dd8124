"""AuthContext/authorize, and BearerAuthenticator behind the real HTTP router: the token,
then the holder's access state (stored role, status, epoch, ended sessions)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.auth import (
    AccessState,
    AuthContext,
    InMemoryAccessStates,
    InMemoryRevocationStore,
    authorize,
    revoke_token,
)
from shared.auth.http import BearerAuthenticator, bearer_token
from shared.errors import ForbiddenError, UnauthorizedError
from shared.http import RequestContext, Router
from shared.identity import permissions_for
from tests.support.http import RouterClient
from tests.unit.auth.support import at, make_issuer, make_verifier, single_key_set

KEYS = single_key_set("http-k1")


def context(role: str) -> AuthContext:
    claims = make_issuer(KEYS).issue_access(user_id="u-1", tenant_id="t-1", role=role).claims
    return AuthContext.from_claims(claims)


def test_context_permissions_come_from_the_matrix() -> None:
    ctx = context("accountant")
    assert ctx.permissions == permissions_for("accountant")
    assert (ctx.user_id, ctx.tenant_id, ctx.role) == ("u-1", "t-1", "accountant")
    assert ctx.can("journal:post") and not ctx.can("payments:refund")


def test_authorize_allows_granted_permissions() -> None:
    authorize(context("viewer"), "journal:read")


def test_authorize_denies_with_a_403_naming_the_permission() -> None:
    with pytest.raises(ForbiddenError) as caught:
        authorize(context("viewer"), "journal:post")
    assert caught.value.code == "permission_denied"
    assert "journal:post" in caught.value.detail


def test_authorize_denies_unknown_permissions_even_to_owners() -> None:
    with pytest.raises(ForbiddenError):
        authorize(context("owner"), "ledger:drop")


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer abc", "abc"), ("BEARER  abc ", "abc")],
)
def test_bearer_token_parsing(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "token_missing"),
        ("", "token_missing"),
        ("   ", "token_missing"),
        ("Basic dXNlcjpwYXNz", "token_invalid"),
        ("Bearer", "token_invalid"),
        ("Bearer a b", "token_invalid"),
        ("abc.def.ghi", "token_invalid"),
    ],
)
def test_bearer_header_rejections(header: str | None, code: str) -> None:
    with pytest.raises(UnauthorizedError) as caught:
        bearer_token(header)
    assert caught.value.code == code


@pytest.fixture
def revocations() -> InMemoryRevocationStore:
    return InMemoryRevocationStore()


@pytest.fixture
def states() -> InMemoryAccessStates:
    store = InMemoryAccessStates()
    store.put(AccessState(user_id="u-9", tenant_id="t-9", role="viewer"))
    return store


@pytest.fixture
def client(revocations: InMemoryRevocationStore, states: InMemoryAccessStates) -> RouterClient:
    router = Router(
        "auth_test",
        authenticator=BearerAuthenticator(make_verifier(KEYS, revocations), states),
    )

    @router.get("/v1/journal-entries", permission="journal:read")
    def list_entries(ctx: RequestContext) -> dict[str, Any]:
        return {"user_id": ctx.principal.user_id, "tenant_id": ctx.tenant_id}

    @router.post("/v1/journal-entries", permission="journal:post")
    def post_entry(ctx: RequestContext) -> dict[str, Any]:
        return {"posted_by": ctx.principal.user_id}

    return RouterClient(router)


def token(role: str = "viewer", **kwargs: Any) -> str:
    return make_issuer(KEYS, **kwargs).issue_access(user_id="u-9", tenant_id="t-9", role=role).token


def test_valid_token_reaches_the_handler_with_its_tenant(client: RouterClient) -> None:
    answer = client.get("/v1/journal-entries", token=token())
    assert answer.status == 200
    assert answer.data == {"user_id": "u-9", "tenant_id": "t-9"}


def test_missing_permission_is_403(client: RouterClient) -> None:
    answer = client.post("/v1/journal-entries", token=token("viewer"))
    assert answer.status == 403
    assert answer.json["code"] == "permission_denied"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "token_missing"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "token_invalid"),
        ({"Authorization": "Bearer not-a-jwt"}, "token_invalid"),
    ],
)
def test_bad_credentials_are_401_problems(
    client: RouterClient, headers: dict[str, str], code: str
) -> None:
    answer = client.get("/v1/journal-entries", headers=headers)
    assert answer.status == 401
    assert answer.json["code"] == code
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_token_is_401_token_expired(client: RouterClient) -> None:
    answer = client.get("/v1/journal-entries", token=token(clock=at(-3600)))
    assert (answer.status, answer.json["code"]) == (401, "token_expired")


def test_refresh_token_is_refused_as_bearer(client: RouterClient) -> None:
    refresh = make_issuer(KEYS).issue_refresh(
        user_id="u-9", tenant_id="t-9", role="owner", family_id="f-1"
    )
    answer = client.get("/v1/journal-entries", token=refresh.token)
    assert (answer.status, answer.json["code"]) == (401, "token_wrong_type")


def test_revoked_token_is_401_token_revoked(
    client: RouterClient, revocations: InMemoryRevocationStore
) -> None:
    issued = make_issuer(KEYS).issue_access(user_id="u-9", tenant_id="t-9", role="viewer")
    assert client.get("/v1/journal-entries", token=issued.token).status == 200
    revoke_token(revocations, issued.claims, reason="logout")
    answer = client.get("/v1/journal-entries", token=issued.token)
    assert (answer.status, answer.json["code"]) == (401, "token_revoked")


# -- the access state: what the token cannot know ---------------------------------------------


def stored(states: InMemoryAccessStates, **changes: Any) -> None:
    fields: dict[str, Any] = {"user_id": "u-9", "tenant_id": "t-9", "role": "viewer", **changes}
    states.put(AccessState(**fields))


def session_token(role: str = "viewer", *, family: str = "fam-1", epoch: int = 0) -> str:
    issued = make_issuer(KEYS).issue_access(
        user_id="u-9", tenant_id="t-9", role=role, family_id=family, epoch=epoch
    )
    return issued.token


def test_the_stored_role_decides_not_the_tokens(
    client: RouterClient, states: InMemoryAccessStates
) -> None:
    # Issued while the user was an owner; demoted to viewer since.
    demoted = session_token("owner")
    refused = client.post("/v1/journal-entries", token=demoted)
    assert (refused.status, refused.json["code"]) == (403, "permission_denied")

    # Promoted: a token issued as viewer holds the accountant's permissions at once.
    stored(states, role="accountant")
    assert client.post("/v1/journal-entries", token=session_token("viewer")).status == 200


def test_a_disabled_users_tokens_are_refused(
    client: RouterClient, states: InMemoryAccessStates
) -> None:
    token_ = session_token()
    assert client.get("/v1/journal-entries", token=token_).status == 200
    stored(states, status="disabled")
    answer = client.get("/v1/journal-entries", token=token_)
    assert (answer.status, answer.json["code"]) == (401, "token_revoked")


def test_tokens_from_before_the_users_epoch_are_refused_but_the_kept_session(
    client: RouterClient, states: InMemoryAccessStates
) -> None:
    laptop, phone = session_token(family="laptop"), session_token(family="phone")
    stored(states, epoch=1, kept_session="laptop")  # the password was changed on the laptop

    assert client.get("/v1/journal-entries", token=laptop).status == 200
    answer = client.get("/v1/journal-entries", token=phone)
    assert (answer.status, answer.json["code"]) == (401, "token_revoked")
    # A token issued at the new epoch (the next login on the phone) is fine.
    fresh = session_token(family="phone-2", epoch=1)
    assert client.get("/v1/journal-entries", token=fresh).status == 200


def test_an_ended_session_refuses_all_its_tokens_and_only_them(
    client: RouterClient, states: InMemoryAccessStates
) -> None:
    first, second = session_token(family="fam-1"), session_token(family="fam-1")
    other = session_token(family="fam-2")
    states.end_session("u-9", "fam-1", until=2**31 - 1)

    for ended in (first, second):
        answer = client.get("/v1/journal-entries", token=ended)
        assert (answer.status, answer.json["code"]) == (401, "token_revoked")
    assert client.get("/v1/journal-entries", token=other).status == 200


def test_a_token_without_a_stored_user_or_of_another_tenant_is_refused(
    client: RouterClient, states: InMemoryAccessStates
) -> None:
    stranger = make_issuer(KEYS).issue_access(user_id="u-404", tenant_id="t-9", role="owner")
    answer = client.get("/v1/journal-entries", token=stranger.token)
    assert (answer.status, answer.json["code"]) == (401, "token_revoked")

    stored(states, tenant_id="t-other")
    answer = client.get("/v1/journal-entries", token=session_token())
    assert (answer.status, answer.json["code"]) == (401, "token_revoked")


class _BrokenStates:
    def get(self, user_id: str) -> AccessState | None:
        raise ConnectionError("firestore unreachable")

    def end_session(self, user_id: str, family_id: str, *, until: int) -> None:
        raise ConnectionError("firestore unreachable")


def test_an_unreadable_access_state_fails_closed_with_503(
    revocations: InMemoryRevocationStore,
) -> None:
    router = Router(
        "auth_test",
        authenticator=BearerAuthenticator(make_verifier(KEYS, revocations), _BrokenStates()),
    )

    @router.get("/v1/journal-entries", permission="journal:read")
    def list_entries(ctx: RequestContext) -> dict[str, Any]:
        raise AssertionError("the handler must not run")

    answer = RouterClient(router).get("/v1/journal-entries", token=session_token())
    assert (answer.status, answer.json["code"]) == (503, "auth_unavailable")


def test_context_from_claims_takes_the_stored_role() -> None:
    claims = make_issuer(KEYS).issue_access(user_id="u-1", tenant_id="t-1", role="owner").claims
    ctx = AuthContext.from_claims(claims, role="viewer")
    assert ctx.role == "viewer" and ctx.permissions == permissions_for("viewer")
