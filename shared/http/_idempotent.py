"""Idempotency-Key handling for money-moving routes (the HTTP contract in the README).

The key is scoped by tenant and route; the first execution's status, body and
headers are stored and replayed with ``Idempotent-Replayed: true``; the same key
with another payload is refused; a failed execution (5xx or exception) releases
the key so that a retry runs again.

A step of the router's pipeline: it receives the steps it wraps (``execute``, the rest
of the request, and ``problem``, the router's problem-document encoder) rather than
the router itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from werkzeug.wrappers import Response as WerkzeugResponse

from shared import errors
from shared.clients import firestore_client

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.http.context import RequestContext

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Headers worth replaying; security and CORS headers are set again on every response.
_STORED_HEADERS = ("Content-Type", "Location", "Retry-After")

# The rest of the request after this step: validation, the handler, the encoding.
Execute = Callable[["RequestContext"], WerkzeugResponse]
# A problem document for an error, as (error, correlation id, instance) -> response.
Problem = Callable[[errors.AppError, str, str], WerkzeugResponse]


def run_idempotent(
    ctx: RequestContext, settings: Settings, execute: Execute, problem: Problem
) -> WerkzeugResponse:
    from shared.idempotency import IdempotencyStore, request_fingerprint

    key = ctx.request.headers.get(HEADER)
    if key is None:
        if ctx.route.idempotency == "required":
            raise errors.ValidationError.for_field(
                HEADER, "this request moves money and needs an Idempotency-Key header", "missing"
            )
        return execute(ctx)
    ctx.idempotency_key = key
    tenant = getattr(ctx.principal, "tenant_id", None) or "public"
    scope = f"{tenant}:{ctx.method} {ctx.route.path}"
    fingerprint = request_fingerprint(ctx.method, ctx.path, ctx.raw_body)
    store = IdempotencyStore(firestore_client(), settings.idempotency)
    claim = store.begin(scope, key, fingerprint)
    if claim.replay is not None:
        stored = claim.replay
        response = WerkzeugResponse(stored.body, status=stored.status)
        for name, value in stored.headers.items():
            response.headers[name] = value
        response.headers[REPLAYED_HEADER] = "true"
        return response
    try:
        response = execute(ctx)
    except errors.AppError as exc:
        if exc.status >= 500:
            store.release(claim)
            raise
        refusal = problem(exc, ctx.correlation_id, ctx.path)
        store.complete(claim, refusal.status_code, refusal.get_data(), _kept_headers(refusal))
        return refusal
    except BaseException:
        store.release(claim)
        raise
    if response.status_code >= 500:
        store.release(claim)
    else:
        store.complete(claim, response.status_code, response.get_data(), _kept_headers(response))
    return response


def _kept_headers(response: WerkzeugResponse) -> dict[str, str]:
    return {name: response.headers[name] for name in _STORED_HEADERS if name in response.headers}
