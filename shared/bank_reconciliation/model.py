"""Bank statements and their lines, as plain values; ``to_json`` is what the API shows.

Amounts are signed integer minor units inside (positive: money in) and decimal strings
outside, with the direction spelled out (``credit`` for money in, ``debit`` for out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from shared.bank_reconciliation.rules import (
    LineStatus,
    MatchRule,
    StatementFormat,
    StatementStatus,
)
from shared.ledger.model import money_json


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """One line as read from a file, before it is stored."""

    number: int  # the row (CSV: the file's line) or the entry (CAMT.053), from 1
    booking_date: date
    value_date: date | None
    amount_minor: int
    reference: str = ""
    end_to_end_id: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class ParsedStatement:
    """What a file says: its lines, the period it covers, what was left out."""

    lines: tuple[ParsedLine, ...]
    period_start: date
    period_end: date
    bank_reference: str = ""
    skipped: int = 0  # CAMT.053 entries not booked (pending, information only)


@dataclass(frozen=True, slots=True)
class StatementLine:
    id: str
    number: int
    booking_date: date
    value_date: date | None
    amount_minor: int
    currency: str
    reference: str
    end_to_end_id: str
    description: str
    status: LineStatus = LineStatus.UNMATCHED
    entry_ids: tuple[str, ...] = ()
    match_rule: MatchRule | None = None
    matched_at: datetime | None = None
    matched_by: dict[str, Any] | None = None

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(r for r in (self.reference, self.end_to_end_id) if r)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "booking_date": self.booking_date.isoformat(),
            "value_date": _iso(self.value_date),
            "amount": money_json(abs(self.amount_minor), self.currency),
            "direction": "credit" if self.amount_minor > 0 else "debit",
            "signed_amount": money_json(self.amount_minor, self.currency),
            "currency": self.currency,
            "reference": self.reference,
            "end_to_end_id": self.end_to_end_id,
            "description": self.description,
            "status": self.status.value,
            "entry_ids": list(self.entry_ids),
            "match_rule": self.match_rule.value if self.match_rule else None,
            "matched_at": _iso(self.matched_at),
            "matched_by": dict(self.matched_by) if self.matched_by else None,
        }


@dataclass(frozen=True, slots=True)
class BankStatement:
    id: str
    tenant_id: str
    account_id: str
    currency: str
    format: StatementFormat
    status: StatementStatus
    period_start: date
    period_end: date
    line_count: int
    matched_count: int
    date_window_days: int
    file_sha256: str
    imported_at: datetime
    imported_by: dict[str, Any]
    bank_reference: str = ""
    skipped_count: int = 0
    matched_at: datetime | None = None
    reconciled_at: datetime | None = None
    reconciled_by: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def unmatched_count(self) -> int:
        return self.line_count - self.matched_count

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "currency": self.currency,
            "format": self.format.value,
            "status": self.status.value,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "line_count": self.line_count,
            "matched_count": self.matched_count,
            "unmatched_count": self.unmatched_count,
            "skipped_count": self.skipped_count,
            "date_window_days": self.date_window_days,
            "file_sha256": self.file_sha256,
            "bank_reference": self.bank_reference,
            "imported_at": self.imported_at.isoformat(),
            "imported_by": dict(self.imported_by),
            "matched_at": _iso(self.matched_at),
            "reconciled_at": _iso(self.reconciled_at),
            "reconciled_by": dict(self.reconciled_by) if self.reconciled_by else None,
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    """A ledger entry as matching sees it: its net effect on the account and its texts."""

    entry_id: str
    effective_date: date
    amount_minor: int  # debits - credits of its lines on the account
    text: str  # description, metadata values and the id, for reference search
