"""Request decoding: body limits, content type, JSON, and pydantic errors as field errors."""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from pydantic_core.core_schema import ErrorType

from shared.errors import (
    BadRequestError,
    FieldError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
)

ModelT = TypeVar("ModelT", bound=BaseModel)

_CODE_BY_PYDANTIC_TYPE = {
    "missing": "missing",
    "extra_forbidden": "unknown_field",
    "string_type": "wrong_type",
    "int_type": "wrong_type",
    "bool_type": "wrong_type",
    "dict_type": "wrong_type",
    "list_type": "wrong_type",
    "model_type": "wrong_type",
    "float_type": "wrong_type",
    "int_parsing": "wrong_type",
    "bool_parsing": "wrong_type",
    "string_too_short": "too_short",
    "string_too_long": "too_long",
    "too_short": "too_short",
    "too_long": "too_long",
    "literal_error": "not_allowed",
    "enum": "not_allowed",
    "string_pattern_mismatch": "bad_format",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
}
# pydantic's own error types; any other type is one of our PydanticCustomErrors
# (forbidden_character, empty_update...), whose type is already the stable code.
_PYDANTIC_ERROR_TYPES = frozenset(typing.get_args(ErrorType))


def error_code(pydantic_type: str) -> str:
    if pydantic_type not in _PYDANTIC_ERROR_TYPES:
        return pydantic_type
    return _CODE_BY_PYDANTIC_TYPE.get(pydantic_type, "invalid")


def field_path(location: tuple[Any, ...], prefix: str = "") -> str:
    parts = [str(p) for p in location if p not in ("body", "__root__")]
    path = ".".join(parts)
    if prefix:
        return f"{prefix}.{path}" if path else prefix
    return path or "body"


def field_errors(exc: PydanticValidationError, prefix: str = "") -> list[FieldError]:
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        code = error_code(err["type"])
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        errors.append(FieldError(field_path(tuple(err["loc"]), prefix), message, code))
    return errors


def check_content_type(content_type: str | None) -> None:
    """JSON bodies only: ``application/json`` or a ``+json`` type, UTF-8 if a charset is named."""
    if not content_type:
        raise UnsupportedMediaTypeError(
            "a body needs Content-Type: application/json", code="content_type_missing"
        )
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content-Type {media!r} is not supported; send application/json"
        )
    charset = params.strip().lower()
    if charset.startswith("charset=") and charset.removeprefix("charset=").strip('"') not in (
        "utf-8",
        "utf8",
    ):
        raise UnsupportedMediaTypeError("JSON bodies must be UTF-8")


def check_declared_length(content_length: int | None, limit: int) -> None:
    if content_length is not None and content_length > limit:
        raise PayloadTooLargeError(
            f"body of {content_length} bytes exceeds {limit} bytes", extra={"max_bytes": limit}
        )


def parse_json(raw: bytes) -> Any:
    if not raw:
        raise BadRequestError("the request body is empty; send a JSON object", code="body_missing")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"malformed JSON: {exc}", code="malformed_json") from None


def validate_body(model: type[ModelT], raw: bytes) -> ModelT:
    document = parse_json(raw)
    if not isinstance(document, dict):
        raise ValidationError.for_field("body", "must be a JSON object", "wrong_type")
    try:
        # JSON mode: strict types as JSON has them (no "12" for 12), ISO dates from strings.
        # extra='forbid' here, not only on the model: a model that forgot it must not
        # let a misspelt field through silently.
        return model.model_validate_json(raw, strict=True, extra="forbid")
    except PydanticValidationError as refused:
        exc = refused
    for _ in range(_INTEGRAL_FLOAT_ROUNDS):
        integral = _integral_float_paths(document, exc)
        if not integral:
            break
        for path in integral:
            _replace_with_int(document, path)
        try:
            return model.model_validate_json(orjson.dumps(document), strict=True, extra="forbid")
        except PydanticValidationError as refused:
            exc = refused
    # A rule of ours about the body as a whole (an empty update) is told apart by
    # its code, as the ledger's rules are.
    found = exc.errors(include_url=False, include_input=False)
    ours = len(found) == 1 and not found[0]["loc"]
    ours = ours and found[0]["type"] not in _PYDANTIC_ERROR_TYPES
    code = found[0]["type"] if ours else None
    raise ValidationError(
        "the request body is invalid", code=code, errors=field_errors(exc)
    ) from None


# JSON has one number type: JSON Schema (and so the OpenAPI documents' "integer") counts
# 3.0 as the integer 3, while strict validation refuses a float for an int. A float with
# no fractional part where an int is wanted is taken as that int; 3.5 stays wrong_type.
# A union may only reveal its next int field once the first is fixed: a few rounds. Past
# 64 bits no field of ours takes the value (nor can the document be re-encoded).
_INTEGRAL_FLOAT_ROUNDS = 3
_INT64 = 2**63
JsonPath = tuple[str | int, ...]


def _integral_float_paths(document: Any, exc: PydanticValidationError) -> list[JsonPath]:
    """Where the body holds an integral float that a field refused for not being an int."""
    paths = []
    for error in exc.errors(include_url=False):
        if error["type"] != "int_type":
            continue
        path, value = _follow(document, tuple(error["loc"]))
        if isinstance(value, float) and value.is_integer() and -_INT64 <= value < _INT64:
            paths.append(path)
    return paths


def _follow(document: Any, location: tuple[Any, ...]) -> tuple[JsonPath, Any]:
    """The value at a pydantic error location, and its path in the document.

    A location also names union members and validators (``int``, ``function-after[...]``),
    which are no place in the document: only keys and indexes that exist are followed.
    """
    node = document
    path: list[str | int] = []
    for part in location:
        in_object = isinstance(node, dict) and isinstance(part, str) and part in node
        in_array = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_object or in_array:
            node = node[part]
            path.append(part)
    return tuple(path), node


def _replace_with_int(document: Any, path: JsonPath) -> None:
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = int(parent[path[-1]])


def validate_mapping(model: type[ModelT], values: Mapping[str, Any], prefix: str) -> ModelT:
    """Query and path parameters arrive as strings: lax conversion, unknown names rejected."""
    malformed = _malformed_temporal_values(model, values, prefix)
    if malformed:
        raise ValidationError(f"invalid {prefix} parameters", errors=malformed)
    try:
        return model.model_validate(dict(values), extra="forbid")
    except PydanticValidationError as exc:
        raise ValidationError(
            f"invalid {prefix} parameters", errors=field_errors(exc, prefix)
        ) from None


# What the OpenAPI documents promise for a date and a date-time ("format": "date" and
# "date-time", RFC 3339): lax validation would also read "0" or "1700000000" as a Unix
# time, "2025-01-31" as a date-time and one without an offset as some unknown zone.
_RFC3339_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_RFC3339_DATE_TIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_TEMPORAL_FORMATS = {
    "date-time": (_RFC3339_DATE_TIME, "must be a date-time with an offset: 2025-01-31T09:30:00Z"),
    "date": (_RFC3339_DATE, "must be a date like 2025-01-31"),
}


def _malformed_temporal_values(
    model: type[BaseModel], values: Mapping[str, Any], prefix: str
) -> list[FieldError]:
    errors = []
    for name, schema_format in _temporal_parameters(model).items():
        value = values.get(name)
        if not isinstance(value, str):
            continue
        pattern, message = _TEMPORAL_FORMATS[schema_format]
        if not pattern.fullmatch(value):
            errors.append(FieldError(f"{prefix}.{name}", message, "bad_format"))
    return errors


@functools.cache
def _temporal_parameters(model: type[BaseModel]) -> dict[str, str]:
    """The parameters whose schema (as the OpenAPI document states it) is a date or a
    date-time, by the name they arrive under."""
    found = {}
    for name, schema in model.model_json_schema().get("properties", {}).items():
        choices = [schema, *schema.get("anyOf", ()), *schema.get("oneOf", ())]
        formats = {choice.get("format") for choice in choices} & _TEMPORAL_FORMATS.keys()
        if formats:
            (found[name],) = formats
    return found
