"""The /docs page rendered from an OpenAPI document."""

from __future__ import annotations

from typing import Any

from emulator.docs_page import render_docs, render_schema

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Tributum API", "version": "1.0.0", "description": "merged"},
    "paths": {
        "/v1/accounts/{account_id}": {
            "get": {
                "operationId": "accounts.get",
                "summary": "One account <by id>",
                "tags": ["accounts"],
                "parameters": [
                    {
                        "name": "account_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "maxLength": 64},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The account",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Account"}}
                        },
                    }
                },
                "security": [{"bearer": []}],
            },
        },
        "/v1/health/live": {
            "get": {"summary": "Alive", "tags": ["health"], "security": [], "responses": {}}
        },
    },
    "components": {
        "schemas": {
            "Account": {
                "type": "object",
                "required": ["id", "currency"],
                "properties": {
                    "id": {"type": "string"},
                    "currency": {"type": "string", "enum": ["EUR", "USD"]},
                    "balance": {
                        "anyOf": [{"$ref": "#/components/schemas/Money"}, {"type": "null"}]
                    },
                },
            },
            "Money": {
                "type": "object",
                "properties": {"amount": {"type": "string", "pattern": "^-?[0-9]+$"}},
            },
        }
    },
    "x-tributum-unavailable": {"ledger": "not reachable"},
}


def test_every_operation_appears_with_its_method_and_path() -> None:
    page = render_docs(DOCUMENT)
    assert "/v1/accounts/{account_id}" in page
    assert "/v1/health/live" in page
    assert page.count('class="m get"') >= 2
    assert 'id="tag-accounts"' in page
    assert 'id="tag-health"' in page


def test_text_from_the_document_is_escaped() -> None:
    page = render_docs(DOCUMENT)
    assert "One account &lt;by id&gt;" in page
    assert "<by id>" not in page


def test_parameters_auth_and_responses_are_shown() -> None:
    page = render_docs(DOCUMENT)
    assert "<code>account_id</code>" in page
    assert "maxLength=64" in page
    assert "auth: bearer" in page
    assert ">public<" in page
    assert "The account" in page


def test_references_link_to_schema_sections() -> None:
    page = render_docs(DOCUMENT)
    assert '<a href="#schema-Account">Account</a>' in page
    assert 'id="schema-Account"' in page
    assert 'id="schema-Money"' in page
    assert '<a href="#schema-Money">Money</a> | null' in page


def test_missing_functions_are_announced() -> None:
    assert "ledger (not reachable)" in render_docs(DOCUMENT)


def test_schema_tables_mark_required_fields_and_enums() -> None:
    html = render_schema(DOCUMENT["components"]["schemas"]["Account"])
    assert html.count('class="req"') == 2
    assert "one of <code>&quot;EUR&quot;</code>" in html


def test_an_empty_document_still_renders() -> None:
    page = render_docs({"openapi": "3.1.0", "info": {"title": "Empty"}, "paths": {}})
    assert "<title>Empty</title>" in page
    assert "<li>none</li>" in page


def test_a_named_response_body_links_and_an_inline_one_expands() -> None:
    page = render_docs(DOCUMENT)
    assert '<div><code>application/json</code> <a href="#schema-Account">Account</a></div>' in page
    inline = {
        "openapi": "3.1.0",
        "info": {"title": "t"},
        "paths": {
            "/v1/x": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"data": {"type": "string"}},
                                    }
                                }
                            },
                        }
                    }
                }
            }
        },
    }
    expanded = render_docs(inline)
    assert "<details><summary><code>application/json</code> object</summary>" in expanded
    assert "<code>data</code>" in expanded
