"""A per-route limiter for any function: a ``before`` hook of ``shared.http.Router``.

    burst = TokenBucketLimiter(RateLimit(limit=20, window_seconds=1))

    @router.post("/v1/tax/calculations", ..., before=[limit_route(burst, per="tenant")])

The hook runs after authentication, so ``per="tenant"`` and ``per="user"`` count the
token's tenant or user; ``per="client"`` counts the caller's address (for public
routes). Over the limit the request is a 429 with ``Retry-After`` and the handler
never runs. The key includes the route, so one limiter can serve several routes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from shared.ratelimit.base import RateLimiter

if TYPE_CHECKING:
    from shared.http import RequestContext

Per = Literal["tenant", "user", "client"]


def limit_route(
    limiter: RateLimiter, *, per: Per, cost: int = 1
) -> Callable[[RequestContext], None]:
    def before(ctx: RequestContext) -> None:
        who: str | None
        if per == "client":
            who = ctx.client_ip or "unknown"
        else:
            who = getattr(ctx.principal, "tenant_id" if per == "tenant" else "user_id", None)
            if not who:
                raise ValueError(f"limit_route(per={per!r}) needs a token route")
        limiter.hit(f"{ctx.method} {ctx.route.path}|{per}:{who}", cost=cost)

    return before
