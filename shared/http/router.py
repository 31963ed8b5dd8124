"""A router for functions-framework HTTP functions.

One ``Router`` per function: it matches method + path, authenticates and
authorizes, enforces idempotency keys, decodes and validates the request,
calls the route's handler, and encodes the success envelope or an RFC 9457
problem document. It also sets correlation ids, security and CORS headers,
writes one access-log line per request, and generates the OpenAPI document
from the routes' models.

    router = Router("journal")

    @router.post("/v1/journal-entries", body=PostEntry, response=EntryOut, status=201,
                 permission="journal:post", idempotency="required")
    def post_entry(ctx: RequestContext) -> EntryOut: ...

    handle = router.handler          # the functions-framework target
"""

from __future__ import annotations

import dataclasses
import re
import sys
import time
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed as WerkzeugMethodNotAllowed
from werkzeug.wrappers import Response as WerkzeugResponse

from shared import errors
from shared.config import Settings, get_settings
from shared.http import _headers, _validation
from shared.http._routing import PathTemplate, RouteTable
from shared.http.context import Authenticator as Authenticator  # re-exported
from shared.http.context import AuthMode, Handler, IdempotencyMode
from shared.http.context import RequestContext as RequestContext
from shared.http.context import Route as Route
from shared.http.streaming import Stream
from shared.instance import per_instance
from shared.logger import (
    EXECUTION_ID_HEADER,
    bind_context,
    bind_request_context,
    get_logger,
    parse_trace_headers,
)
from shared.pagination import Page

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

JSON_CONTENT_TYPE = "application/json"
OPENAPI_PATH = "/_meta/openapi.json"
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(slots=True)
class Reply:
    """A handler's explicit answer: data plus status, headers and extra meta."""

    data: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def _default(value: Any) -> Any:
    """orjson fallback: Decimal as string (money is never a float), models as JSON."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):  # Firestore's DatetimeWithNanoseconds subclass
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


# Dataclasses go through `_default` so that their own `to_json()` decides their shape.
_DUMPS_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_DUMPS_OPTIONS)


class Router:
    def __init__(
        self,
        service: str,
        *,
        version: str = "1.0.0",
        authenticator: Authenticator | None = None,
    ) -> None:
        self.service = service
        self.version = version
        self._authenticator = authenticator
        self._table = RouteTable()
        self.routes: list[Route] = []
        self._settings: Settings | None = None
        self._log: Any = None
        self._entry_point: Callable[[Request], WerkzeugResponse] | None = None

    # -- registration ---------------------------------------------------------------------

    def route(
        self,
        method: str,
        path: str,
        *,
        auth: AuthMode = "token",
        permission: str | None = None,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        params: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        idempotency: IdempotencyMode = None,
        summary: str = "",
        tags: Iterable[str] = (),
        before: Iterable[Callable[[RequestContext], None]] = (),
        envelope: bool = True,
        raises: Iterable[int] = (),
    ) -> Callable[[Handler], Handler]:
        method = method.upper()
        if auth == "token" and permission is None:
            raise ValueError(f"{method} {path}: a token route must name its permission")
        if body is not None and method not in _METHODS_WITH_BODY:
            raise ValueError(f"{method} {path}: only POST, PUT and PATCH take a body")

        def register(handler: Handler) -> Handler:
            doc = (handler.__doc__ or "").strip()
            route = Route(
                method=method,
                template=PathTemplate.parse(path),
                handler=handler,
                auth=auth,
                permission=permission,
                body=body,
                query=query,
                params=params,
                response=response,
                status=status,
                idempotency=idempotency,
                summary=summary or (doc.splitlines()[0] if doc else handler.__name__),
                description=doc,
                tags=tuple(tags) or (self.service,),
                before=tuple(before),
                envelope=envelope,
                raises=tuple(sorted(set(raises))),
            )
            self._table.add(method, route.template, route)
            self.routes.append(route)
            return handler

        return register

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **options)

    def openapi(self) -> dict[str, Any]:
        from shared.http._openapi import build_openapi

        return build_openapi(self.service, self.version, self.routes)

    # -- serving --------------------------------------------------------------------------

    @property
    def handler(self) -> Callable[[Request], WerkzeugResponse]:
        """The functions-framework entry point (it must be a plain function).

        A function's module reads it at import, which functions-framework runs inside
        its Flask app's context: the app's own refusals (werkzeug's 404 for a path it
        cannot route, a 405, any HTTP error raised before this entry point runs) are
        then answered by this router too, as problem documents.
        """
        if self._entry_point is None:
            dispatch = self.dispatch

            def handle(request: Request) -> WerkzeugResponse:
                return dispatch(request)

            handle.__name__ = handle.__qualname__ = f"{self.service}_handler"
            self._entry_point = handle
        self._answer_framework_refusals()
        return self._entry_point

    def _answer_framework_refusals(self) -> None:
        flask = sys.modules.get("flask")  # loaded by functions-framework; never imported here
        if flask is None or not flask.has_app_context():
            return
        flask.current_app.register_error_handler(HTTPException, self._framework_refusal)
        # An exception that escapes the entry point (dispatch answers every one it sees;
        # this is for what fails before or after it, such as settings that do not load)
        # reaches functions-framework's handler for 500, which answers its text as
        # text/plain. This one, registered for the status code as that one was and so
        # in its place, answers a problem document and still marks the crash for the
        # platform's logs as functions-framework does.
        flask.current_app.register_error_handler(500, _crash_problem)

    def _framework_refusal(self, refusal: HTTPException) -> WerkzeugResponse:
        request = sys.modules["flask"].request
        error: errors.AppError
        if isinstance(refusal, WerkzeugMethodNotAllowed):
            error = errors.MethodNotAllowedError(list(refusal.valid_methods or ()))
        elif refusal.code == 404:
            error = errors.NotFoundError(f"no route for {request.path}", code="route_not_found")
        else:
            error = errors.ProtocolError(refusal.code or 500, refusal.description)

        def refuse(*_: Any) -> WerkzeugResponse:
            raise error

        return self._serve(request, refuse)

    def dispatch(self, request: Request) -> WerkzeugResponse:
        return self._serve(request, self._respond)

    def _serve(
        self,
        request: Request,
        respond: Callable[[Request, str, str | None, Settings, list[str]], WerkzeugResponse],
    ) -> WerkzeugResponse:
        """One request from start to end: context, answer or problem, headers, access log."""
        started = time.perf_counter()
        settings = self._settings or self._load_settings()
        incoming = request.headers.get("X-Correlation-ID", "")
        correlation_id = incoming if _CORRELATION_ID.fullmatch(incoming) else str(uuid.uuid4())
        trace_id, span_id = parse_trace_headers(request.headers)  # type: ignore[arg-type]
        bind_request_context(
            correlation_id=correlation_id,
            trace_id=trace_id,
            span_id=span_id,
            execution_id=request.headers.get(EXECUTION_ID_HEADER),
        )
        origin = request.headers.get("Origin")
        # Filled in by _respond as soon as a route matches, so a request the route then
        # rejects or fails on is still logged under its route.
        matched: list[str] = []
        try:
            response = respond(request, correlation_id, origin, settings, matched)
        except errors.AppError as exc:
            response = self._problem(exc, correlation_id, request.path)
            self._log_error(exc)
        except Exception as exc:
            self._log.exception("http.unhandled_exception", path=request.path)
            internal = errors.InternalError(
                "an unexpected error occurred; quote the correlation id when reporting it"
            )
            if settings.features.debug_errors:
                internal.extra["debug"] = {"exception": type(exc).__name__, "message": str(exc)}
            response = self._problem(internal, correlation_id, request.path)
        self._finish(response, correlation_id, origin, settings)
        # A 5xx is ours to look at, so it is an error even when the exception behind it
        # was logged already; a client's 4xx stays routine.
        log = self._log.error if response.status_code >= 500 else self._log.info
        log(
            "http.request",
            method=request.method,
            path=request.path,
            route=matched[-1] if matched else "unmatched",
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return response

    def _load_settings(self) -> Settings:
        self._settings = get_settings()
        self._log = get_logger("shared.http", service=self.service)
        return self._settings

    def _respond(
        self,
        request: Request,
        correlation_id: str,
        origin: str | None,
        settings: Settings,
        matched: list[str],
    ) -> WerkzeugResponse:
        method = request.method.upper()
        path = request.path
        if path == OPENAPI_PATH and method == "GET" and settings.features.serve_openapi:
            matched.append(OPENAPI_PATH)
            return self._json_response(self.openapi(), 200)
        found = self._table.lookup(path)
        if found is None:
            raise errors.NotFoundError(f"no route for {path}", code="route_not_found")
        methods, path_params = found
        if method == "OPTIONS" and origin:
            matched.append(path)
            return self._preflight(origin, methods, settings)
        route = methods.get(method)
        if not isinstance(route, Route):
            raise errors.MethodNotAllowedError(list(methods))
        matched.append(route.path)
        ctx = RequestContext(
            request=request,
            method=method,
            path=path,
            route=route,
            correlation_id=correlation_id,
            path_params=path_params,
            client_ip=_client_ip(request, settings.http.trusted_proxy_hops),
        )
        return self._run(ctx, settings)

    def _run(self, ctx: RequestContext, settings: Settings) -> WerkzeugResponse:
        route = ctx.route
        if route.auth == "token":
            authenticator = self._authenticator or _default_authenticator()
            ctx.principal = authenticator.authenticate(ctx)
            bind_context(
                tenant_id=getattr(ctx.principal, "tenant_id", None),
                user_id=getattr(ctx.principal, "user_id", None),
            )
            if route.permission:
                authenticator.authorize(ctx.principal, route.permission)
        for hook in route.before:
            hook(ctx)
        if route.params is not None:
            ctx.params = _validation.validate_mapping(route.params, ctx.path_params, "path")
        if route.method in _METHODS_WITH_BODY:
            ctx.raw_body = _read_body(ctx.request, settings.http.max_body_bytes)
        if route.idempotency is not None:
            from shared.http._idempotent import run_idempotent

            return run_idempotent(ctx, settings, self._execute, self._problem)
        return self._execute(ctx)

    def _execute(self, ctx: RequestContext) -> WerkzeugResponse:
        route = ctx.route
        if route.query is not None:
            ctx.query = _validation.validate_mapping(route.query, _query_values(ctx), "query")
        # The raw query string first: parsing an empty one into args costs a few µs.
        elif ctx.request.environ.get("QUERY_STRING") and ctx.request.args:
            raise errors.ValidationError(
                "this route takes no query parameters",
                errors=[
                    errors.FieldError(f"query.{name}", "unknown field", "unknown_field")
                    for name in ctx.request.args
                ],
            )
        if route.body is not None:
            _validation.check_content_type(ctx.request.headers.get("Content-Type"))
            ctx.body = _validation.validate_body(route.body, ctx.raw_body)
        elif ctx.raw_body:
            raise errors.BadRequestError("this route takes no body", code="body_not_allowed")
        result = route.handler(ctx)
        return self._encode(result, route.status, ctx.correlation_id, envelope=route.envelope)

    def _encode(
        self, result: Any, status: int, correlation_id: str, *, envelope: bool = True
    ) -> WerkzeugResponse:
        meta: dict[str, Any] = {"correlation_id": correlation_id}
        headers: dict[str, str] = {}
        if isinstance(result, Reply):
            status, headers, data = result.status, result.headers, result.data
            meta.update(result.meta)
        else:
            data = result
        if isinstance(data, Stream):
            return self._stream_response(data)
        if isinstance(data, Page):
            meta["next_cursor"] = data.next_cursor
            meta.update(data.meta)
            data = data.items
        if status == 204:
            return WerkzeugResponse(status=204, headers=headers)
        document = {"data": data, "meta": meta} if envelope else data
        response = self._json_response(document, status)
        for name, value in headers.items():
            response.headers[name] = value
        return response

    def _stream_response(self, stream: Stream) -> WerkzeugResponse:
        """A streamed body, sent as it is produced (its first piece is produced here)."""
        response = WerkzeugResponse(
            stream.started(), status=stream.status, content_type=stream.content_type
        )
        for name, value in stream.response_headers().items():
            response.headers[name] = value
        return response

    def _json_response(
        self, document: Any, status: int, content_type: str = JSON_CONTENT_TYPE
    ) -> WerkzeugResponse:
        return WerkzeugResponse(dumps(document), status=status, content_type=content_type)

    def _problem(
        self, error: errors.AppError, correlation_id: str, instance: str
    ) -> WerkzeugResponse:
        document = errors.problem_document(error, correlation_id=correlation_id, instance=instance)
        response = self._json_response(document, error.status, errors.PROBLEM_CONTENT_TYPE)
        for name, value in error.headers.items():
            response.headers[name] = value
        return response

    def _preflight(
        self, origin: str, methods: Mapping[str, object], settings: Settings
    ) -> WerkzeugResponse:
        if origin not in settings.http.cors_allow_origins:
            raise errors.ForbiddenError(
                f"origin {origin!r} is not allowed", code="cors_origin_denied"
            )
        response = WerkzeugResponse(status=204)
        for name, value in _headers.preflight_headers(
            origin, [*methods, "OPTIONS"], settings.http.cors_max_age_seconds
        ):
            response.headers[name] = value
        return response

    def _finish(
        self,
        response: WerkzeugResponse,
        correlation_id: str,
        origin: str | None,
        settings: Settings,
    ) -> None:
        headers = response.headers
        # Headers.setdefault finds a missing header by raising KeyError, which cost more
        # than the rest of a small request; one pass over the names set so far is cheap.
        present = {name.lower() for name, _ in headers.items()}
        for name, value in _headers.SECURITY_HEADERS:
            if name.lower() not in present:
                headers.add(name, value)
        headers["X-Correlation-ID"] = correlation_id
        for name, value in _headers.cors_headers(origin, settings.http.cors_allow_origins):
            headers[name] = value

    def _log_error(self, exc: errors.AppError) -> None:
        log = getattr(self._log, exc.severity.log_level)
        log("http.error", code=exc.code, status=exc.status, detail=exc.detail)


# What functions-framework's crash handler sets, which the platform logs as a crash.
CRASH_HEADER = ("X-Google-Status", "crash")


def _crash_problem(_: Exception) -> WerkzeugResponse:
    """A 500 problem document built from nothing that could have caused the crash:
    no settings, no logger, no request body."""
    request = sys.modules["flask"].request
    incoming = request.headers.get("X-Correlation-ID", "")
    correlation_id = incoming if _CORRELATION_ID.fullmatch(incoming) else str(uuid.uuid4())
    error = errors.InternalError(
        "an unexpected error occurred; quote the correlation id when reporting it"
    )
    document = errors.problem_document(error, correlation_id=correlation_id, instance=request.path)
    response = WerkzeugResponse(
        dumps(document), status=500, content_type=errors.PROBLEM_CONTENT_TYPE
    )
    for name, value in (*_headers.SECURITY_HEADERS, CRASH_HEADER):
        response.headers[name] = value
    response.headers["X-Correlation-ID"] = correlation_id
    return response


def _read_body(request: Request, limit: int) -> bytes:
    _validation.check_declared_length(request.content_length, limit)
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise errors.PayloadTooLargeError(f"body exceeds {limit} bytes", extra={"max_bytes": limit})
    return bytes(raw)


def _query_values(ctx: RequestContext) -> dict[str, Any]:
    args = ctx.request.args
    values: dict[str, Any] = {}
    fields = ctx.route.query.model_fields if ctx.route.query is not None else {}
    for name in args:
        many = args.getlist(name)
        repeated = name in fields and _is_sequence(fields[name].annotation)
        values[name] = many if repeated else many[-1]
    return values


_SEQUENCE_ORIGINS = (list, tuple, set, frozenset)


def _is_sequence(annotation: Any) -> bool:
    """Whether a query parameter takes every value given (?tag=a&tag=b), through Optional."""
    origin = typing.get_origin(annotation)
    if origin in _SEQUENCE_ORIGINS or annotation in _SEQUENCE_ORIGINS:
        return True
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return any(_is_sequence(arg) for arg in typing.get_args(annotation))
    return False


def _client_ip(request: Request, trusted_hops: int) -> str | None:
    """The caller's address as the last ``trusted_hops`` proxies saw it.

    Every proxy appends the address it received from, so only the entries our own
    front ends added can be trusted: a client may send any X-Forwarded-For it likes,
    and taking its first entry would let it choose its own rate-limit bucket.
    """
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
    hops = [hop for hop in hops if hop]
    if trusted_hops and len(hops) >= trusted_hops:
        return hops[-trusted_hops]
    return request.remote_addr


@per_instance
def _default_authenticator() -> Authenticator:
    try:
        from shared.auth.http import BearerAuthenticator
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("shared.auth"):
            raise  # a dependency missing from the archive: a packaging defect, not a 503
        # A function packaged without the identity module cannot verify tokens: say so
        # plainly instead of failing every protected request with a 500 (nothing is kept,
        # so every such request answers the same).
        raise errors.ServiceUnavailableError(
            "token verification is not available in this deployment",
            code="auth_unavailable",
        ) from None
    return BearerAuthenticator()
