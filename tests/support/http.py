"""Calling a function's Router in-process, as functions-framework would, for tests."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from shared import errors
from shared.http import Authenticator, RequestContext, Router

REPO_ROOT = Path(__file__).resolve().parents[2]


def load_function(name: str) -> ModuleType:
    """Import ``functions/<name>/main.py`` under a unique module name (no cross-imports)."""
    module_name = f"tributum_function_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = REPO_ROOT / "functions" / name / "main.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Principal:
    user_id: str
    tenant_id: str
    role: str
    permissions: frozenset[str]


class StaticAuthenticator(Authenticator):
    """Bearer tokens mapped to principals: for testing adapters without the identity stack."""

    def __init__(self, principals: dict[str, Principal]) -> None:
        self.principals = principals

    def authenticate(self, ctx: RequestContext) -> Principal:
        header = ctx.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        if token not in self.principals:
            raise errors.UnauthorizedError("invalid token", code="token_invalid")
        return self.principals[token]

    def authorize(self, principal: Any, permission: str) -> None:
        if permission not in principal.permissions:
            raise errors.ForbiddenError(f"missing permission {permission}")


@dataclass
class Answer:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    @property
    def data(self) -> Any:
        return self.json["data"]


class RouterClient:
    def __init__(self, router: Router) -> None:
        def app(environ: Any, start_response: Any) -> Any:
            response: Response = router.handler(Request(environ))
            return response(environ, start_response)

        self._client = Client(app)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
    ) -> Answer:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        body = data
        if json is not None:
            body = orjson.dumps(json)
            all_headers.setdefault("Content-Type", "application/json")
        response = self._client.open(
            path, method=method, data=body, headers=all_headers, query_string=query
        )
        return Answer(response.status_code, response.headers, response.get_data())

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Answer:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Answer:
        return self.request("PATCH", path, **kwargs)
