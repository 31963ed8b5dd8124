"""Point-in-time balance arithmetic (shared.ledger.history) and export rows and encoding
(shared.ledger.export): pure functions, no database."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import orjson
import pytest

from shared.errors import ValidationError
from shared.ledger import export, history
from shared.ledger.history import BalanceSnapshot
from shared.ledger.model import (
    AccountType,
    BalanceTotals,
    Entry,
    EntryKind,
    EntryStatus,
    Line,
    Side,
)
from shared.ledger.statements import balance_sheets, income_statements
from tests.unit.ledger.support import account

CREATED = datetime(2026, 1, 1, 9, 30, tzinfo=UTC)
CASH = account("cash")
SALES = account("sales", type=AccountType.REVENUE)
EQUITY = account("equity", type=AccountType.EQUITY)


def entry(
    entry_id: str,
    day: str,
    *lines: tuple[str, str, int],
    kind: EntryKind = EntryKind.STANDARD,
    status: EntryStatus = EntryStatus.POSTED,
    description: str = "",
) -> Entry:
    return Entry(
        id=entry_id,
        kind=kind,
        status=status,
        effective_date=date.fromisoformat(day),
        description=description,
        metadata={},
        lines=tuple(Line(a, Side(side), amount, "EUR") for a, side, amount in lines),
        created_at=CREATED,
        created_by={"user_id": "u1"},
    )


def sale(entry_id: str, day: str, cents: int, **fields: object) -> Entry:
    return entry(entry_id, day, ("cash", "debit", cents), ("sales", "credit", cents), **fields)  # type: ignore[arg-type]


# -- ranges ----------------------------------------------------------------------------


def test_a_range_may_be_one_day_and_up_to_the_cap() -> None:
    history.check_date_range(date(2026, 1, 1), date(2026, 1, 1), max_days=1)
    history.check_date_range(date(2026, 1, 1), date(2026, 12, 31), max_days=366)


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        (date(2026, 2, 1), date(2026, 1, 31), "invalid_date_range"),
        (date(2026, 1, 1), date(2027, 1, 2), "date_range_too_long"),
    ],
)
def test_a_bad_range_names_the_end_of_the_range(start: date, end: date, code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        history.check_date_range(start, end, max_days=history.MAX_HISTORY_DAYS)
    assert [(e.field, e.code) for e in refused.value.errors] == [("query.to", code)]


def test_the_day_before_the_first_day_is_none() -> None:
    assert history.day_before(date.min) is None
    assert history.day_before(date(2026, 3, 1)) == date(2026, 2, 28)


# -- lines and holds ---------------------------------------------------------------------


def test_posted_totals_count_only_the_accounts_posted_lines() -> None:
    entries = [
        sale("e1", "2026-01-02", 1000),
        entry("e2", "2026-01-03", ("cash", "credit", 250), ("sales", "debit", 250)),
        sale("h1", "2026-01-04", 999, kind=EntryKind.PENDING, status=EntryStatus.PENDING),
        sale("h2", "2026-01-04", 500, kind=EntryKind.PENDING, status=EntryStatus.VOIDED),
        entry("e3", "2026-01-05", ("sales", "debit", 7), ("equity", "credit", 7)),
    ]
    total, at_day = history.fold_posted(BalanceTotals(5, 1), entries, "cash", date(2026, 1, 2))

    assert total == BalanceTotals(debits_posted=1005, credits_posted=251)
    assert at_day == BalanceTotals(debits_posted=1005, credits_posted=1)
    assert history.fold_posted(BalanceTotals(), entries, "cash", None)[1] is None


def test_pending_amounts_are_the_open_holds_dated_up_to_the_day() -> None:
    holds = [
        sale("h1", "2026-01-04", 999, kind=EntryKind.PENDING, status=EntryStatus.PENDING),
        entry(
            "h2",
            "2026-01-06",
            ("cash", "credit", 300),
            ("sales", "debit", 300),
            kind=EntryKind.PENDING,
            status=EntryStatus.PENDING,
        ),
        sale("h3", "2026-01-01", 5, kind=EntryKind.PENDING, status=EntryStatus.EXPIRED),
    ]
    assert history.open_holds_through(holds, "cash", date(2026, 1, 3)) == BalanceTotals()
    assert history.open_holds_through(holds, "cash", date(2026, 1, 5)) == BalanceTotals(
        debits_pending=999
    )
    assert history.open_holds_through(holds, "cash", date(2026, 1, 6)) == BalanceTotals(
        debits_pending=999, credits_pending=300
    )


def test_amounts_beyond_a_firestore_integer_stay_exact() -> None:
    huge = 10**15
    entries = [sale(f"e{n}", "2026-01-01", huge) for n in range(10_000)]
    total, _ = history.fold_posted(BalanceTotals(), entries, "cash", None)
    assert total.debits_posted == 10_000 * huge > 2**63
    snapshot = BalanceSnapshot(date(2026, 1, 31), 0, total)
    assert BalanceSnapshot.from_document(snapshot.to_document(CREATED)) == snapshot
    assert snapshot.to_document(CREATED)["debits_posted"] == str(10_000 * huge)


# -- snapshots -------------------------------------------------------------------------


def test_a_snapshot_is_stale_once_a_later_reopen_ends_before_its_day() -> None:
    snapshot = BalanceSnapshot(date(2026, 1, 31), 1, BalanceTotals())
    # Reopens before it was taken (epoch 1) do not matter.
    assert history.snapshot_is_valid(snapshot, ["2025-01-01"])
    assert history.snapshot_is_valid(snapshot, ["2025-01-01", "2026-01-31", "2026-03-31"])
    assert not history.snapshot_is_valid(snapshot, ["2025-01-01", "2026-01-30"])
    assert not history.snapshot_is_valid(snapshot, ["2025-01-01", "2026-06-30", ""])


def test_the_reopen_log_grows_by_each_reopens_new_end() -> None:
    assert history.reopen_log(None) == []
    first = history.reopen_log_after(None, date(2026, 1, 10))
    assert first == ["2026-01-10"]
    assert history.reopen_log_after({history.REOPEN_LOG_FIELD: first}, None) == ["2026-01-10", ""]


@pytest.mark.parametrize(
    ("closed", "since", "until", "expected"),
    [
        (None, None, date(2026, 3, 1), None),
        (date(2026, 1, 31), None, date(2026, 3, 1), date(2026, 1, 31)),
        (date(2026, 1, 31), None, date(2026, 1, 15), date(2026, 1, 15)),
        (date(2026, 1, 31), date(2026, 1, 31), date(2026, 3, 1), None),
        (date(2026, 2, 28), date(2026, 1, 31), date(2026, 3, 1), date(2026, 2, 28)),
    ],
)
def test_a_new_snapshot_is_the_latest_closed_day_read_past_the_last_one(
    closed: date | None, since: date | None, until: date, expected: date | None
) -> None:
    assert history.snapshot_day(closed, since, until) == expected


# -- daily closings ----------------------------------------------------------------------


def test_daily_closings_carry_the_opening_and_add_each_days_lines() -> None:
    entries = [sale("e1", "2026-01-02", 100), sale("e2", "2026-01-04", 50)]
    holds = [
        sale("h0", "2025-12-30", 7, kind=EntryKind.PENDING, status=EntryStatus.PENDING),
        sale("h1", "2026-01-03", 9, kind=EntryKind.PENDING, status=EntryStatus.PENDING),
    ]
    days = history.daily_closings(
        BalanceTotals(1000, 0), entries, holds, "cash", date(2026, 1, 1), date(2026, 1, 4)
    )
    assert [(d.day.day, d.totals) for d in days] == [
        (1, BalanceTotals(1000, 0, 7, 0)),
        (2, BalanceTotals(1100, 0, 7, 0)),
        (3, BalanceTotals(1100, 0, 16, 0)),
        (4, BalanceTotals(1150, 0, 16, 0)),
    ]


def test_a_point_in_time_balance_renders_like_the_accounts_balances() -> None:
    balance = history.PointInTimeBalance(
        CASH, date(2026, 1, 31), BalanceTotals(1050, 50, 0, 200), date(2026, 1, 31), None
    )
    document = balance.to_json()
    assert document["balances"] == {
        "currency": "EUR",
        "normal_side": "debit",
        "posted": "10.00",
        "available": "8.00",
        "posted_debits": "10.50",
        "posted_credits": "0.50",
        "pending_debits": "0.00",
        "pending_credits": "2.00",
    }
    assert document["posted_final"] is True
    later = history.PointInTimeBalance(CASH, date(2026, 2, 1), BalanceTotals(), date(2026, 1, 31))
    assert later.to_json()["posted_final"] is False


# -- export rows and encoding ------------------------------------------------------------


def test_account_rows_carry_a_running_posted_balance_in_a_stable_column_order() -> None:
    rows = export.AccountLineRows(CASH, BalanceTotals(10_000, 2_500, 77, 0))
    first = rows.rows(sale("e1", "2026-01-02", 1234, description="=SUM(A1)"))
    held = rows.rows(
        sale("h1", "2026-01-03", 500, kind=EntryKind.PENDING, status=EntryStatus.PENDING)
    )
    second = rows.rows(
        entry(
            "e2", "2026-01-04", ("cash", "credit", 34), ("cash", "debit", 4), ("sales", "debit", 30)
        )
    )

    assert [r["posted_balance"] for r in [*first, *held, *second]] == [
        "87.34",
        "87.34",
        "87.00",
        "87.04",
    ]
    assert [r["line_index"] for r in second] == [0, 1]
    assert held[0]["counts_as"] == "pending"
    text = export.csv_header(export.ACCOUNT_LINE_COLUMNS) + export.csv_rows(
        first, export.ACCOUNT_LINE_COLUMNS
    )
    assert text.split("\r\n")[0] == ",".join(export.ACCOUNT_LINE_COLUMNS)
    assert text.split("\r\n")[1] == (
        "2026-01-02,e1,0,standard,posted,posted,debit,12.34,EUR,87.34,'=SUM(A1),"
        "2026-01-01T09:30:00+00:00,,"
    )
    decoded = orjson.loads(export.jsonl_rows(first, export.ACCOUNT_LINE_COLUMNS))
    assert list(decoded) == list(export.ACCOUNT_LINE_COLUMNS)
    assert decoded["description"] == "=SUM(A1)"  # JSON is data, not a spreadsheet
    assert decoded["amount"] == "12.34"


def test_csv_quotes_what_needs_quoting_and_reads_back() -> None:
    row = {"currency": "EUR", "as_of": "2026-01-31", "section": "assets", "account_id": "a",
           "code": "1000", "name": 'Cash, "petty"\nbox', "amount": "-1.50"}  # fmt: skip
    text = export.csv_rows([row], export.BALANCE_SHEET_COLUMNS)
    assert list(csv.reader(io.StringIO(text))) == [
        ["EUR", "2026-01-31", "assets", "a", "1000", 'Cash, "petty"\nbox', "-1.50"]
    ]


def test_statement_rows_list_accounts_then_totals_per_section() -> None:
    accounts = {a.id: a for a in (CASH, SALES, EQUITY)}
    entries = [
        entry("e1", "2026-01-02", ("cash", "debit", 10_000), ("equity", "credit", 10_000)),
        sale("e2", "2026-01-05", 2_550),
    ]
    income = list(
        export.income_statement_rows(
            income_statements(accounts, entries, date(2026, 1, 1), date(2026, 1, 31))
        )
    )
    assert [(r["section"], r["code"], r["amount"]) for r in income] == [
        ("revenue", "SALES", "25.50"),
        ("revenue_total", "", "25.50"),
        ("expenses_total", "", "0.00"),
        ("net_income", "", "25.50"),
    ]
    sheet = list(export.balance_sheet_rows(balance_sheets(accounts, entries, date(2026, 1, 31))))
    assert [(r["section"], r["amount"]) for r in sheet] == [
        ("assets", "125.50"),
        ("assets_total", "125.50"),
        ("liabilities_total", "0.00"),
        ("equity", "100.00"),
        ("equity_total", "100.00"),
        ("retained_earnings", "25.50"),
        ("equity_total_with_retained_earnings", "125.50"),
    ]


@pytest.mark.parametrize(
    ("snapshot", "day", "expected"),
    [
        (None, date(2026, 2, 10), True),
        (None, date(2026, 1, 31), True),
        (None, date(2026, 1, 30), False),  # inside the closed period: sum forward
        (date(2026, 1, 10), date(2026, 2, 10), True),  # an older snapshot: the balance is closer
        (date(2026, 1, 31), date(2026, 2, 10), False),  # the closed end's snapshot exists
    ],
)
def test_a_day_after_the_close_without_its_snapshot_is_read_back_from_the_balance(
    snapshot: date | None, day: date, expected: bool
) -> None:
    assert history.starts_from_balance(date(2026, 1, 31), snapshot, day) is expected
