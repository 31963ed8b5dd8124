"""Point-in-time balances: the arithmetic and the rules, without I/O.

An account's balance **as of a day D** counts the lines of every entry whose
``effective_date`` is on or before D, each as the account's current balance counts
it (``line_effect``): posted lines in the posted totals, the lines of holds still
open in the pending totals. So the balance as of the latest effective date equals
the account's current balance, and every as-of balance is a sum of lines.

* **Posted** totals as of D are final once D is inside the closed period: no entry
  dated on or before ``closed_through`` can land, and posted lines never change.
* **Pending** totals are the holds dated on or before D that are *still open now*:
  a hold has no dated history of its own state (it is posted, voided or expired at
  an instant, not on an effective date), so pending amounts are never final.

**Snapshots** make the cost independent of the account's history. The posted totals
at a closed day C are written once as a snapshot (``BalanceSnapshot``); the balance
as of D is then the latest valid snapshot on or before D plus the posted lines of
the entries dated after it, up to D; without a snapshot of the closed end yet, the end's
totals are read back from the account's balance less the entries dated after the end
(:func:`starts_from_balance`). A snapshot is valid as long as the period has
not been reopened to before its day since it was taken: every reopen appends its
new end to the period document's reopen log (``period_reopens``), a snapshot
records how long that log was when it was taken (its ``epoch``), and it is valid
if no later reopen ended before its day (:func:`snapshot_is_valid`).

Amounts are Python integers of minor units here (exact at any size); a snapshot
stores them as decimal strings, since a total may exceed a Firestore integer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from shared.errors import FieldError, ValidationError
from shared.ledger.model import (
    Account,
    Balances,
    BalanceTotals,
    Entry,
    LineEffect,
)

# A balance history answers one closing balance per day; longer ranges are refused
# (``date_range_too_long``) rather than paged: a year of days is a small answer.
MAX_HISTORY_DAYS = 366
REOPEN_LOG_FIELD = "period_reopens"
# The reopen log's entry for "every day reopened" (``through: null``).
REOPENED_EVERYTHING = ""


# -- parameters ------------------------------------------------------------------------


def check_date_range(date_from: date, date_to: date, *, max_days: int | None = None) -> None:
    """Refuse a range that ends before it starts, or spans more than ``max_days`` days."""
    if date_from > date_to:
        raise ValidationError(
            "the range ends before it starts",
            errors=[FieldError("query.to", "must not be before from", "invalid_date_range")],
        )
    days = (date_to - date_from).days + 1
    if max_days is not None and days > max_days:
        raise ValidationError(
            f"the range spans {days} days; at most {max_days} are answered at once",
            errors=[
                FieldError(
                    "query.to",
                    f"must be at most {max_days - 1} days after from",
                    "date_range_too_long",
                )
            ],
        )


def day_before(day: date) -> date | None:
    """The previous day, or None before the first day a date can name."""
    return None if day == date.min else day - timedelta(days=1)


# -- lines -----------------------------------------------------------------------------


def account_totals(entry: Entry, account_id: str) -> BalanceTotals:
    """What the entry's lines on the account add to its totals, as they count now."""
    effect = entry.effect
    total = BalanceTotals()
    for line in entry.lines:
        if line.account_id == account_id:
            total += BalanceTotals.of_line(line.side, line.amount_minor, effect)
    return total


def posted_only(totals: BalanceTotals) -> BalanceTotals:
    return BalanceTotals(totals.debits_posted, totals.credits_posted)


def pending_only(totals: BalanceTotals) -> BalanceTotals:
    return BalanceTotals(
        debits_pending=totals.debits_pending, credits_pending=totals.credits_pending
    )


def open_holds_through(holds: Iterable[Entry], account_id: str, day: date) -> BalanceTotals:
    """The pending totals of the account's open holds dated on or before ``day``."""
    total = BalanceTotals()
    for hold in holds:
        if hold.effect is LineEffect.PENDING and hold.effective_date <= day:
            total += pending_only(account_totals(hold, account_id))
    return total


# -- snapshots -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BalanceSnapshot:
    """An account's posted totals after every entry dated on or before ``through``."""

    through: date
    epoch: int  # the length of the reopen log when it was taken
    totals: BalanceTotals  # posted totals only

    def to_document(self, computed_at: datetime) -> dict[str, Any]:
        return {
            "through": self.through.isoformat(),
            "epoch": self.epoch,
            "debits_posted": str(self.totals.debits_posted),
            "credits_posted": str(self.totals.credits_posted),
            "computed_at": computed_at,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> BalanceSnapshot:
        return cls(
            through=date.fromisoformat(document["through"]),
            epoch=int(document["epoch"]),
            totals=BalanceTotals(int(document["debits_posted"]), int(document["credits_posted"])),
        )


def reopen_log(period_document: Mapping[str, Any] | None) -> list[str]:
    """The new ends of every reopen so far, oldest first ("" for "everything")."""
    log = (period_document or {}).get(REOPEN_LOG_FIELD) or []
    return [str(item) for item in log]


def reopen_log_after(period_document: Mapping[str, Any] | None, through: date | None) -> list[str]:
    """The reopen log once a reopen to ``through`` (None: every day) is recorded."""
    return [*reopen_log(period_document), through.isoformat() if through else REOPENED_EVERYTHING]


def snapshot_is_valid(snapshot: BalanceSnapshot, reopens: Sequence[str]) -> bool:
    """Whether no reopen since the snapshot was taken moved the period's end before it.

    A reopen to R makes days after R open again, so an entry dated after R (and maybe
    before the snapshot's day) may land: snapshots after R are stale for good.
    """
    for end in reopens[snapshot.epoch :]:
        if end == REOPENED_EVERYTHING or date.fromisoformat(end) < snapshot.through:
            return False
    return True


def snapshot_day(closed_through: date | None, since: date | None, until: date) -> date | None:
    """The day worth a new snapshot after reading entries dated in (since, until].

    The latest closed day the read covered, if it is after the snapshot it started
    from: its posted totals are final, and the next read starts there.
    """
    if closed_through is None:
        return None
    day = min(closed_through, until)
    if since is not None and day <= since:
        return None
    return day


def starts_from_balance(closed_through: date, snapshot_through: date | None, day: date) -> bool:
    """Whether the balance as of ``day`` is best read back from the account's balance.

    When the day is at or after the closed end and no snapshot of that end exists yet,
    the end's posted totals are the current balance less the posted lines of every entry
    dated after it (the open period), which costs less than summing the history up to it.
    """
    return day >= closed_through and (snapshot_through is None or snapshot_through < closed_through)


def fold_posted(
    opening: BalanceTotals, entries: Iterable[Entry], account_id: str, remember: date | None
) -> tuple[BalanceTotals, BalanceTotals | None]:
    """Posted totals after ``entries`` (the account's, in any order), from ``opening``;
    and the same after only those dated on or before ``remember`` (None if not asked)."""
    total = posted_only(opening)
    remembered = total if remember is not None else None
    for entry in entries:
        delta = posted_only(account_totals(entry, account_id))
        total += delta
        if remembered is not None and remember is not None and entry.effective_date <= remember:
            remembered += delta
    return total, remembered


@dataclass(frozen=True, slots=True)
class PostedAsOf:
    """Posted totals at the end of a day, the snapshot the read started from (None when
    it started from the balance or from nothing), and the snapshot worth keeping."""

    posted: BalanceTotals
    started_from: BalanceSnapshot | None
    new_snapshot: BalanceSnapshot | None


def posted_as_of(
    day: date,
    *,
    closed_through: date | None,
    epoch: int,
    snapshot: BalanceSnapshot | None,
    current: Callable[[], BalanceTotals],
    entries: Callable[[date | None, date | None], Iterable[Entry]],
    account_id: str,
) -> PostedAsOf:
    """The account's posted totals at the end of ``day``, reading only the open part.

    ``snapshot`` is the latest valid snapshot on or before ``day`` (or None);
    ``current()`` the account's totals now; ``entries(after, through)`` its entries
    dated after ``after`` (None: from the first) up to ``through`` (None: every later
    day). ``epoch`` is the length of the reopen log, recorded on a new snapshot.
    """
    since = snapshot.through if snapshot else None
    if closed_through is not None and starts_from_balance(closed_through, since, day):
        # The closed day's totals are the balance less every entry dated after it: the
        # open period's entries, not the account's history.
        after_close, through_day = fold_posted(
            BalanceTotals(), entries(closed_through, None), account_id, day
        )
        at_close = posted_only(current()) - after_close
        return PostedAsOf(
            at_close + (through_day or BalanceTotals()),
            None,
            BalanceSnapshot(closed_through, epoch, at_close),
        )
    remember = snapshot_day(closed_through, since, day)
    opening = snapshot.totals if snapshot else BalanceTotals()
    posted, remembered = fold_posted(opening, entries(since, day), account_id, remember)
    new_snapshot = None
    if remember is not None and remembered is not None:
        new_snapshot = BalanceSnapshot(remember, epoch, remembered)
    return PostedAsOf(posted, snapshot, new_snapshot)


# -- answers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PointInTimeBalance:
    account: Account
    as_of: date
    totals: BalanceTotals
    closed_through: date | None
    snapshot_through: date | None = None

    @property
    def final(self) -> bool:
        """The posted balance can no longer change (the day is in the closed period)."""
        return self.closed_through is not None and self.as_of <= self.closed_through

    def to_json(self) -> dict[str, Any]:
        a = self.account
        return {
            "account_id": a.id,
            "as_of": self.as_of.isoformat(),
            "balances": Balances(a.currency, a.normal_side, self.totals).to_json(),
            "posted_final": self.final,
            "closed_through": self.closed_through.isoformat() if self.closed_through else None,
            "snapshot_through": (
                self.snapshot_through.isoformat() if self.snapshot_through else None
            ),
        }


@dataclass(frozen=True, slots=True)
class DailyBalance:
    day: date
    totals: BalanceTotals


@dataclass(frozen=True, slots=True)
class BalanceHistory:
    account: Account
    date_from: date
    date_to: date
    days: tuple[DailyBalance, ...]
    closed_through: date | None

    def to_json(self) -> dict[str, Any]:
        a = self.account
        return {
            "account_id": a.id,
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "closed_through": self.closed_through.isoformat() if self.closed_through else None,
            "days": [
                {
                    "date": day.day.isoformat(),
                    "balances": Balances(a.currency, a.normal_side, day.totals).to_json(),
                }
                for day in self.days
            ],
        }


def daily_closings(
    opening: BalanceTotals,
    entries: Iterable[Entry],
    open_holds: Sequence[Entry],
    account_id: str,
    date_from: date,
    date_to: date,
) -> list[DailyBalance]:
    """The balance at the end of every day of ``[date_from, date_to]``.

    ``opening`` holds the posted totals at the end of the day before ``date_from``;
    ``entries`` are the account's entries dated in the range, in date order;
    ``open_holds`` its open holds dated up to ``date_to`` (their pending amounts count
    from their own day on).
    """
    posted = posted_only(opening)
    pending_by_day: dict[date, BalanceTotals] = {}
    before = BalanceTotals()
    for hold in open_holds:
        amount = open_holds_through([hold], account_id, date_to)
        if hold.effective_date < date_from:
            before += amount
        else:
            pending_by_day[hold.effective_date] = (
                pending_by_day.get(hold.effective_date, BalanceTotals()) + amount
            )
    posted_by_day: dict[date, BalanceTotals] = {}
    for entry in entries:
        if not date_from <= entry.effective_date <= date_to:
            continue
        posted_by_day[entry.effective_date] = posted_by_day.get(
            entry.effective_date, BalanceTotals()
        ) + posted_only(account_totals(entry, account_id))
    pending = before
    closings = []
    day = date_from
    while True:
        posted += posted_by_day.get(day, BalanceTotals())
        pending += pending_by_day.get(day, BalanceTotals())
        closings.append(DailyBalance(day, posted + pending))
        if day == date_to:
            return closings
        day += timedelta(days=1)
