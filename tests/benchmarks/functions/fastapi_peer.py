"""The peer of the shared HTTP stack: the same routes and contract as a FastAPI app.

bench_platform.py serves it with uvicorn (uvloop, httptools, one worker) and loads it
exactly as it loads the shared stack. For every request it does what the shared Router
does for these routes: a correlation id taken from ``X-Correlation-ID`` when well formed
(else a new one) and returned in the same header and in the envelope's meta, trace ids
from ``traceparent`` / ``X-Cloud-Trace-Context`` bound into the log context, the same
seven security headers, strict pydantic validation of the same request model, orjson
responses in a ``{"data", "meta"}`` envelope, RFC 9457 problem documents for errors,
and one structlog JSON access-log line (Cloud Logging field names, sensitive keys
redacted at any depth). Written as a FastAPI service would be for speed: a pure ASGI
middleware (no BaseHTTPMiddleware), async endpoints, responses rendered by orjson.
It imports nothing from ``shared``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import orjson
import structlog
from bench_models import Liveness, Ok, PostEntry, posted
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, clear_contextvars
from structlog.typing import EventDict

PROJECT_ID = "demo-tributum-bench"
PROBLEM_CONTENT_TYPE = "application/problem+json"
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/([0-9]+))?")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

# -- logging: structlog JSON, redacted, in Cloud Logging's field names ---------------------------

_SENSITIVE = re.compile(
    r"password|passwd|passphrase|secret|token|authorization|cookie|api_?key|private_?key"
    r"|credential|card_?number|iban|social_security|tax_id_full|signature"
    r"|(?:^|_)(?:pan|otp|pin|ssn|cvv|cvc)(?:_|$)"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@lru_cache(maxsize=4096)
def is_sensitive(key: str) -> bool:
    return _SENSITIVE.search(_CAMEL.sub("_", key).lower().replace("-", "_")) is not None


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "[REDACTED]" if isinstance(k, str) and is_sensitive(k) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def _redact(_: Any, __: str, event_dict: EventDict) -> EventDict:
    return redact(event_dict)  # type: ignore[no-any-return]


def _cloud_logging_shape(_: Any, __: str, event_dict: EventDict) -> EventDict:
    event_dict["severity"] = event_dict.pop("level", "info").upper()
    event_dict["message"] = event_dict.pop("event", "")
    event_dict["time"] = event_dict.pop("timestamp", None)
    trace = event_dict.pop("trace_id", None)
    if trace:
        event_dict["logging.googleapis.com/trace"] = f"projects/{PROJECT_ID}/traces/{trace}"
    span = event_dict.pop("span_id", None)
    if span:
        event_dict["logging.googleapis.com/spanId"] = span
    event_dict["logging.googleapis.com/labels"] = {"function": "bench_peer"}
    return event_dict


structlog.configure(
    processors=[
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
        _cloud_logging_shape,
        structlog.processors.JSONRenderer(serializer=lambda d, **_: orjson.dumps(d, default=str)),
    ],
    wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    logger_factory=structlog.BytesLoggerFactory(),  # sys.stdout's buffer, flushed per line
    cache_logger_on_first_use=True,
)
log = structlog.get_logger("peer")

# -- the request's correlation id, trace and access-log line -------------------------------------

correlation_id_var: ContextVar[str] = ContextVar("correlation_id", default="")


def _trace(traceparent: str, cloud_trace: str) -> tuple[str | None, str | None]:
    if traceparent:
        match = _TRACEPARENT.match(traceparent.strip().lower())
        if match and match.group(1) != "0" * 32:
            return match.group(1), match.group(2)
    if cloud_trace:
        match = _CLOUD_TRACE.match(cloud_trace.strip())
        if match:
            span = match.group(2)
            return match.group(1).lower(), (f"{int(span):016x}" if span else None)
    return None, None


class PlatformMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = traceparent = cloud_trace = ""
        for name, value in scope["headers"]:
            if name == b"x-correlation-id":
                incoming = value.decode("latin-1")
            elif name == b"traceparent":
                traceparent = value.decode("latin-1")
            elif name == b"x-cloud-trace-context":
                cloud_trace = value.decode("latin-1")
        correlation_id = incoming if _CORRELATION_ID.fullmatch(incoming) else str(uuid.uuid4())
        correlation_id_var.set(correlation_id)
        trace_id, span_id = _trace(traceparent, cloud_trace)
        clear_contextvars()
        bind_contextvars(
            **{
                k: v
                for k, v in (
                    ("correlation_id", correlation_id),
                    ("trace_id", trace_id),
                    ("span_id", span_id),
                )
                if v is not None
            }
        )
        status = 500
        correlation_header = (b"x-correlation-id", correlation_id.encode())

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    *SECURITY_HEADERS,
                    correlation_header,
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            (log.error if status >= 500 else log.info)(
                "http.request",
                method=scope["method"],
                path=scope["path"],
                route=getattr(route, "path", "unmatched"),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )


# -- the app -------------------------------------------------------------------------------------


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def envelope(data: Any, status: int = 200) -> Response:
    return OrjsonResponse(
        {"data": data, "meta": {"correlation_id": correlation_id_var.get()}}, status
    )


def problem(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
) -> Response:
    document: dict[str, Any] = {
        "type": f"https://tributum.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "correlation_id": correlation_id_var.get(),
        "instance": request.url.path,
    }
    if errors:
        document["errors"] = errors
    return Response(orjson.dumps(document), status, media_type=PROBLEM_CONTENT_TYPE)


app = FastAPI(title="bench_peer")
app.add_middleware(PlatformMiddleware)


@app.exception_handler(RequestValidationError)
async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
    errors = [
        {
            "field": ".".join(str(part) for part in error["loc"] if part != "body") or "body",
            "message": error["msg"],
            "code": error["type"],
        }
        for error in exc.errors()
    ]
    return problem(
        request, 422, "validation_error", "Invalid request", "the request body is invalid", errors
    )


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    code = re.sub(r"[^a-z0-9]+", "_", str(exc.detail).lower()).strip("_") or "error"
    return problem(request, exc.status_code, code, str(exc.detail), str(exc.detail))


@app.get("/v1/health/live")
async def live() -> Response:
    return envelope(Liveness(status="alive").model_dump(mode="json"))


@app.get("/v1/bench/noop")
async def noop() -> Response:
    return envelope(Ok(ok=True).model_dump(mode="json"))


@app.post("/v1/bench/entries")
async def post_entry(body: PostEntry) -> Response:
    return envelope(posted(body).model_dump(mode="json"), 201)
