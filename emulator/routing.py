"""The gateway's route table: which function owns a public path.

A ``{param}`` segment matches exactly one non-empty segment. Among templates
that match, the one with literal segments earliest wins (``/v1/a/search`` over
``/v1/a/{id}``), and a template declaring the request's method beats one that
does not, so two functions may share a path with different methods. A path
that matches but not for this method still goes to its function, which answers
405 with ``Allow`` (and CORS preflights) itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.topology import Manifest


@dataclass(frozen=True, slots=True)
class GatewayRoute:
    method: str
    template: str
    function: str
    port: int

    @property
    def segments(self) -> tuple[str, ...]:
        return _split(self.template)

    def match(self, segments: tuple[str, ...]) -> dict[str, str] | None:
        own = self.segments
        if len(own) != len(segments):
            return None
        params: dict[str, str] = {}
        for pattern, value in zip(own, segments, strict=True):
            if pattern.startswith("{") and pattern.endswith("}"):
                if not value:
                    return None
                params[pattern[1:-1]] = value
            elif pattern != value:
                return None
        return params

    @property
    def specificity(self) -> tuple[int, ...]:
        """Sorts literal segments before parameters, position by position."""
        return tuple(1 if s.startswith("{") else 0 for s in self.segments)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: GatewayRoute
    path_params: dict[str, str]
    method_declared: bool


def _split(path: str) -> tuple[str, ...]:
    return tuple(path.split("/")[1:]) if path.startswith("/") else (path,)


class RouteTable:
    def __init__(self, routes: list[GatewayRoute]) -> None:
        self.declared = list(routes)
        self.routes = sorted(routes, key=lambda r: (r.specificity, r.template, r.method))

    @classmethod
    def from_manifest(cls, manifest: Manifest, ports: Mapping[str, int]) -> RouteTable:
        return cls(
            [
                GatewayRoute(route.method, route.path, fn.name, ports[fn.name])
                for fn in manifest.functions
                for route in fn.routes
            ]
        )

    def match(self, method: str, path: str) -> RouteMatch | None:
        segments = _split(path)
        fallback: RouteMatch | None = None
        for route in self.routes:
            params = route.match(segments)
            if params is None:
                continue
            if route.method == method.upper() or (
                method.upper() == "HEAD" and route.method == "GET"
            ):
                return RouteMatch(route, params, method_declared=True)
            if fallback is None:
                fallback = RouteMatch(route, params, method_declared=False)
        return fallback

    def methods_for(self, path: str) -> set[str]:
        """The methods some function declares for ``path`` (empty: no function serves it)."""
        segments = _split(path)
        return {route.method for route in self.routes if route.match(segments) is not None}

    def http_functions(self) -> dict[str, int]:
        """Each function with routes and its port, in declaration (manifest) order."""
        owners: dict[str, int] = {}
        for route in self.declared:
            owners.setdefault(route.function, route.port)
        return owners
