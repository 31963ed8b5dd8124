"""A tax return's figures for one jurisdiction, currency and period, from the ledger.

Payments book the tax of every sale they settle to ``payments:tax:{J}:{CUR}`` and what
buyers withheld to ``payments:withheld:{J}:{CUR}`` (``ledger_adapter.py``). A return for
jurisdiction J over a period adds up the posted entries dated in it that touch those
accounts:

* **tax collected**: credits to J's tax account (captures), and **tax refunded**: its
  debits (refunds), so refunds are netted: **net tax** = collected - refunded, what is
  owed to J for the period;
* **taxable sales**: the net revenue of the entries that carry J's tax (revenue credits
  less revenue debits), the base the tax was charged on;
* **withheld by customers**: debits less credits to J's withheld account, the tax
  buyers paid to J on the tenant's behalf (an income-tax prepayment, not VAT: it is
  shown apart and never netted against the tax).

Entries count by their effective date: the day the payment was captured or refunded
(cash accounting, as the ledger books it), not the invoice's date.

Only the output side exists here: Tributum books sales, not the tenant's purchases, so
input tax is not part of these figures. A return is as final as its period: figures for
days inside the ledger's closed period can no longer change.

Pure: no I/O. ``tax_returns.py`` reads the entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.ledger.model import Entry, LineEffect, Side, line_effect, money_json

RETURN_COLUMNS = ("box", "description", "amount", "currency")


@dataclass(frozen=True, slots=True)
class TaxReturn:
    jurisdiction: str
    currency: str
    date_from: date
    date_to: date
    taxable_sales: int
    tax_collected: int
    tax_refunded: int
    withheld_by_customers: int
    entries: int
    final: bool

    @property
    def net_tax(self) -> int:
        return self.tax_collected - self.tax_refunded

    def to_json(self) -> dict[str, Any]:
        c = self.currency
        return {
            "jurisdiction": self.jurisdiction,
            "currency": c,
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "taxable_sales": money_json(self.taxable_sales, c),
            "tax_collected": money_json(self.tax_collected, c),
            "tax_refunded": money_json(self.tax_refunded, c),
            "net_tax": money_json(self.net_tax, c),
            "withheld_by_customers": money_json(self.withheld_by_customers, c),
            "entries": self.entries,
            "final": self.final,
        }

    def rows(self) -> Iterator[dict[str, str]]:
        """The return as boxes, for a CSV export."""
        boxes = (
            ("taxable_sales", "Sales taxed by the jurisdiction, net of tax", self.taxable_sales),
            ("tax_collected", "Tax charged on sales", self.tax_collected),
            ("tax_refunded", "Tax given back on refunds", self.tax_refunded),
            ("net_tax", "Tax due for the period", self.net_tax),
            (
                "withheld_by_customers",
                "Withheld by customers for the jurisdiction",
                self.withheld_by_customers,
            ),
        )
        for box, description, amount in boxes:
            yield {
                "box": box,
                "description": description,
                "amount": money_json(amount, self.currency),
                "currency": self.currency,
            }


def summarize(
    entries: Iterable[Entry],
    *,
    jurisdiction: str,
    currency: str,
    date_from: date,
    date_to: date,
    tax_account: str | None,
    withheld_account: str | None,
    revenue_accounts: frozenset[str],
    closed_through: date | None,
) -> TaxReturn:
    """The return of the posted ``entries`` (each counted once, whatever it touches)."""
    collected = refunded = sales = withheld = 0
    counted: set[str] = set()
    for entry in entries:
        if entry.id in counted or not date_from <= entry.effective_date <= date_to:
            continue
        if line_effect(entry.kind, entry.status) is not LineEffect.POSTED:
            continue
        counted.add(entry.id)
        taxed = False
        entry_sales = 0
        for line in entry.lines:
            credit = line.side is Side.CREDIT
            if line.account_id == tax_account:
                taxed = True
                if credit:
                    collected += line.amount_minor
                else:
                    refunded += line.amount_minor
            elif line.account_id == withheld_account:
                withheld += -line.amount_minor if credit else line.amount_minor
            elif line.account_id in revenue_accounts:
                entry_sales += line.amount_minor if credit else -line.amount_minor
        if taxed:
            sales += entry_sales
    return TaxReturn(
        jurisdiction=jurisdiction,
        currency=currency,
        date_from=date_from,
        date_to=date_to,
        taxable_sales=sales,
        tax_collected=collected,
        tax_refunded=refunded,
        withheld_by_customers=withheld,
        entries=len(counted),
        final=closed_through is not None and date_to <= closed_through,
    )
