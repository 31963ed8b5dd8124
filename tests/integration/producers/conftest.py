"""The producer_keys function in-process against the Firestore and Pub/Sub emulators."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.api_core.exceptions import AlreadyExists

from shared.auth.context import KeyPrincipal
from shared.auth.http import BearerAuthenticator
from shared.auth.tokens import TokenVerifier
from shared.clients import reset_clients
from shared.config import reset_settings
from shared.http import Authenticator, RequestContext
from shared.identity.roles import permissions_for
from shared.producers.http import KeyAuthenticator
from tests.support.http import Principal, RouterClient, StaticAuthenticator, load_function

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
PRINCIPALS = {
    role: Principal(f"u-{role}", TENANT, role, permissions_for(role))
    for role in ("owner", "admin", "accountant", "viewer")
} | {"other-admin": Principal("u-other", OTHER_TENANT, "admin", permissions_for("admin"))}


@pytest.fixture(autouse=True)
def platform(credentials_client: Any, emulators: Any, pubsub_publisher: Any) -> Iterator[Any]:
    """The credentials database, where keys and the audit events of their changes live."""
    reset_settings()
    reset_clients()
    with contextlib.suppress(AlreadyExists):
        pubsub_publisher.create_topic(
            name=pubsub_publisher.topic_path(emulators.project_id, "audit-events")
        )
    yield credentials_client
    reset_clients()
    reset_settings()


@pytest.fixture
def keys(platform: Any) -> RouterClient:
    module = load_function("producer_keys")
    module.router._authenticator = StaticAuthenticator(PRINCIPALS)
    return RouterClient(module.router)


class Clock:
    """The key authenticator's two clocks, moved by hand."""

    def __init__(self) -> None:
        self.wall = datetime.now(UTC)
        self.tick = 1_000.0

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.tick += seconds


class PeopleAndKeys(Authenticator):
    """People by static token, as the other tests here; keys through the real
    ``BearerAuthenticator`` and ``KeyAuthenticator`` over the emulator."""

    def __init__(self, people: StaticAuthenticator, keys: KeyAuthenticator) -> None:
        self.people = people

        def no_jwt() -> TokenVerifier:
            raise AssertionError("a key must never reach the JWT verifier")

        self.bearer = BearerAuthenticator(verifier=no_jwt, keys=keys)

    def authenticate(self, ctx: RequestContext) -> Any:
        token = ctx.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if token.startswith("trb_pk_"):
            return self.bearer.authenticate(ctx)
        return self.people.authenticate(ctx)

    def authorize(self, principal: Any, permission: str) -> None:
        if isinstance(principal, KeyPrincipal):
            self.bearer.authorize(principal, permission)
        else:
            self.people.authorize(principal, permission)


@dataclass
class KeyApi:
    client: RouterClient
    clock: Clock
    keys: KeyAuthenticator


@pytest.fixture
def api(platform: Any) -> Iterator[KeyApi]:
    """The producer_keys function accepting keys as well as people's tokens."""
    module = load_function("producer_keys")
    clock = Clock()
    keys = KeyAuthenticator(now=lambda: clock.wall, monotonic=lambda: clock.tick)
    module.router._authenticator = PeopleAndKeys(StaticAuthenticator(PRINCIPALS), keys)
    yield KeyApi(RouterClient(module.router), clock, keys)
    module.router._authenticator = StaticAuthenticator(PRINCIPALS)
