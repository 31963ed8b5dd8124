"""HTTP for functions-framework functions: routing, validation, envelopes, problems."""

from shared.http.pagination import Page, PageQuery, decode_cursor, encode_cursor
from shared.http.router import Authenticator, Reply, RequestContext, Route, Router, dumps

__all__ = [
    "Authenticator",
    "Page",
    "PageQuery",
    "Reply",
    "RequestContext",
    "Route",
    "Router",
    "decode_cursor",
    "dumps",
    "encode_cursor",
]
