"""limit_route: a per-route limiter any function adds as a Router ``before`` hook."""

from __future__ import annotations

import orjson
import pytest

from shared.http import RequestContext, Router
from shared.ratelimit import RateLimit, TokenBucketLimiter, limit_route
from tests.support.http import Principal, RouterClient, StaticAuthenticator


def _router(per: str, limit: int = 2) -> tuple[Router, list[str]]:
    calls: list[str] = []
    limiter = TokenBucketLimiter(RateLimit(limit=limit, window_seconds=60))
    router = Router(
        "limited",
        authenticator=StaticAuthenticator(
            {
                "a1": Principal("u-1", "t-a", "owner", frozenset({"tax:read"})),
                "a2": Principal("u-2", "t-a", "owner", frozenset({"tax:read"})),
                "b1": Principal("u-3", "t-b", "owner", frozenset({"tax:read"})),
            }
        ),
    )

    @router.get("/v1/things", permission="tax:read", before=[limit_route(limiter, per=per)])  # type: ignore[arg-type]
    def things(ctx: RequestContext) -> dict[str, str]:
        calls.append(str(ctx.principal.user_id))
        return {}

    return router, calls


def test_a_tenant_over_its_limit_gets_429_and_the_handler_never_runs() -> None:
    router, calls = _router("tenant")
    client = RouterClient(router)
    assert [client.get("/v1/things", token=t).status for t in ("a1", "a2")] == [200, 200]
    refused = client.get("/v1/things", token="a1")
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert orjson.loads(refused.body)["code"] == "rate_limited"
    assert calls == ["u-1", "u-2"]
    # Another tenant has its own budget.
    assert client.get("/v1/things", token="b1").status == 200


def test_per_user_counts_each_user() -> None:
    router, calls = _router("user", limit=1)
    client = RouterClient(router)
    assert client.get("/v1/things", token="a1").status == 200
    assert client.get("/v1/things", token="a2").status == 200
    assert client.get("/v1/things", token="a1").status == 429
    assert calls == ["u-1", "u-2"]


@pytest.mark.parametrize("per", ["tenant", "user"])
def test_a_token_key_on_a_public_route_is_a_programming_error(per: str) -> None:
    limiter = TokenBucketLimiter(RateLimit(limit=1, window_seconds=60))
    router = Router("public")

    @router.get("/v1/open", auth="public", before=[limit_route(limiter, per=per)])  # type: ignore[arg-type]
    def open_route(ctx: RequestContext) -> dict[str, str]:
        return {}

    assert RouterClient(router).get("/v1/open").status == 500
