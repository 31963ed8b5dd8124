"""A rate's source URL: the server takes exactly what its JSON Schema pattern allows."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from shared.tax.requests_admin import SourceIn

# ECMA-262's WhiteSpace and LineTerminator: what "\s" means to a JSON Schema validator.
ECMA_SPACE = r"\x09-\x0d\x20\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


def _schema_allows(url: str) -> bool:
    pattern = SourceIn.model_json_schema()["properties"]["url"]["pattern"]
    as_ecma = pattern.replace(r"\S", f"[^{ECMA_SPACE}]").replace(r"\s", f"[{ECMA_SPACE}]")
    return re.fullmatch(as_ecma, url) is not None


def _server_allows(url: str) -> bool:
    try:
        SourceIn(publication="VAT Act", url=url)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    "character", ["\x85", "\ufeff", "\u3000", "\t", " ", "\x1f", "\x1c", "ß", "%20", "\u200b"]
)
def test_the_server_and_the_schema_agree_on_every_character(character: str) -> None:
    url = f"https://example.org/rates{character}2025"
    assert _server_allows(url) == _schema_allows(url)


def test_whitespace_is_refused_and_other_text_is_not() -> None:
    assert not _server_allows("https://example.org/a\x85b")
    assert not _server_allows("https://example.org/a\ufeffb")
    assert _server_allows("https://example.org/straße")
