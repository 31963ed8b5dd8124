"""The HTTP layer under every method: URLs, credentials, idempotency keys, answers."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from shared.client._errors import AuthenticationError, raise_for_problem
from shared.client._operations import OPERATIONS, Operation
from shared.client._pagination import JSONObject, Page
from shared.client._session import TokenSession

QueryValue = str | int | bool | date | datetime | None
USER_AGENT = "tributum-python/0.1"
DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class _Reply:
    data: Any
    meta: JSONObject = field(default_factory=dict)


def _json_default(value: object) -> str:
    """Money as a decimal string (never a float); dates and datetimes in ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _query_value(value: str | int | bool | date | datetime) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def expand_path(template: str, values: Mapping[str, str]) -> str:
    """The path with each ``{name}`` replaced by its value, escaped as one segment."""
    path = template
    for name, value in values.items():
        if not value:
            raise ValueError(f"{name} is empty")
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    if "{" in path:
        raise ValueError(f"{template} needs a value for each of its parameters")
    return path


class ClientCore:
    """Credentials and the request cycle; the API's methods live in the mixins."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        access_token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        new_idempotency_key: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        """``api_key`` (an API key) or ``access_token`` (a token obtained elsewhere) is
        sent as ``Authorization: Bearer``; without either, :meth:`log_in` first."""
        if api_key is not None and access_token is not None:
            raise ValueError("pass api_key or access_token, not both")
        self._bearer = api_key if api_key is not None else access_token
        self._session: TokenSession | None = None
        self._session_lock = threading.Lock()
        self._clock = clock
        self._new_idempotency_key = new_idempotency_key
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ClientCore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- credentials ---------------------------------------------------------------------

    def _start_session(self, pair: Mapping[str, Any]) -> None:
        self._session = TokenSession.from_pair(pair, self._clock())
        self._bearer = None

    def _refresh_session(self, stale: TokenSession) -> None:
        """Trade the refresh token for a new pair, once even when threads race here."""
        with self._session_lock:
            if self._session is not stale:  # another thread refreshed it meanwhile
                return
            reply = self._send(
                OPERATIONS["refresh_tokens"],
                "/v1/auth/refresh",
                body={"refresh_token": stale.refresh_token},
            )
            self._start_session(reply.data)

    def _authorization(self) -> tuple[str | None, TokenSession | None]:
        session = self._session
        if session is not None and session.needs_refresh(self._clock()):
            self._refresh_session(session)
            session = self._session
        if session is not None:
            return f"Bearer {session.access_token}", session
        return (f"Bearer {self._bearer}" if self._bearer else None), None

    # -- the request cycle ---------------------------------------------------------------

    def _call(
        self,
        name: str,
        *,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, QueryValue] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str | None] | None = None,
    ) -> _Reply:
        operation = OPERATIONS[name]
        url = expand_path(operation.path, path or {})
        extra = {k: v for k, v in (headers or {}).items() if v is not None}
        if operation.idempotent:
            extra["Idempotency-Key"] = idempotency_key or self._new_idempotency_key()
        if not operation.auth:
            return self._send(operation, url, query=query, body=body, headers=extra)
        authorization, session = self._authorization()
        try:
            return self._send(
                operation, url, query=query, body=body, headers=extra, authorization=authorization
            )
        except AuthenticationError:
            # An access token refused before it expired (revoked, or the clocks disagree):
            # refresh once and resend, with the same idempotency key.
            if session is None:
                raise
        self._refresh_session(session)
        authorization, _ = self._authorization()
        return self._send(
            operation, url, query=query, body=body, headers=extra, authorization=authorization
        )

    def _send(
        self,
        operation: Operation,
        url: str,
        *,
        query: Mapping[str, QueryValue] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        authorization: str | None = None,
    ) -> _Reply:
        request_headers = dict(headers or {})
        if authorization is not None:
            request_headers["Authorization"] = authorization
        content = None
        if body is not None:
            content = json.dumps(body, default=_json_default).encode()
            request_headers["Content-Type"] = "application/json"
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        response = self._http.request(
            operation.method, url, params=params, content=content, headers=request_headers
        )
        raise_for_problem(response)
        if response.status_code == 204 or not response.content:
            return _Reply(None)
        if not operation.envelope and "json" not in response.headers.get("Content-Type", ""):
            return _Reply(response.text)  # an export (CSV, JSON Lines): the body as text
        document = response.json()
        if not operation.envelope:
            return _Reply(document)
        return _Reply(document["data"], document.get("meta") or {})

    # -- typed answers -------------------------------------------------------------------

    def _object(self, name: str, **call: Any) -> JSONObject:
        data: JSONObject = self._call(name, **call).data
        return data

    def _text(self, name: str, **call: Any) -> str:
        """An operation whose answer is a document served as text (an export)."""
        return str(self._call(name, **call).data)

    def _objects(self, name: str, **call: Any) -> list[JSONObject]:
        data: list[JSONObject] = self._call(name, **call).data
        return data

    def _page(self, name: str, **call: Any) -> Page:
        reply = self._call(name, **call)
        return Page(items=reply.data, next_cursor=reply.meta.get("next_cursor"))

    def _nothing(self, name: str, **call: Any) -> None:
        self._call(name, **call)
