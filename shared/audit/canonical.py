"""The canonical form of an audit record and its SHA-256: pure functions.

A record is hashed as its **canonical JSON**: the UTF-8 bytes of the JSON text with

* object keys sorted by Unicode code point, no whitespace at all
  (separators ``,`` and ``:``), non-ASCII characters written as themselves
  (not ``\\u`` escapes); ``"``, ``\\`` and control characters escaped as JSON requires
  (``\\"``, ``\\\\``, ``\\n``, ``\\u001f``...);
* only these values: ``null``, ``true``/``false``, integers, strings, arrays, objects.

Values are first *normalized* (:func:`normalize`) to that set, and the normalized
form is also what gets stored, so a record read back from Firestore hashes to the
same bytes:

============================  ===============================================
Python value                  canonical value
============================  ===============================================
``None``, ``bool``, ``str``   as is
``int``                       as is within Firestore's 64-bit range, else a string
``float``                     a string, Python's shortest round-trip ``repr``
                              (``0.1`` -> ``"0.1"``); floats never appear as numbers,
                              whose text differs between languages
``Decimal``                   a string in plain notation (``"12.30"``, never ``1E+1``)
``datetime`` (aware)          a string in UTC: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
``date``                      ``YYYY-MM-DD``
``Enum``                      its value, normalized
``UUID``                      its canonical string
mapping (string keys)         an object
list, tuple                   an array
============================  ===============================================

Anything else (a naive datetime, bytes, a non-string key, a set) raises
:class:`CanonicalFormError`: the audit trail must not guess.

The hash of a record is ``sha256(canonical_json(record without "hash"))`` in
lower-case hex.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

# The first record's "previous hash".
GENESIS_HASH = "0" * 64
HASH_FIELD = "hash"
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_MAX_DEPTH = 32

JsonValue = None | bool | int | str | list["JsonValue"] | dict[str, "JsonValue"]


class CanonicalFormError(ValueError):
    """A value has no canonical form (the message names where it is)."""


def format_time(moment: datetime) -> str:
    """An aware datetime as fixed-width UTC text; it sorts as the moments do."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CanonicalFormError("a datetime without a timezone has no canonical form")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalize(value: Any, *, path: str = "$", depth: int = 0) -> JsonValue:
    """``value`` as canonical JSON values only (see the module docstring)."""
    if depth > _MAX_DEPTH:
        raise CanonicalFormError(f"{path}: nested deeper than {_MAX_DEPTH} levels")
    if isinstance(value, Enum):
        # Before str and int: a StrEnum or IntEnum member is stored as its plain value.
        return normalize(value.value, path=path, depth=depth + 1)
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        try:
            return format_time(value)
        except CanonicalFormError as exc:
            raise CanonicalFormError(f"{path}: {exc}") from None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        normalized: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalFormError(f"{path}: key {key!r} is not a string")
            normalized[key] = normalize(item, path=f"{path}.{key}", depth=depth + 1)
        return normalized
    if isinstance(value, list | tuple):
        return [
            normalize(item, path=f"{path}[{index}]", depth=depth + 1)
            for index, item in enumerate(value)
        ]
    raise CanonicalFormError(f"{path}: {type(value).__name__} has no canonical form")


def canonical_json(value: Any) -> bytes:
    """The canonical JSON bytes of ``value`` (normalized first)."""
    return json.dumps(
        normalize(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_hash(record: Mapping[str, Any]) -> str:
    """The SHA-256 of ``record``'s canonical form, leaving out its own ``hash`` field."""
    return sha256_hex(canonical_json({k: v for k, v in record.items() if k != HASH_FIELD}))
