"""One OpenAPI document for the whole API, merged from every HTTP function's own.

Paths and tags are unioned; component definitions that are identical across
functions (the shared ``Problem`` schema) appear once, and a name two functions
define differently is renamed ``<function>__<Name>`` in the later function's
document, with every ``$ref`` to it rewritten, so neither is silently lost.
A function-level ``security`` requirement is copied onto the function's
operations that do not state their own, since the merged document has none.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

OPENAPI_VERSION = "3.1.0"
_OPERATION_KEYS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def is_openapi_document(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("openapi"), str)
        and isinstance(value.get("paths"), dict)
    )


def _rewrite_refs(node: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value in renames:
                out[key] = renames[value]
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node


def merge_documents(
    documents: Mapping[str, dict[str, Any]],
    *,
    title: str = "Tributum API",
    version: str = "1.0.0",
    unavailable: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Merge per-function documents (keyed by function name, in manifest order)."""
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, dict[str, Any]] = {}
    tags: dict[str, dict[str, Any]] = {}
    conflicts: list[str] = []
    for function, original in documents.items():
        document = copy.deepcopy(original)
        renames: dict[str, str] = {}
        for section, entries in (document.get("components") or {}).items():
            merged_section = components.setdefault(section, {})
            for name, definition in entries.items():
                if name in merged_section and merged_section[name] != definition:
                    renames[f"#/components/{section}/{name}"] = (
                        f"#/components/{section}/{function}__{name}"
                    )
        document = _rewrite_refs(document, renames)
        for section, entries in (document.get("components") or {}).items():
            merged_section = components[section]
            for name, definition in entries.items():
                key = f"{function}__{name}" if f"#/components/{section}/{name}" in renames else name
                merged_section.setdefault(key, definition)
        inherited_security = document.get("security")
        for path, item in document.get("paths", {}).items():
            merged_item = paths.setdefault(path, {})
            for method, operation in item.items():
                if method in _OPERATION_KEYS and isinstance(operation, dict):
                    if inherited_security is not None and "security" not in operation:
                        operation["security"] = inherited_security
                    operation.setdefault("x-tributum-function", function)
                    if method in merged_item:
                        conflicts.append(f"{method.upper()} {path} ({function})")
                        continue
                merged_item.setdefault(method, operation)
        for tag in document.get("tags", []):
            if isinstance(tag, dict) and "name" in tag:
                tags.setdefault(tag["name"], tag)
    merged: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": version,
            "description": "Merged from the functions: " + ", ".join(documents)
            if documents
            else "No function served an OpenAPI document.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {section: dict(sorted(e.items())) for section, e in components.items()},
    }
    if tags:
        merged["tags"] = list(tags.values())
    if unavailable:
        merged["x-tributum-unavailable"] = dict(unavailable)
    if conflicts:
        merged["x-tributum-conflicts"] = conflicts
    return merged
