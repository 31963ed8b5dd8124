"""Path templates (``/v1/accounts/{account_id}``) and matching, static paths first."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.ids import usable_document_id

_PARAM = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_SEGMENT_VALUE = r"[^/]+"


@dataclass(frozen=True, slots=True)
class PathTemplate:
    template: str
    pattern: re.Pattern[str] | None  # None for a path without parameters
    params: tuple[str, ...]

    @classmethod
    def parse(cls, template: str) -> PathTemplate:
        if not template.startswith("/"):
            raise ValueError(f"route path must start with '/': {template!r}")
        params = tuple(_PARAM.findall(template))
        if len(set(params)) != len(params):
            raise ValueError(f"repeated path parameter in {template!r}")
        if not params:
            return cls(template, None, ())
        regex = (
            "^"
            + _PARAM.sub(
                lambda m: f"(?P<{m.group(1)}>{_SEGMENT_VALUE})",
                re.escape(template).replace(r"\{", "{").replace(r"\}", "}"),
            )
            + "$"
        )
        return cls(template, re.compile(regex), params)

    def match(self, path: str) -> dict[str, str] | None:
        if self.pattern is None:
            return {} if path == self.template else None
        found = self.pattern.match(path)
        if not found:
            return None
        params = found.groupdict()
        # Every path parameter names a document: one that can name none is a 404 before any I/O.
        return params if all(usable_document_id(v) for v in params.values()) else None


class RouteTable:
    """Finds the route for (method, path); tells 404 from 405 (with the allowed methods)."""

    def __init__(self) -> None:
        self._static: dict[str, dict[str, object]] = {}
        self._templated: list[tuple[PathTemplate, dict[str, object]]] = []

    def add(self, method: str, template: PathTemplate, route: object) -> None:
        if template.pattern is None:
            methods = self._static.setdefault(template.template, {})
        else:
            existing = next(
                (m for t, m in self._templated if t.template == template.template), None
            )
            if existing is None:
                existing = {}
                self._templated.append((template, existing))
            methods = existing
        if method in methods:
            raise ValueError(f"duplicate route {method} {template.template}")
        methods[method] = route

    def lookup(self, path: str) -> tuple[dict[str, object], dict[str, str]] | None:
        """The methods registered for ``path`` and its path parameters, or None."""
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")
        static = self._static.get(path)
        if static is not None:
            return static, {}
        for template, methods in self._templated:
            params = template.match(path)
            if params is not None:
                return methods, params
        return None
