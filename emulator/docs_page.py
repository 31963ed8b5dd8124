"""A self-contained HTML page rendering an OpenAPI document (no scripts, no CDN).

Server-side rendered: operations grouped by tag with their parameters, request
body and responses; schemas as property tables, ``$ref`` as links to the
schema's own section further down the page.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

_MAX_INLINE_DEPTH = 2
_METHOD_ORDER = ("get", "post", "put", "patch", "delete", "head", "options", "trace")

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d2330;
     background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:1.2rem 2rem}
header a{color:#9ecbff}
main{max-width:72rem;margin:0 auto;padding:1rem 2rem 4rem}
h2{border-bottom:2px solid #d8dde6;padding-bottom:.3rem;margin-top:2.5rem}
.op{background:#fff;border:1px solid #d8dde6;border-radius:6px;margin:1rem 0;padding:.8rem 1rem}
.op h3{margin:.2rem 0;font-size:1.05rem;font-family:ui-monospace,monospace}
.m{display:inline-block;min-width:4.5rem;text-align:center;border-radius:4px;color:#fff;
   font-size:.8rem;padding:.15rem .4rem;margin-right:.5rem}
.get{background:#2f7bd9}.post{background:#2e9d5b}.put{background:#b7791f}
.patch{background:#8a5cd1}.delete{background:#c53030}.head,.options,.trace{background:#555}
table{border-collapse:collapse;margin:.4rem 0;width:100%;font-size:.9rem}
th,td{border:1px solid #e2e6ee;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f2f6}
code,.t{font-family:ui-monospace,monospace;font-size:.85rem}
.muted{color:#666}.req{color:#c53030}
.auth{font-size:.8rem;border:1px solid #ccc;border-radius:4px;padding:.05rem .35rem}
nav ul{columns:2;list-style:none;padding-left:0}
details{margin:.3rem 0}
"""


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _anchor(kind: str, name: str) -> str:
    return f"{kind}-" + "".join(c if c.isalnum() else "-" for c in name)


def _type_label(schema: Any) -> str:
    """A one-line HTML summary of a schema's type."""
    if not isinstance(schema, dict):
        return "any"
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return f'<a href="#{_anchor("schema", name)}">{escape(name)}</a>'
    for combiner in ("anyOf", "oneOf", "allOf"):
        if combiner in schema:
            joiner = " &amp; " if combiner == "allOf" else " | "
            return joiner.join(_type_label(part) for part in schema[combiner])
    kind = schema.get("type")
    if isinstance(kind, list):
        label = " | ".join(escape(str(k)) for k in kind)
    elif kind == "array":
        label = f"array of {_type_label(schema.get('items', {}))}"
    elif kind:
        label = escape(str(kind))
    elif "const" in schema:
        label = f"const {escape(json.dumps(schema['const']))}"
    else:
        label = "any"
    if "format" in schema:
        label += f" <span class=muted>({escape(str(schema['format']))})</span>"
    if "enum" in schema:
        label += " — one of " + ", ".join(
            f"<code>{escape(json.dumps(v))}</code>" for v in schema["enum"]
        )
    return label


def _constraints(schema: dict[str, Any]) -> str:
    keys = ("minLength", "maxLength", "minimum", "maximum", "pattern", "minItems", "maxItems")
    parts = [f"{k}={escape(json.dumps(schema[k]))}" for k in keys if k in schema]
    if "default" in schema:
        parts.append(f"default={escape(json.dumps(schema['default']))}")
    return f'<div class="muted t">{"; ".join(parts)}</div>' if parts else ""


def render_schema(schema: Any, depth: int = 0) -> str:
    """A schema as HTML: objects as property tables, nested objects inline up to a depth."""
    if not isinstance(schema, dict):
        return "<p class=muted>no schema</p>"
    properties = schema.get("properties")
    if schema.get("type") == "object" or isinstance(properties, dict):
        if not properties:
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                return f"<p>object; values: {_type_label(extra)}</p>"
            return "<p>object</p>"
        required = set(schema.get("required", []))
        rows = []
        for name, prop in properties.items():
            description = escape(str(prop.get("description", ""))) if isinstance(prop, dict) else ""
            nested = ""
            if (
                isinstance(prop, dict)
                and depth < _MAX_INLINE_DEPTH
                and (prop.get("type") == "object" and prop.get("properties"))
            ):
                nested = render_schema(prop, depth + 1)
            flag = '<span class="req">required</span>' if name in required else ""
            rows.append(
                f"<tr><td><code>{escape(name)}</code></td><td>{_type_label(prop)}"
                f"{_constraints(prop) if isinstance(prop, dict) else ''}{nested}</td>"
                f"<td>{flag}</td><td>{description}</td></tr>"
            )
        return (
            "<table><tr><th>field</th><th>type</th><th></th><th>description</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    return f"<p>{_type_label(schema)}</p>{_constraints(schema)}"


def _security_label(operation: dict[str, Any]) -> str:
    security = operation.get("security")
    if security == []:
        return '<span class="auth">public</span>'
    if not security:
        return ""
    schemes = sorted({name for requirement in security for name in requirement})
    return f'<span class="auth">auth: {escape(", ".join(schemes))}</span>'


def _media_html(content_type: str, media: Any) -> str:
    """A response body: a named schema as a link, an inline object expandable in place."""
    schema = media.get("schema", {}) if isinstance(media, dict) else {}
    label = f"<code>{escape(content_type)}</code> {_type_label(schema)}"
    if isinstance(schema, dict) and isinstance(schema.get("properties"), dict):
        return f"<details><summary>{label}</summary>{render_schema(schema, 1)}</details>"
    return f"<div>{label}</div>"


def _render_operation(path: str, method: str, operation: dict[str, Any]) -> str:
    anchor = _anchor("op", f"{method}-{path}")
    parts = [
        f'<section class="op" id="{anchor}"><h3><span class="m {method}">{method.upper()}</span>'
        f"{escape(path)}</h3>",
        f"<p><strong>{escape(str(operation.get('summary', '')))}</strong> "
        f"{_security_label(operation)}"
        f' <span class="muted t">{escape(str(operation.get("operationId", "")))}</span></p>',
    ]
    description = str(operation.get("description", ""))
    if description and description != operation.get("summary"):
        parts.append(f"<p>{escape(description)}</p>")
    parameters = [p for p in operation.get("parameters", []) if isinstance(p, dict)]
    if parameters:
        rows = "".join(
            f"<tr><td><code>{escape(str(p.get('name', '')))}</code></td>"
            f"<td>{escape(str(p.get('in', '')))}</td>"
            f"<td>{_type_label(p.get('schema', {}))}{_constraints(p.get('schema', {}))}</td>"
            f"<td>{'<span class=req>required</span>' if p.get('required') else ''}</td>"
            f"<td>{escape(str(p.get('description', '')))}</td></tr>"
            for p in parameters
        )
        parts.append(
            "<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th></th>"
            f"<th>description</th></tr>{rows}</table>"
        )
    body = operation.get("requestBody")
    if isinstance(body, dict):
        for content_type, media in (body.get("content") or {}).items():
            parts.append(f"<h4>Request body <code>{escape(content_type)}</code></h4>")
            parts.append(render_schema(media.get("schema", {})))
    responses = operation.get("responses") or {}
    if responses:
        parts.append(
            "<h4>Responses</h4><table><tr><th>status</th><th>description</th><th>body</th></tr>"
        )
        for status, response in responses.items():
            content = (response or {}).get("content") or {}
            bodies = "".join(_media_html(ct, m) for ct, m in content.items())
            parts.append(
                f"<tr><td><code>{escape(str(status))}</code></td>"
                f"<td>{escape(str((response or {}).get('description', '')))}</td>"
                f"<td>{bodies}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</section>")
    return "".join(parts)


def render_docs(document: dict[str, Any], openapi_url: str = "/openapi.json") -> str:
    info = document.get("info", {})
    title = escape(str(info.get("title", "API")))
    grouped: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in document.get("paths", {}).items():
        for method in _METHOD_ORDER:
            operation = item.get(method)
            if isinstance(operation, dict):
                tag = (operation.get("tags") or ["other"])[0]
                grouped.setdefault(str(tag), []).append((path, method, operation))
    toc = "".join(
        f'<li><span class="m {m}">{m.upper()}</span>'
        f'<a href="#{_anchor("op", f"{m}-{p}")}">{escape(p)}</a></li>'
        for tag in grouped
        for p, m, _ in grouped[tag]
    )
    sections = "".join(
        f'<h2 id="{_anchor("tag", tag)}">{escape(tag)}</h2>'
        + "".join(_render_operation(p, m, op) for p, m, op in grouped[tag])
        for tag in grouped
    )
    schemas = (document.get("components") or {}).get("schemas") or {}
    schema_sections = "".join(
        f'<section class="op" id="{_anchor("schema", name)}"><h3>{escape(name)}</h3>'
        f"<p>{escape(str(schema.get('description', '')))}</p>{render_schema(schema)}</section>"
        for name, schema in schemas.items()
        if isinstance(schema, dict)
    )
    unavailable = document.get("x-tributum-unavailable") or {}
    warning = (
        "<p><strong>Missing from this page:</strong> "
        + "; ".join(f"{escape(f)} ({escape(str(r))})" for f, r in unavailable.items())
        + "</p>"
        if unavailable
        else ""
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{title} <small>{escape(str(info.get('version', '')))}</small></h1>"
        f"<p>{escape(str(info.get('description', '')))} · "
        f'<a href="{escape(openapi_url)}">OpenAPI document</a></p></header><main>{warning}'
        f"<nav><h2>Operations</h2><ul>{toc or '<li>none</li>'}</ul></nav>{sections}"
        f"<h2>Schemas</h2>{schema_sections or '<p>none</p>'}</main></body></html>"
    )
