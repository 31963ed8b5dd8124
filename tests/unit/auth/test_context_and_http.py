"""AuthContext/authorize, and BearerAuthenticator behind the real HTTP router."""

from __future__ import annotations

from typing import Any

import pytest

from shared.auth import AuthContext, InMemoryRevocationStore, authorize, revoke_token
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
def client(revocations: InMemoryRevocationStore) -> RouterClient:
    router = Router(
        "auth_test", authenticator=BearerAuthenticator(make_verifier(KEYS, revocations))
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
