"""Request models of the ledger use cases: pydantic v2, strict, unknown fields forbidden.

The HTTP layer validates JSON bodies against these models directly (JSON mode, so
dates and datetimes are ISO strings and enums are their string values). They check
shapes only; meaning (an amount's decimals for its currency, balances, account
states) is checked by :mod:`shared.ledger.domain` with stable codes and dotted
field paths. Amounts are decimal strings in major units, never JSON numbers.

:func:`parse_request` is for callers that hold a decoded mapping (a Pub/Sub
message, a test): it validates in the same JSON mode and raises the project's
:class:`~shared.errors.ValidationError` with one field error per problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from shared.errors import FieldError, ValidationError
from shared.http.pagination import MAX_PAGE_SIZE
from shared.ledger.model import AccountStatus, AccountType, BalanceConstraint, Side

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)

MAX_LINES = 50
MAX_SHARDS = 64
MAX_METADATA_KEYS = 20
MAX_HOLD_TIMEOUT_SECONDS = 90 * 24 * 3600
ACCOUNT_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
# Client-chosen entry ids make retries idempotent (a posting request's event id,
# a payment id): letters, digits, '_' and '-', so they are safe as document ids.
ENTRY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"

Metadata = dict[str, str]


def _check_metadata(metadata: Metadata | None) -> Metadata | None:
    if metadata is None:
        return None
    if len(metadata) > MAX_METADATA_KEYS:
        raise ValueError(f"at most {MAX_METADATA_KEYS} keys")
    for key, value in metadata.items():
        if not 1 <= len(key) <= 64:
            raise ValueError("keys must have 1 to 64 characters")
        if len(value) > 500:
            raise ValueError(f"value of {key!r} is longer than 500 characters")
    return metadata


class CreateAccountRequest(BaseModel):
    model_config = _STRICT

    code: str = Field(pattern=ACCOUNT_CODE_PATTERN, examples=["1000-cash"])
    name: str = Field(min_length=1, max_length=200)
    type: AccountType
    currency: str = Field(pattern=CURRENCY_PATTERN, examples=["EUR"])
    balance_constraint: BalanceConstraint | None = None
    balance_shards: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SHARDS,
        description="balance documents the account's postings spread over (hot accounts)",
    )
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _metadata(self) -> CreateAccountRequest:
        _check_metadata(self.metadata)
        return self


class UpdateAccountRequest(BaseModel):
    """Every field optional; at least one must be present."""

    model_config = _STRICT

    name: str | None = Field(default=None, min_length=1, max_length=200)
    status: AccountStatus | None = None
    type: AccountType | None = None
    currency: str | None = Field(default=None, pattern=CURRENCY_PATTERN)
    balance_shards: int | None = Field(default=None, ge=1, le=MAX_SHARDS)
    metadata: Metadata | None = None

    @model_validator(mode="after")
    def _metadata(self) -> UpdateAccountRequest:
        _check_metadata(self.metadata)
        return self


class LineIn(BaseModel):
    model_config = _STRICT

    account_id: str = Field(min_length=1, max_length=100)
    side: Side
    amount: str = Field(min_length=1, max_length=40, examples=["12.34"])
    currency: str | None = Field(
        default=None, pattern=CURRENCY_PATTERN, description="checked against the account's"
    )


class PostEntryRequest(BaseModel):
    """A journal entry: posted at once, or pending (a two-phase hold) when ``pending``."""

    model_config = _STRICT

    entry_id: str | None = Field(
        default=None,
        pattern=ENTRY_ID_PATTERN,
        description="choose it to make retries idempotent; generated when absent",
    )
    effective_date: date | None = Field(default=None, description="defaults to today (UTC)")
    description: str = Field(default="", max_length=500)
    metadata: Metadata = Field(default_factory=dict)
    currency: str | None = Field(
        default=None, pattern=CURRENCY_PATTERN, description="default for lines without one"
    )
    # No min_length: fewer than two lines is the ledger rule ``too_few_lines``.
    lines: list[LineIn] = Field(max_length=MAX_LINES)
    pending: bool = False
    expires_at: datetime | None = None
    timeout_seconds: int | None = Field(default=None, ge=1, le=MAX_HOLD_TIMEOUT_SECONDS)

    @model_validator(mode="after")
    def _metadata(self) -> PostEntryRequest:
        _check_metadata(self.metadata)
        return self


class PostPendingRequest(BaseModel):
    """Post a hold: in full (no amount), one amount (two-line holds), or per line."""

    model_config = _STRICT

    amount: str | None = Field(default=None, min_length=1, max_length=40)
    line_amounts: list[str] | None = Field(default=None, max_length=MAX_LINES)
    effective_date: date | None = None
    description: str | None = Field(default=None, max_length=500)
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _metadata(self) -> PostPendingRequest:
        _check_metadata(self.metadata)
        return self


class VoidPendingRequest(BaseModel):
    model_config = _STRICT

    reason: str = Field(default="", max_length=500)


class ReverseEntryRequest(BaseModel):
    model_config = _STRICT

    effective_date: date | None = None
    description: str | None = Field(default=None, max_length=500)
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _metadata(self) -> ReverseEntryRequest:
        _check_metadata(self.metadata)
        return self


class ListAccountsQuery(BaseModel):
    """Query parameters arrive as strings: lax, unknown names forbidden."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: AccountType | None = None
    status: AccountStatus | None = None
    currency: str | None = Field(default=None, pattern=CURRENCY_PATTERN)
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, max_length=2048)


class ListAccountEntriesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    date_from: date | None = None
    date_to: date | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, max_length=2048)


ModelT = TypeVar("ModelT", bound=BaseModel)

_CODES = {
    "missing": "missing",
    "extra_forbidden": "unknown_field",
    "string_type": "wrong_type",
    "int_type": "wrong_type",
    "bool_type": "wrong_type",
    "list_type": "wrong_type",
    "dict_type": "wrong_type",
    "model_type": "wrong_type",
    "string_pattern_mismatch": "bad_format",
    "string_too_short": "too_short",
    "string_too_long": "too_long",
    "too_long": "too_long",
    "enum": "not_allowed",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
}


def parse_request(model: type[ModelT], data: Mapping[str, Any]) -> ModelT:
    """Validate a decoded JSON object exactly as the HTTP layer validates a body."""
    try:
        return model.model_validate_json(orjson.dumps(dict(data)), strict=True)
    except PydanticValidationError as exc:
        errors = [
            FieldError(
                ".".join(str(part) for part in error["loc"]) or "body",
                error["msg"].removeprefix("Value error, "),
                _CODES.get(error["type"], "invalid"),
            )
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise ValidationError("the request is invalid", errors=errors) from None
