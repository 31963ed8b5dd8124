"""The README's Python quickstart uses only the client's public face (the e2e test runs it)."""

from __future__ import annotations

import ast

import shared.client
from tests.unit.client.readme import python_quickstart


def test_the_quickstart_compiles_and_imports_only_public_names() -> None:
    tree = ast.parse(python_quickstart())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "shared.client"
        for alias in node.names
    }
    assert {"Tributum", "ValidationError", "verify_webhook"} <= imported
    assert imported <= set(shared.client.__all__)
    private = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("shared.")
    ]
    assert private == ["shared.client"]
