"""Query and response models of point-in-time balances and exports (shapes only).

Query parameters arrive as strings: lax parsing, unknown names refused. Whether a
range is ordered and short enough is a rule (``history.check_date_range``), so its
refusal names ``query.to`` with a stable code.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.ledger.export import ACCOUNT_LINE_COLUMNS
from shared.ledger.history import MAX_HISTORY_DAYS
from shared.ledger.responses import BalancesOut


class BalanceAsOfQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: date = Field(
        description="the day (effective date): the balance after every entry dated on or before it"
    )


class BalanceHistoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    date_from: date = Field(alias="from", description="first day, inclusive")
    date_to: date = Field(
        alias="to", description=f"last day, inclusive; at most {MAX_HISTORY_DAYS} days in all"
    )


class AccountExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    date_from: date = Field(alias="from", description="first effective date, inclusive")
    date_to: date = Field(alias="to", description="last effective date, inclusive")
    format: Literal["csv", "jsonl"] = Field(
        default="csv",
        description="csv (RFC 4180, header row) or jsonl (one JSON object per line); columns: "
        + ", ".join(ACCOUNT_LINE_COLUMNS),
    )


class PointInTimeBalanceOut(BaseModel):
    account_id: str
    as_of: str
    balances: BalancesOut
    posted_final: bool = Field(
        description="the posted balance can no longer change: as_of is in the closed period"
    )
    closed_through: str | None
    snapshot_through: str | None = Field(
        description="the closed day whose stored balance the answer started from, if any"
    )


class DailyBalanceOut(BaseModel):
    date: str
    balances: BalancesOut


class BalanceHistoryOut(BaseModel):
    account_id: str
    from_: str = Field(alias="from")
    to: str
    closed_through: str | None
    days: list[DailyBalanceOut] = Field(description="the closing balance of every day, in order")
