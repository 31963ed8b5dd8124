"""The gateway's pages for people: the landing page, and the try-it API docs.

``/docs`` is Swagger UI over the merged OpenAPI document, served from the files the
``fastapi-offline`` package ships (Swagger UI 5, which reads OpenAPI 3.1; the
``swagger-ui-bundle`` package stops at Swagger UI 4, which refuses a 3.1 document).
Nothing is loaded from elsewhere: every script and style sheet comes from the gateway.
``/docs/reference`` keeps the static page of :mod:`emulator.docs_page`: no script, every
operation and schema expanded on one page, so it can be searched, printed and saved.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from html import escape
from pathlib import Path
from typing import Any

DOCS_PATH = "/docs"
REFERENCE_PATH = "/docs/reference"
DOCS_OPENAPI_PATH = "/docs/openapi.json"
DOCS_ASSETS_PREFIX = "/docs/assets/"
OPENAPI_PATH = "/openapi.json"
DASHBOARD_PATH = "/_dashboard"
FAVICON_PATH = "/favicon.ico"
SWAGGER_PACKAGE = "fastapi_offline"
_STATIC = Path(__file__).resolve().parent / "dashboard" / "static"
# The files Swagger UI needs, and what each is served as.
SWAGGER_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
OWN_ASSETS = {"docs.js": "text/javascript; charset=utf-8"}
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def swagger_dir() -> Path | None:
    """Where the installed package keeps Swagger UI's files, without importing it."""
    spec = importlib.util.find_spec(SWAGGER_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def asset(name: str) -> tuple[bytes, str] | None:
    """An asset of the docs page by file name, or None when there is no such file."""
    if name in OWN_ASSETS:
        return (_STATIC / name).read_bytes(), OWN_ASSETS[name]
    folder = swagger_dir()
    if name not in SWAGGER_ASSETS or folder is None:
        return None
    return (folder / name).read_bytes(), SWAGGER_ASSETS[name]


def with_visible_examples(document: dict[str, Any]) -> dict[str, Any]:
    """The document Swagger UI shows: each request body's schema examples as named examples.

    The routes keep their examples in the body schema (JSON Schema ``examples``); a media
    type's ``examples`` is what Swagger UI offers in its example menu and puts in the
    try-it editor. ``/openapi.json`` itself is left as the functions wrote it.
    """
    shown = copy.deepcopy(document)
    unavailable = shown.get("x-tributum-unavailable")
    if isinstance(unavailable, dict) and unavailable:
        # Said where a reader of these docs looks first: under the title.
        missing = "; ".join(f"{name} ({reason})" for name, reason in unavailable.items())
        info = shown.setdefault("info", {})
        info["description"] = f"{info.get('description', '')}\n\n**Missing:** {missing}".strip()
    schemas = (shown.get("components") or {}).get("schemas") or {}
    for item in (shown.get("paths") or {}).values():
        for method in _METHODS:
            operation = item.get(method) if isinstance(item, dict) else None
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            content = body.get("content") if isinstance(body, dict) else None
            media = content.get("application/json") if isinstance(content, dict) else None
            if not isinstance(media, dict) or "examples" in media or "example" in media:
                continue
            schema = media.get("schema") or {}
            ref = schema.get("$ref", "") if isinstance(schema, dict) else ""
            resolved = schemas.get(ref.rsplit("/", 1)[-1]) if ref else schema
            examples = resolved.get("examples") if isinstance(resolved, dict) else None
            if isinstance(examples, list) and examples:
                media["examples"] = {
                    f"example {index}": {"value": value}
                    for index, value in enumerate(examples, start=1)
                }
    return shown


def swagger_page() -> str:
    """Swagger UI's page; ``docs.js`` starts it on :data:`DOCS_OPENAPI_PATH`."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        "<title>Tributum API (local)</title>"
        f'<link rel=icon href="{DOCS_ASSETS_PREFIX}favicon.png">'
        f'<link rel=stylesheet href="{DOCS_ASSETS_PREFIX}swagger-ui.css">'
        "<style>body{margin:0}.topnav{font:14px system-ui,sans-serif;padding:.6rem 1.2rem;"
        "background:#1d2330;color:#fff}.topnav a{color:#9ecbff;margin-right:1rem}"
        "</style></head><body>"
        '<nav class="topnav"><a href="/">Local stack</a>'
        f'<a href="{OPENAPI_PATH}">OpenAPI document</a>'
        f'<a href="{REFERENCE_PATH}">Static reference</a>'
        f'<a href="{DASHBOARD_PATH}">Dashboard</a></nav>'
        f'<div id="swagger-ui" data-openapi="{DOCS_OPENAPI_PATH}"></div>'
        f'<script src="{DOCS_ASSETS_PREFIX}swagger-ui-bundle.js"></script>'
        f'<script src="{DOCS_ASSETS_PREFIX}docs.js"></script></body></html>'
    )


def missing_swagger_page() -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>API docs</title></head>"
        "<body><h1>Swagger UI is not installed</h1><p>The try-it docs are served from the "
        f"<code>fastapi-offline</code> package: <code>pip install -e '.[dev]'</code>. The "
        f'<a href="{REFERENCE_PATH}">static reference</a> and the '
        f'<a href="{OPENAPI_PATH}">OpenAPI document</a> work without it.</p></body></html>'
    )


def landing_page(project_id: str | None) -> str:
    project = f" <small>{escape(project_id)}</small>" if project_id else ""
    links = [
        (
            DOCS_PATH,
            "API docs",
            "try every route (Swagger UI): the Authorize button takes a "
            "bearer token, each request body offers its examples",
        ),
        (
            DASHBOARD_PATH,
            "Dashboard",
            "functions and their logs, topics, dead letters, "
            "Firestore, schedules, the mail sink and the ledger",
        ),
        (OPENAPI_PATH, "OpenAPI document", "every function's document, merged (JSON)"),
        (REFERENCE_PATH, "Static reference", "the same document as one page, no script"),
    ]
    items = "".join(
        f'<li><a href="{href}">{escape(title)}</a> <span>{escape(text)}</span></li>'
        for href, title, text in links
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        "<title>Tributum local stack</title><style>"
        "body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}"
        "header{background:#1d2330;color:#fff;padding:1.2rem 2rem}main{padding:1rem 2rem}"
        "li{margin:.6rem 0;font-size:1.05rem}li span{color:#555;font-size:.9rem}"
        f"</style></head><body><header><h1>Tributum local stack{project}</h1></header>"
        f"<main><ul>{items}</ul><p>Local tooling: served only by the local gateway on its "
        "loopback address, never deployed.</p></main></body></html>"
    )


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2).encode()
