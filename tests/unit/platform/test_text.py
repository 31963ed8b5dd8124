"""The one rule for human-visible text, as enforced and as documented."""

from __future__ import annotations

import re
import sys
import unicodedata
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from shared.text import TEXT_PATTERN, HumanName, HumanText

BIDI_CONTROLS = {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}
LINE_SEPARATORS = {0x2028, 0x2029}


def _refused_by_rule(code_point: int) -> bool:
    return (
        unicodedata.category(chr(code_point)) == "Cc"
        or code_point in BIDI_CONTROLS
        or code_point in LINE_SEPARATORS
    )


class Note(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    text: HumanText = ""
    name: HumanName | None = None


def _error(payload: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(PydanticValidationError) as raised:
        Note.model_validate(payload)
    (error,) = raised.value.errors()
    return ".".join(str(part) for part in error["loc"]), error["type"]


def test_the_documented_pattern_refuses_exactly_the_rules_characters() -> None:
    pattern = re.compile(TEXT_PATTERN)
    wrong = [
        hex(code_point)
        for code_point in range(sys.maxunicode + 1)
        if not 0xD800 <= code_point <= 0xDFFF  # surrogates never arrive in valid JSON
        # fullmatch: ECMA-262's $ is the end of the text, where Python's re.match
        # would also stop before a final newline.
        and (pattern.fullmatch(chr(code_point)) is None) != _refused_by_rule(code_point)
    ]
    assert wrong == []


@pytest.mark.parametrize(
    "character", ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\u2028", "\u202e", "\u2067"]
)
def test_text_and_names_refuse_control_and_bidi_characters(character: str) -> None:
    assert _error({"text": f"pay{character}ment"}) == ("text", "forbidden_character")
    assert _error({"name": f"Ada{character}"}) == ("name", "forbidden_character")


@pytest.mark.parametrize(
    "text", ["", "Invoice 42 — paid", "Zoë Ångström", "مرحبا", "👨\u200d👩\u200d👧", "a\u00a0b"]
)
def test_text_in_any_script_is_kept_as_written(text: str) -> None:
    assert Note.model_validate({"text": text}).text == text


def test_names_are_trimmed_and_never_blank() -> None:
    assert Note.model_validate({"name": "  Ada Lovelace "}).name == "Ada Lovelace"
    assert _error({"name": "   "}) == ("name", "blank")
    assert _error({"name": ""}) == ("name", "string_too_short")


def test_lengths_are_explicit() -> None:
    assert Note.model_validate({"text": "x" * 500}).text == "x" * 500
    assert _error({"text": "x" * 501}) == ("text", "string_too_long")
    assert _error({"name": "x" * 201}) == ("name", "string_too_long")


def test_the_schema_carries_the_rule_with_its_lengths() -> None:
    assert TypeAdapter(HumanText).json_schema() == {
        "type": "string",
        "maxLength": 500,
        "pattern": TEXT_PATTERN,
    }
    assert TypeAdapter(HumanName).json_schema() == {
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "pattern": TEXT_PATTERN,
    }
