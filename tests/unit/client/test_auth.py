"""Credentials: API keys and tokens as bearer tokens, refreshed before they expire."""

from __future__ import annotations

import httpx
import pytest

from shared.client import AuthenticationError
from shared.client._session import REFRESH_MARGIN_SECONDS
from tests.unit.client.support import (
    FakeApi,
    Responder,
    answer,
    envelope,
    problem,
    token_pair,
)


def _by_path(routes: dict[str, list[httpx.Response]]) -> Responder:
    """Answer each path with its next scripted response."""

    def respond(request: httpx.Request) -> httpx.Response:
        queue = routes[request.url.path]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return respond


def test_an_api_key_is_sent_as_a_bearer_token() -> None:
    api = FakeApi([answer(envelope({"id": "u-1"}))])
    api.client(api_key="tbk_live_123").get_me()
    assert api.requests[0].headers["Authorization"] == "Bearer tbk_live_123"


def test_an_api_key_and_an_access_token_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        FakeApi([]).client(api_key="a", access_token="b")


def test_log_in_keeps_the_pair_and_sends_its_access_token() -> None:
    api = FakeApi(
        [
            _by_path(
                {
                    "/v1/auth/token": [envelope(token_pair("access-1", "refresh-1"))],
                    "/v1/users/me": [envelope({"id": "u-1"})],
                }
            )
        ]
    )
    client = api.client()
    pair = client.log_in("ada@example.com", "violet kayak ledger 42")
    client.get_me()

    login, me = api.requests
    assert pair["access_token"] == "access-1"
    assert "Authorization" not in login.headers
    assert api.body(0) == {"email": "ada@example.com", "password": "violet kayak ledger 42"}
    assert me.headers["Authorization"] == "Bearer access-1"


def test_the_access_token_is_refreshed_before_it_expires() -> None:
    api = FakeApi(
        [
            _by_path(
                {
                    "/v1/auth/token": [envelope(token_pair("access-1", "refresh-1", 900))],
                    "/v1/auth/refresh": [envelope(token_pair("access-2", "refresh-2", 900))],
                    "/v1/users/me": [envelope({"id": "u-1"})],
                }
            )
        ]
    )
    client = api.client()
    client.log_in("ada@example.com", "pw")
    api.now += 900 - REFRESH_MARGIN_SECONDS - 1
    client.get_me()  # still fresh enough
    api.now += 2
    client.get_me()  # inside the margin: refreshed first
    api.now += 100
    client.get_me()  # the new token is fresh

    paths = [r.url.path for r in api.requests]
    assert paths == [
        "/v1/auth/token",
        "/v1/users/me",
        "/v1/auth/refresh",
        "/v1/users/me",
        "/v1/users/me",
    ]
    assert api.body(2) == {"refresh_token": "refresh-1"}
    assert "Authorization" not in api.requests[2].headers
    assert [r.headers["Authorization"] for r in api.requests[3:]] == ["Bearer access-2"] * 2


def test_a_refused_token_is_refreshed_once_and_the_request_resent_with_its_key() -> None:
    api = FakeApi(
        [
            _by_path(
                {
                    "/v1/auth/token": [envelope(token_pair("access-1", "refresh-1"))],
                    "/v1/auth/refresh": [envelope(token_pair("access-2", "refresh-2"))],
                    "/v1/payments": [
                        problem(401, "invalid_token"),
                        envelope({"id": "pay-1"}, status=202),
                    ],
                }
            )
        ]
    )
    client = api.client()
    client.log_in("ada@example.com", "pw")
    payment = client.create_payment({"amount": "10.00"})

    first, second = (r for r in api.requests if r.url.path == "/v1/payments")
    assert payment == {"id": "pay-1"}
    assert first.headers["Authorization"] == "Bearer access-1"
    assert second.headers["Authorization"] == "Bearer access-2"
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]


def test_a_token_refused_again_after_the_refresh_raises() -> None:
    api = FakeApi(
        [
            _by_path(
                {
                    "/v1/auth/token": [envelope(token_pair("access-1", "refresh-1"))],
                    "/v1/auth/refresh": [envelope(token_pair("access-2", "refresh-2"))],
                    "/v1/users/me": [problem(401, "invalid_token")],
                }
            )
        ]
    )
    client = api.client()
    client.log_in("ada@example.com", "pw")
    with pytest.raises(AuthenticationError):
        client.get_me()
    assert [r.url.path for r in api.requests].count("/v1/users/me") == 2


def test_an_expired_refresh_token_raises_authentication_error() -> None:
    api = FakeApi(
        [
            _by_path(
                {
                    "/v1/auth/token": [envelope(token_pair("access-1", "refresh-1", 60))],
                    "/v1/auth/refresh": [problem(401, "invalid_refresh_token")],
                }
            )
        ]
    )
    client = api.client()
    client.log_in("ada@example.com", "pw")
    api.now += 60
    with pytest.raises(AuthenticationError) as raised:
        client.get_me()
    assert raised.value.code == "invalid_refresh_token"


def test_an_api_key_refused_is_not_retried() -> None:
    api = FakeApi([answer(problem(401, "invalid_api_key"))])
    with pytest.raises(AuthenticationError):
        api.client(api_key="revoked").get_me()
    assert len(api.requests) == 1


def test_log_out_forgets_the_tokens() -> None:
    api = FakeApi(
        [
            _by_path(
                {
                    "/v1/auth/token": [envelope(token_pair("access-1", "refresh-1"))],
                    "/v1/auth/logout": [httpx.Response(204)],
                    "/v1/users/me": [problem(401, "missing_credentials")],
                }
            )
        ]
    )
    client = api.client()
    client.log_in("ada@example.com", "pw")
    client.log_out()
    with pytest.raises(AuthenticationError):
        client.get_me()
    assert "Authorization" not in api.requests[-1].headers
    with pytest.raises(ValueError, match="log in first"):
        client.refresh_tokens()
