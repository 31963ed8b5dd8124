"""A tax return's figures from ledger entries: what counts, once, and what is apart."""

from __future__ import annotations

from datetime import UTC, date, datetime

from shared.ledger.model import Entry, EntryKind, EntryStatus, Line, Side
from shared.payments.tax_return import summarize

TAX, WITHHELD, REVENUE, CLEARING = "acc_tax", "acc_withheld", "acc_revenue", "acc_clearing"
JUNE = (date(2025, 6, 1), date(2025, 6, 30))


def _entry(
    entry_id: str,
    *lines: tuple[str, Side, int],
    day: date = date(2025, 6, 10),
    kind: EntryKind = EntryKind.HOLD_POSTING,
    status: EntryStatus = EntryStatus.POSTED,
) -> Entry:
    return Entry(
        id=entry_id,
        kind=kind,
        status=status,
        effective_date=day,
        description="",
        metadata={},
        lines=tuple(Line(account, side, amount, "EUR") for account, side, amount in lines),
        created_at=datetime(2025, 6, 10, tzinfo=UTC),
        created_by={"system": "test"},
    )


D, C = Side.DEBIT, Side.CREDIT
SALE = (
    (CLEARING, D, 106_000),
    (WITHHELD, D, 15_000),
    (REVENUE, C, 100_000),
    (TAX, C, 21_000),
)
REFUND = ((CLEARING, C, 53_000), (WITHHELD, C, 7_500), (REVENUE, D, 50_000), (TAX, D, 10_500))


def _summarize(*entries: Entry, closed_through: date | None = None) -> dict[str, object]:
    return summarize(
        entries,
        jurisdiction="ES",
        currency="EUR",
        date_from=JUNE[0],
        date_to=JUNE[1],
        tax_account=TAX,
        withheld_account=WITHHELD,
        revenue_accounts=frozenset({REVENUE}),
        closed_through=closed_through,
    ).to_json()


def test_a_sale_and_its_partial_refund_net_out() -> None:
    figures = _summarize(_entry("sale", *SALE), _entry("refund", *REFUND, kind=EntryKind.STANDARD))
    assert figures["taxable_sales"] == "500.00"
    assert (figures["tax_collected"], figures["tax_refunded"]) == ("210.00", "105.00")
    assert figures["net_tax"] == "105.00"
    assert figures["withheld_by_customers"] == "75.00"
    assert figures["entries"] == 2


def test_open_holds_entries_outside_the_period_and_repeats_do_not_count() -> None:
    figures = _summarize(
        _entry("sale", *SALE),
        _entry("sale", *SALE),  # read through both accounts: one entry
        _entry("hold", *SALE, kind=EntryKind.PENDING, status=EntryStatus.PENDING),
        _entry("july", *SALE, day=date(2025, 7, 1)),
    )
    assert (figures["tax_collected"], figures["entries"]) == ("210.00", 1)


def test_revenue_without_the_jurisdictions_tax_is_not_its_taxable_sales() -> None:
    untaxed = _entry("untaxed", (CLEARING, D, 5_000), (REVENUE, C, 5_000))
    assert _summarize(untaxed)["taxable_sales"] == "0.00"


def test_a_return_is_final_once_its_period_is_closed() -> None:
    assert _summarize(closed_through=date(2025, 6, 29))["final"] is False
    assert _summarize(closed_through=date(2025, 6, 30))["final"] is True
