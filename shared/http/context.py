"""What the router hands to the code around a route: the route, the request context, and
the contract an authenticator fulfils.

These live apart from ``shared.http.router`` so that the modules the router calls (the
identity layer's authenticator, the idempotency step, the OpenAPI builder) can name them
without importing the router back. ``shared.http`` and ``shared.http.router`` re-export
them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from shared import errors
from shared.http._routing import PathTemplate
from shared.identity.actor import Actor

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

AuthMode = Literal["public", "token"]
IdempotencyMode = Literal["required", "optional"] | None
Handler = Callable[["RequestContext"], Any]


class Authenticator:
    """Turns a request's credentials into a principal; the identity layer provides one."""

    def authenticate(self, ctx: RequestContext) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def authorize(self, principal: Any, permission: str) -> None:  # pragma: no cover
        raise NotImplementedError


@dataclass(slots=True)
class RequestContext:
    request: Request
    method: str
    path: str
    route: Route
    correlation_id: str
    path_params: dict[str, str]
    client_ip: str | None
    raw_body: bytes = b""
    body: Any = None
    query: Any = None
    params: Any = None
    principal: Any = None
    idempotency_key: str | None = None

    @property
    def headers(self) -> Mapping[str, str]:
        return self.request.headers  # type: ignore[return-value]

    @property
    def tenant_id(self) -> str:
        """The tenant of the authenticated principal: the only source of tenancy."""
        if self.principal is None:
            raise errors.UnauthorizedError("authentication required", code="token_missing")
        return str(self.principal.tenant_id)

    @property
    def actor(self) -> Actor:
        """Who is acting: the principal's user or API key (``Actor.to_audit()`` for records)."""
        if self.principal is None:
            raise errors.UnauthorizedError("authentication required", code="token_missing")
        return Actor.from_principal(self.principal)


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: PathTemplate
    handler: Handler
    auth: AuthMode
    permission: str | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    params: type[BaseModel] | None
    response: Any
    status: int
    idempotency: IdempotencyMode
    summary: str
    description: str
    tags: tuple[str, ...]
    before: tuple[Callable[[RequestContext], None], ...]
    # False: the data is the whole body (documents others fetch as they are, e.g. a JWKS).
    envelope: bool = True
    # Error statuses the handler itself answers with beyond those the route's shape
    # implies (see shared.http._openapi.error_statuses), e.g. a 401 from a login.
    raises: tuple[int, ...] = ()

    @property
    def path(self) -> str:
        return self.template.template

    @property
    def operation_id(self) -> str:
        return self.handler.__name__
