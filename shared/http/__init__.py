"""HTTP for functions-framework functions: routing, validation, envelopes, problems."""

from shared.http.context import Authenticator, RequestContext, Route
from shared.http.pagination import (
    CursorFilters,
    CursorPosition,
    DocumentId,
    KeyPosition,
    Page,
    PageQuery,
    TimeOrderedPosition,
    decode_cursor,
    encode_cursor,
)
from shared.http.router import Reply, Router, dumps
from shared.http.streaming import Stream, Streamed

__all__ = [
    "Authenticator",
    "CursorFilters",
    "CursorPosition",
    "DocumentId",
    "KeyPosition",
    "Page",
    "PageQuery",
    "Reply",
    "RequestContext",
    "Route",
    "Router",
    "Stream",
    "Streamed",
    "TimeOrderedPosition",
    "decode_cursor",
    "dumps",
    "encode_cursor",
]
