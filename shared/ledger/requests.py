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
from datetime import date
from typing import Annotated, Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from shared.errors import FieldError, ValidationError
from shared.http.examples import body_examples
from shared.http.patch import PatchBody, patch_schema
from shared.ledger.model import AccountStatus, AccountType, BalanceConstraint, Side
from shared.moments import LaxMoment
from shared.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_CURSOR_LENGTH,
    MAX_PAGE_SIZE,
    CursorFilters,
    CursorPosition,
    DocumentId,
)
from shared.text import HumanName, HumanText

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)

MIN_LINES = 2
MAX_LINES = 50
MAX_SHARDS = 64
MAX_METADATA_KEYS = 20
MAX_METADATA_VALUE_LENGTH = 500
MAX_HOLD_TIMEOUT_SECONDS = 90 * 24 * 3600
ACCOUNT_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
# Client-chosen entry ids make retries idempotent (a posting request's event id,
# a payment id): letters, digits, '_' and '-', so they are safe as document ids.
ENTRY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
# The shape of an amount, for the JSON Schema only: shared.ledger.domain parses it and
# refuses a malformed one, zero, a sign or more decimals than the currency has, each
# with its own code (invalid_amount, amount_not_positive...), which a pattern here
# would turn into a bare bad_format.
AMOUNT_SCHEMA: JsonDict = {"pattern": r"^[0-9]{1,19}(\.[0-9]{1,18})?$"}

# Metadata: the client's own labels on accounts and entries, stored as a map field.
# Keys are lower-case identifiers: never Firestore's reserved __x__ names, never a
# '.' or '`' that a field path would read as structure. Values are one line of
# human text each.
METADATA_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
MetadataKey = Annotated[str, Field(pattern=METADATA_KEY_PATTERN)]
MetadataValue = Annotated[HumanText, Field(max_length=MAX_METADATA_VALUE_LENGTH)]
Metadata = Annotated[
    dict[MetadataKey, MetadataValue],
    Field(
        max_length=MAX_METADATA_KEYS,
        description=f"up to {MAX_METADATA_KEYS} labels: keys match {METADATA_KEY_PATTERN}, "
        f"values are one line of at most {MAX_METADATA_VALUE_LENGTH} characters",
        # patternProperties alone would let any other key through the schema.
        json_schema_extra={"additionalProperties": False},
    ),
]


class CreateAccountRequest(BaseModel):
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {"code": "1000-cash", "name": "Cash", "type": "asset", "currency": "EUR"},
            {
                "code": "4000-sales",
                "name": "Sales",
                "type": "revenue",
                "currency": "EUR",
                "balance_shards": 4,
                "metadata": {"department": "retail"},
            },
        ),
    )

    code: str = Field(pattern=ACCOUNT_CODE_PATTERN, examples=["1000-cash"])
    name: HumanName = Field(examples=["Cash"])
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


class UpdateAccountRequest(PatchBody):
    """Every field optional, none null; at least one must be present."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {"name": "Cash at bank", "metadata": {"bank": "main"}},
            then=patch_schema,
        ),
    )

    name: HumanName | None = None
    status: AccountStatus | None = None
    type: AccountType | None = None
    currency: Annotated[str, Field(pattern=CURRENCY_PATTERN)] | None = None
    balance_shards: Annotated[int, Field(ge=1, le=MAX_SHARDS)] | None = None
    metadata: Metadata | None = None


class LineIn(BaseModel):
    model_config = _STRICT

    account_id: str = Field(min_length=1, max_length=100)
    side: Side
    amount: str = Field(
        min_length=1, max_length=40, examples=["12.34"], json_schema_extra=AMOUNT_SCHEMA
    )
    currency: str | None = Field(
        default=None, pattern=CURRENCY_PATTERN, description="checked against the account's"
    )


class PostEntryRequest(BaseModel):
    """A journal entry: posted at once, or pending (a two-phase hold) when ``pending``."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {
                "description": "Owner's capital",
                "lines": [
                    {"account_id": "acc_cash", "side": "debit", "amount": "500.00"},
                    {"account_id": "acc_equity", "side": "credit", "amount": "500.00"},
                ],
                "currency": "EUR",
                "metadata": {"invoice": "inv_1042"},
            },
            {
                "description": "Card authorization hold",
                "pending": True,
                "timeout_seconds": 3600,
                "lines": [
                    {
                        "account_id": "acc_cash",
                        "side": "debit",
                        "amount": "20.00",
                        "currency": "EUR",
                    },
                    {
                        "account_id": "acc_sales",
                        "side": "credit",
                        "amount": "20.00",
                        "currency": "EUR",
                    },
                ],
            },
        ),
    )

    entry_id: str | None = Field(
        default=None,
        pattern=ENTRY_ID_PATTERN,
        description="choose it to make retries idempotent; generated when absent",
    )
    effective_date: date | None = Field(default=None, description="defaults to today (UTC)")
    description: HumanText = ""
    metadata: Metadata = Field(default_factory=dict)
    currency: str | None = Field(
        default=None, pattern=CURRENCY_PATTERN, description="default for lines without one"
    )
    # Fewer than two lines is the ledger rule ``too_few_lines`` (a 422 with that code),
    # not a shape error; the schema still says what is enforced.
    lines: list[LineIn] = Field(max_length=MAX_LINES, json_schema_extra={"minItems": MIN_LINES})
    pending: bool = False
    # An instant whose UTC form exists: 9999-12-31T23:59:59-14:00 is later than now but
    # has none, and converting it (as the hold's expiry is stored) raised a 500. A naive
    # one is the domain's bad_format.
    expires_at: LaxMoment | None = None
    timeout_seconds: int | None = Field(default=None, ge=1, le=MAX_HOLD_TIMEOUT_SECONDS)


# Entries of one linked batch: they commit in one Firestore transaction, which also bounds
# its writes (see shared.ledger.batches.check_linked_batch).
MAX_LINKED_ENTRIES = 32


class PostLinkedEntriesRequest(BaseModel):
    """Journal entries that post all or none (TigerBeetle's linked transfers)."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {
                "entries": [
                    {
                        "description": "Owner's capital",
                        "currency": "EUR",
                        "lines": [
                            {"account_id": "acc_cash", "side": "debit", "amount": "1000.00"},
                            {"account_id": "acc_equity", "side": "credit", "amount": "1000.00"},
                        ],
                    },
                    {
                        "description": "Cash sale",
                        "currency": "EUR",
                        "metadata": {"invoice": "inv_1043"},
                        "lines": [
                            {"account_id": "acc_cash", "side": "debit", "amount": "50.00"},
                            {"account_id": "acc_sales", "side": "credit", "amount": "50.00"},
                        ],
                    },
                ]
            },
        ),
    )

    entries: list[PostEntryRequest] = Field(
        min_length=1,
        max_length=MAX_LINKED_ENTRIES,
        description="each as POST /v1/journal-entries takes it; posted in order, all or none",
    )


class PostPendingRequest(BaseModel):
    """Post a hold: in full (no amount), one amount (two-line holds), or per line."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {"amount": "15.00", "description": "Captured 15.00 of the hold"},
        ),
    )

    amount: str | None = Field(
        default=None, min_length=1, max_length=40, json_schema_extra=AMOUNT_SCHEMA
    )
    line_amounts: list[Annotated[str, Field(json_schema_extra=AMOUNT_SCHEMA)]] | None = Field(
        default=None, max_length=MAX_LINES
    )
    effective_date: date | None = None
    description: HumanText | None = None
    metadata: Metadata = Field(default_factory=dict)


class VoidPendingRequest(BaseModel):
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {"reason": "Order cancelled"},
        ),
    )

    reason: HumanText = ""


class ReverseEntryRequest(BaseModel):
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {"description": "Reversal of a duplicate posting"},
        ),
    )

    effective_date: date | None = None
    description: HumanText | None = None
    metadata: Metadata = Field(default_factory=dict)


class ClosePeriodRequest(BaseModel):
    """Close the books through a day: no entry may be dated on or before it afterwards."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {"through": "2025-12-31"},
        ),
    )

    through: date = Field(description="the last day of the closed period (before today)")


class ReopenPeriodRequest(BaseModel):
    """Move the end of the closed period back (audited; owners and admins)."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {"through": None, "reason": "Late supplier invoice for December"},
        ),
    )

    through: date | None = Field(
        description="the new last closed day, before the current one; null reopens every day"
    )
    reason: HumanText = Field(min_length=1, max_length=500)


class IncomeStatementQuery(BaseModel):
    """Query parameters arrive as strings: lax, unknown names forbidden."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    date_from: date = Field(alias="from", description="first day, inclusive")
    date_to: date = Field(alias="to", description="last day, inclusive")

    @model_validator(mode="after")
    def _ordered(self) -> IncomeStatementQuery:
        if self.date_from > self.date_to:
            raise PydanticCustomError("invalid_date_range", "from must not be after to")
        return self


class BalanceSheetQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: date = Field(description="the day the balances are taken at (end of day)")


class ListAccountsQuery(BaseModel):
    """Query parameters arrive as strings: lax, unknown names forbidden."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: AccountType | None = None
    status: AccountStatus | None = None
    currency: str | None = Field(default=None, pattern=CURRENCY_PATTERN)
    with_balances: bool = Field(
        default=False, description="include each account's balances (one batched read)"
    )
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, max_length=MAX_CURSOR_LENGTH)


class ListAccountEntriesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    date_from: date | None = None
    date_to: date | None = None
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, max_length=MAX_CURSOR_LENGTH)


# Where a page stopped (shared.pagination turns these into opaque cursors). The
# filters travel along: a cursor is only good for the list it came from.
ACCOUNTS_CURSOR = "ledger.accounts"
ACCOUNT_ENTRIES_CURSOR = "ledger.account_entries"


class AccountsPosition(CursorPosition):
    """The last account of a page of ``GET /v1/accounts``, in document-id order."""

    after: DocumentId
    filters: CursorFilters


class AccountEntriesPosition(CursorPosition):
    """The last entry of a page of an account's entries, by effective date then id."""

    effective_date: date
    after: DocumentId
    account: DocumentId
    filters: CursorFilters


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
    "too_short": "too_short",
    "enum": "not_allowed",
    "forbidden_character": "forbidden_character",
    "blank": "blank",
    "null_not_allowed": "null_not_allowed",
    "empty_update": "empty_update",
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
        # A refusal of the body as a whole (an empty update) is told apart by its code,
        # as the HTTP layer tells it.
        whole = len(errors) == 1 and errors[0].field == "body"
        code = errors[0].code if whole else None
        raise ValidationError("the request is invalid", code=code, errors=errors) from None
