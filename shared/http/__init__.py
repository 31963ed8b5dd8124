"""HTTP for functions-framework functions: routing, validation, envelopes, problems."""

from shared.http.context import Authenticator, RequestContext, Route
from shared.http.router import Reply, Router, dumps
from shared.http.streaming import Stream, Streamed

# A route returns a Page and declares a PageQuery; both live with the cursors.
from shared.pagination import Page, PageQuery

__all__ = [
    "Authenticator",
    "Page",
    "PageQuery",
    "Reply",
    "RequestContext",
    "Route",
    "Router",
    "Stream",
    "Streamed",
    "dumps",
]
