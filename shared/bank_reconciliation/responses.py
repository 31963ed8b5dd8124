"""Response models of the bank statement routes (the OpenAPI document is built from them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class StatementOut(BaseModel):
    id: str
    account_id: str
    currency: str
    format: str = Field(description="csv | camt053")
    status: str = Field(description="importing | matching | matched | reconciled")
    period_start: str
    period_end: str
    line_count: int
    matched_count: int
    unmatched_count: int
    skipped_count: int = Field(description="CAMT.053 entries not booked, left out")
    date_window_days: int
    file_sha256: str
    bank_reference: str
    imported_at: str
    imported_by: dict[str, Any]
    matched_at: str | None
    reconciled_at: str | None
    reconciled_by: dict[str, Any] | None


class LineOut(BaseModel):
    id: str
    number: int = Field(description="the file's line (CSV) or entry (CAMT.053) it came from")
    booking_date: str
    value_date: str | None
    amount: str = Field(description="unsigned, in major units")
    direction: str = Field(description="credit (money in) | debit (money out)")
    signed_amount: str = Field(description="negative for a debit")
    currency: str
    reference: str
    end_to_end_id: str
    description: str
    status: str = Field(description="matched | unmatched")
    entry_ids: list[str]
    match_rule: str | None = Field(description="reference | amount_date | many | manual")
    matched_at: str | None
    matched_by: dict[str, Any] | None
