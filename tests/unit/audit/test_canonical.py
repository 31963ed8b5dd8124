"""The canonical form and hashing of audit records."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.audit.canonical import (
    GENESIS_HASH,
    CanonicalFormError,
    canonical_json,
    format_time,
    normalize,
    record_hash,
)


class Colour(StrEnum):
    RED = "red"


class Level(IntEnum):
    HIGH = 3


class Plain(Enum):
    THING = ("a", 1)


def test_keys_are_sorted_and_there_is_no_whitespace() -> None:
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": None}}) == (
        b'{"a":{"c":null,"d":[1,2]},"b":1}'
    )


def test_keys_sort_by_code_point_not_by_locale() -> None:
    assert canonical_json({"a": 1, "B": 2, "é": 3, "Z": 4}) == '{"B":2,"Z":4,"a":1,"é":3}'.encode()


def test_non_ascii_is_written_as_utf8_and_specials_are_escaped() -> None:
    assert canonical_json({"name": 'Zoë "the" \\ \n\x1f'}) == (
        '{"name":"Zoë \\"the\\" \\\\ \\n\\u001f"}'.encode()
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12.30"), "12.30"),
        (Decimal("1E+2"), "100"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("-0.50"), "-0.50"),
        (0.1, "0.1"),
        (1e16, "1e+16"),
        (float("nan"), "nan"),
        (2**63 - 1, 2**63 - 1),
        (-(2**63), -(2**63)),
        (2**63, str(2**63)),
        (True, True),
        (None, None),
        (datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "2030-01-02T03:04:05.000006Z"),
        (
            datetime(2030, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2030-01-02T03:04:05.000000Z",
        ),
        (date(2030, 1, 2), "2030-01-02"),
        (UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
        (Colour.RED, "red"),
        (Level.HIGH, 3),
        (Plain.THING, ["a", 1]),
        (("x", 1), ["x", 1]),
    ],
)
def test_values_normalize_to_json_primitives(value: Any, expected: Any) -> None:
    normalized = normalize(value)
    assert normalized == expected
    assert type(normalized) is type(expected)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"at": datetime(2030, 1, 1)}, "$.at"),
        ({"raw": b"bytes"}, "$.raw"),
        ({"items": [1, {2, 3}]}, "$.items[1]"),
        ({1: "x"}, "key 1"),
    ],
)
def test_values_without_a_canonical_form_are_refused_with_their_path(
    value: Any, where: str
) -> None:
    with pytest.raises(CanonicalFormError) as caught:
        canonical_json(value)
    assert where in str(caught.value)


def test_nesting_is_bounded() -> None:
    deep: Any = "leaf"
    for _ in range(40):
        deep = {"k": deep}
    with pytest.raises(CanonicalFormError, match="deeper"):
        normalize(deep)


def test_formatted_times_sort_like_the_moments() -> None:
    early = datetime(2030, 1, 1, 23, 59, 59, 999_999, tzinfo=UTC)
    later = datetime(2030, 1, 2, 0, 0, tzinfo=timezone(timedelta(hours=-1)))
    assert format_time(early) < format_time(later)
    assert len(format_time(early)) == len(format_time(later)) == 27


def test_record_hash_is_the_sha256_of_the_canonical_form_without_the_hash_field() -> None:
    record = {"seq": 1, "prev_hash": GENESIS_HASH, "action": "x"}
    expected = hashlib.sha256(
        b'{"action":"x","prev_hash":"' + GENESIS_HASH.encode() + b'","seq":1}'
    ).hexdigest()
    assert record_hash(record) == expected
    assert record_hash({**record, "hash": "anything"}) == expected


def test_any_change_of_content_changes_the_hash() -> None:
    record = {"seq": 1, "details": {"amount": "10.00"}}
    assert record_hash(record) != record_hash({"seq": 1, "details": {"amount": "10.01"}})
    assert record_hash(record) != record_hash({"seq": 2, "details": {"amount": "10.00"}})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_normalized_json_values_are_unchanged_and_canonical_form_is_stable(value: Any) -> None:
    assert normalize(value) == value
    assert canonical_json(value) == canonical_json(normalize(value))


@given(st.dictionaries(st.text(max_size=8), st.integers(), max_size=8))
def test_key_order_never_changes_the_canonical_form(mapping: dict[str, int]) -> None:
    reversed_order = dict(reversed(list(mapping.items())))
    assert canonical_json(mapping) == canonical_json(reversed_order)
