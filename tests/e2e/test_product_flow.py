"""The real system, as `make up` runs it: one client's journey through the gateway.

A stack of the real manifest (every function in functions/) runs beside the test
stack on its own project id and ports. A client signs up, gets tokens, opens
accounts, posts a journal entry, pays, and reads the audit trail; background
functions (projection, payment processing, audit writer) run by Pub/Sub push.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.conftest import (
    REPO_ROOT,
    Reply,
    StackHandle,
    bring_down,
    bring_up,
    http,
    primary_stack,
    shifted_stack,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def product() -> Iterator[StackHandle]:
    base = shifted_stack(primary_stack(), 3, "product")
    handle = StackHandle(
        project_id=base.project_id,
        gateway_port=base.gateway_port,
        firestore_port=base.firestore_port,
        pubsub_port=base.pubsub_port,
        functions_base_port=base.functions_base_port,
        manifest=REPO_ROOT / "functions" / "manifest.yaml",
    )
    bring_up(handle)
    try:
        yield handle
    finally:
        bring_down(handle)


class Client:
    """A JSON client of the gateway, with a bearer token once it has one."""

    def __init__(self, stack: StackHandle) -> None:
        self.base = stack.gateway_url
        self.token: str | None = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        idempotency_key: str | None = None,
        token: str | None = None,
    ) -> Reply:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        bearer = token or self.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        data = json.dumps(body).encode() if body is not None else None
        return http(method, f"{self.base}{path}", headers=headers, body=data, timeout=60)

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        reply = self.call(method, path, body, **kwargs)
        assert 200 <= reply.status < 300, f"{method} {path}: {reply.status} {reply.body!r}"
        return reply.json()["data"] if reply.body else None


def _signup(client: Client) -> dict[str, Any]:
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct horse battery staple"
    user = client.ok(
        "POST", "/v1/signup", {"email": email, "password": password, "name": "Ada Owner"}
    )
    tokens = client.ok("POST", "/v1/auth/token", {"email": email, "password": password})
    client.token = tokens["access_token"]
    return {"user": user, "tokens": tokens, "email": email, "password": password}
