"""A scripted API behind httpx's MockTransport, recording every request."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.client import Tributum

BASE_URL = "http://api.test"
Responder = Callable[[httpx.Request], httpx.Response]


def envelope(data: Any, status: int = 200, next_cursor: str | None = None) -> httpx.Response:
    meta: dict[str, Any] = {"correlation_id": "c-1"}
    if next_cursor is not None:
        meta["next_cursor"] = next_cursor
    return httpx.Response(status, json={"data": data, "meta": meta})


def problem(
    status: int,
    code: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    document: dict[str, Any] = {
        "type": f"https://tributum.dev/problems/{code}",
        "title": "Refused",
        "status": status,
        "detail": f"refused: {code}",
        "code": code,
        "correlation_id": "corr-42",
    }
    if errors is not None:
        document["errors"] = errors
    return httpx.Response(
        status,
        content=json.dumps(document).encode(),
        headers={"Content-Type": "application/problem+json", **(headers or {})},
    )


def token_pair(access: str, refresh: str, expires_in: int = 900) -> dict[str, Any]:
    return {
        "token_type": "Bearer",
        "access_token": access,
        "expires_in": expires_in,
        "refresh_token": refresh,
        "refresh_expires_in": 604800,
    }


@dataclass
class FakeApi:
    """Answers each request with the next scripted responder (the last one repeats)."""

    responders: list[Responder]
    requests: list[httpx.Request] = field(default_factory=list)
    now: float = 1000.0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        responder = self.responders.pop(0) if len(self.responders) > 1 else self.responders[0]
        return responder(request)

    def client(self, **options: Any) -> Tributum:
        return Tributum(
            BASE_URL, transport=httpx.MockTransport(self.handle), clock=lambda: self.now, **options
        )

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


def answer(response: httpx.Response) -> Responder:
    return lambda _request: response
