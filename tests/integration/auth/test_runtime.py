"""The instance singletons end to end: local secrets, sessions, and the router's default
authenticator verifying what the session service issued against the user's access state."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.auth import AccessState, KeySet
from shared.auth.runtime import (
    SIGNING_KEYS_SECRET,
    password_hasher,
    password_policy,
    reset_auth_runtime,
    session_service,
    token_verifier,
)
from shared.clients import reset_clients
from shared.config import reset_settings
from shared.http import RequestContext, Router
from tests.integration.auth.support import store_state
from tests.support.http import RouterClient


@pytest.fixture
def local_secrets(
    firestore_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    directory = tmp_path / "secrets"
    monkeypatch.setenv("TRIBUTUM_SECRETS__BACKEND", "local")
    monkeypatch.setenv("TRIBUTUM_SECRETS__LOCAL_DIR", str(directory))
    monkeypatch.setenv("TRIBUTUM_AUTH__PASSWORD_MIN_LENGTH", "14")
    monkeypatch.delenv("TRIBUTUM_SECRET_JWT_SIGNING_KEYS", raising=False)
    reset_settings()
    reset_clients()
    reset_auth_runtime()
    yield directory
    reset_auth_runtime()
    reset_settings()


def test_session_tokens_pass_the_routers_default_authenticator(
    local_secrets: Path, credentials_client: Any
) -> None:
    router = Router("runtime_probe")  # no authenticator given: the router builds the default

    @router.get("/v1/whoami", permission="users:read_self")
    def whoami(ctx: RequestContext) -> dict[str, Any]:
        return {"user_id": ctx.principal.user_id, "role": ctx.principal.role}

    store_state(credentials_client, AccessState(user_id="u-7", tenant_id="t-7", role="viewer"))
    pair = session_service().start(user_id="u-7", tenant_id="t-7", role="viewer")
    answer = RouterClient(router).get("/v1/whoami", token=pair.access.token)
    assert answer.status == 200, answer.json
    assert answer.data == {"user_id": "u-7", "role": "viewer"}

    # A user the access states do not know holds nothing, whatever the token says.
    stranger = session_service().start(user_id="u-8", tenant_id="t-7", role="owner")
    refused = RouterClient(router).get("/v1/whoami", token=stranger.access.token)
    assert (refused.status, refused.json["code"]) == (401, "token_revoked")

    key_file = local_secrets / SIGNING_KEYS_SECRET
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    published = token_verifier().jwks()["keys"]
    assert [k["kid"] for k in published] == [
        k.kid for k in KeySet.from_secret(key_file.read_text()).keys
    ]


def test_instances_share_objects_and_settings(local_secrets: Path) -> None:
    assert session_service() is session_service()
    assert password_hasher() is password_hasher()
    assert password_policy().min_length == 14
