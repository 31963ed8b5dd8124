"""Request models of the bank statement routes and the data of their event (shapes only).

What a field means together with the others (CSV mapping present for CSV only, an
amount column or a debit and a credit column) is checked by the parsers, each refusal
a 422 naming its field, like the file's own problems.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.bank_reconciliation.rules import (
    DEFAULT_DATE_WINDOW_DAYS,
    LINE_ID_PATTERN,
    MAX_CONTENT_BYTES,
    MAX_DATE_WINDOW_DAYS,
    MAX_GROUP_SIZE,
    STATEMENT_ID_PATTERN,
    LineStatus,
    StatementFormat,
)
from shared.http.examples import body_examples
from shared.pagination import PageQuery

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)
# Base64 of the largest file, with room for its padding.
MAX_CONTENT_CHARS = (MAX_CONTENT_BYTES + 2) // 3 * 4
ENTRY_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,119}$"


class DateFormat(StrEnum):
    """The date layouts banks export; named, so no format string reaches a parser."""

    ISO = "YYYY-MM-DD"
    DAY_MONTH_YEAR_DOTS = "DD.MM.YYYY"
    DAY_MONTH_YEAR_SLASHES = "DD/MM/YYYY"
    DAY_MONTH_YEAR_DASHES = "DD-MM-YYYY"
    MONTH_DAY_YEAR_SLASHES = "MM/DD/YYYY"
    COMPACT = "YYYYMMDD"


# A column by its header's name, or by its position (1 is the first column).
Column = Annotated[
    str | Annotated[int, Field(ge=1, le=200)],
    Field(description="the header's name, or the column's position from 1"),
]


class CsvColumns(BaseModel):
    model_config = _STRICT

    date: Column = Field(description="the booking date")
    value_date: Column | None = None
    amount: Column | None = Field(
        default=None, description="one signed amount: negative for money out (a debit)"
    )
    debit: Column | None = Field(
        default=None, description="money out, with credit instead of amount"
    )
    credit: Column | None = Field(
        default=None, description="money in, with debit instead of amount"
    )
    reference: Column | None = None
    description: Column | None = None
    currency: Column | None = Field(default=None, description="checked against the account's")


class CsvMapping(BaseModel):
    model_config = _STRICT

    columns: CsvColumns
    has_header: bool = True
    delimiter: Literal[",", ";", "\t", "|"] = ","
    encoding: Literal["utf-8", "iso-8859-1", "windows-1252"] = "utf-8"
    date_format: DateFormat = DateFormat.ISO
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: Literal["", ".", ",", " ", "'"] = ""


class ImportStatementRequest(BaseModel):
    """A bank statement file for one ledger account (the bank account it mirrors)."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {
                "account_id": "acc_cash",
                "format": "csv",
                "content": "Date,Amount,Reference,Text\n"
                "2026-11-02,1250.00,INV-1042,Customer payment\n"
                "2026-11-03,-89.90,,Office supplies\n",
                "csv": {
                    "columns": {
                        "date": "Date",
                        "amount": "Amount",
                        "reference": "Reference",
                        "description": "Text",
                    }
                },
            },
            {
                "account_id": "acc_cash",
                "format": "csv",
                "content": "Buchungstag;Soll;Haben;Verwendungszweck\n"
                "02.11.2026;;1.250,00;INV-1043\n",
                "csv": {
                    "columns": {
                        "date": "Buchungstag",
                        "debit": "Soll",
                        "credit": "Haben",
                        "description": "Verwendungszweck",
                    },
                    "delimiter": ";",
                    "date_format": "DD.MM.YYYY",
                    "decimal_separator": ",",
                    "thousands_separator": ".",
                },
                "date_window_days": 5,
            },
        ),
    )

    # The shape of a ledger document id: no '/', no reserved '__x__' name.
    account_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$", examples=["acc_06H3SWEPST6BPXC4RFPQ33XGXG"]
    )
    format: StatementFormat
    content: str = Field(
        min_length=1,
        max_length=MAX_CONTENT_CHARS,
        description=f"the file, as text or base64; at most {MAX_CONTENT_BYTES} bytes decoded",
    )
    content_encoding: Literal["text", "base64"] = "text"
    csv: CsvMapping | None = Field(default=None, description="required for CSV, refused otherwise")
    date_window_days: int = Field(
        default=DEFAULT_DATE_WINDOW_DAYS,
        ge=0,
        le=MAX_DATE_WINDOW_DAYS,
        description="how many days an entry's date may differ from the line's to match it",
    )


class MatchLineRequest(BaseModel):
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples({"entry_ids": ["ent_sale_1042"]}),
    )

    entry_ids: list[Annotated[str, Field(pattern=ENTRY_ID)]] = Field(
        min_length=1,
        max_length=MAX_GROUP_SIZE * 5,
        description="the entries whose net effect on the account is the line's amount",
    )


class StatementPath(BaseModel):
    model_config = ConfigDict(extra="forbid")
    statement_id: str = Field(pattern=STATEMENT_ID_PATTERN)


class LinePath(StatementPath):
    line_id: str = Field(pattern=LINE_ID_PATTERN)


class StatementsQuery(PageQuery):
    """``limit`` and ``cursor``; the newest import first."""


class LinesQuery(PageQuery):
    status: LineStatus | None = Field(default=None, description="only lines in this state")


class UnmatchedEntriesQuery(PageQuery):
    """``limit`` and ``cursor``; by effective date. A page may hold fewer entries than
    ``limit`` (matched ones are left out); ``next_cursor`` says whether more follow."""


class StatementImportedData(BaseModel):
    """The data of ``bank_statement.imported``."""

    model_config = _STRICT

    statement_id: str = Field(pattern=STATEMENT_ID_PATTERN)
    account_id: str = Field(min_length=1, max_length=100)
