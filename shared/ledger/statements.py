"""Financial statements from the ledger: an income statement and a balance sheet. Pure.

Both are built from posted lines only (standard entries, reversals, hold postings; a
pending hold reserves but has not happened) and grouped per currency, since an account
holds one currency and nothing here converts.

* **Income statement** for ``[date_from, date_to]``: each revenue and expense account's
  movement on its normal side over lines whose entry's ``effective_date`` is in the
  range; ``net_income = revenue - expenses``.
* **Balance sheet** as of a day: each asset, liability and equity account's balance over
  lines dated on or before it, plus **retained earnings**, the revenue minus expenses of
  the same lines, so that ``assets = liabilities + equity + retained earnings`` holds
  whenever every entry balances (``balanced``).

Amounts are minor units here and decimal strings in major units in ``to_json``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared.ledger.model import Account, AccountType, Entry, LineEffect, Side, money_json

INCOME_TYPES = (AccountType.REVENUE, AccountType.EXPENSE)
POSITION_TYPES = (AccountType.ASSET, AccountType.LIABILITY, AccountType.EQUITY)


@dataclass(frozen=True, slots=True)
class StatementLine:
    account: Account
    amount: int  # on the account's normal side, minor units

    def to_json(self) -> dict[str, Any]:
        a = self.account
        return {
            "account_id": a.id,
            "code": a.code,
            "name": a.name,
            "amount": money_json(self.amount, a.currency),
        }


@dataclass(frozen=True, slots=True)
class Section:
    currency: str
    lines: tuple[StatementLine, ...] = ()

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": money_json(self.total, self.currency),
            "accounts": [line.to_json() for line in self.lines],
        }


@dataclass(frozen=True, slots=True)
class IncomeStatement:
    currency: str
    date_from: date
    date_to: date
    revenue: Section
    expenses: Section

    @property
    def net_income(self) -> int:
        return self.revenue.total - self.expenses.total

    def to_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "revenue": self.revenue.to_json(),
            "expenses": self.expenses.to_json(),
            "net_income": money_json(self.net_income, self.currency),
        }


@dataclass(frozen=True, slots=True)
class BalanceSheet:
    currency: str
    as_of: date
    assets: Section
    liabilities: Section
    equity: Section
    retained_earnings: int

    @property
    def balanced(self) -> bool:
        equity = self.equity.total + self.retained_earnings
        return self.assets.total == self.liabilities.total + equity

    def to_json(self) -> dict[str, Any]:
        c = self.currency
        return {
            "currency": c,
            "as_of": self.as_of.isoformat(),
            "assets": self.assets.to_json(),
            "liabilities": self.liabilities.to_json(),
            "equity": {
                **self.equity.to_json(),
                "retained_earnings": money_json(self.retained_earnings, c),
                "total_with_retained_earnings": money_json(
                    self.equity.total + self.retained_earnings, c
                ),
            },
            "balanced": self.balanced,
        }


@dataclass
class _Movements:
    """Per account, debits minus credits of posted lines."""

    net: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, entries: Iterable[Entry], keep: Any) -> None:
        for entry in entries:
            if entry.effect is not LineEffect.POSTED or not keep(entry.effective_date):
                continue
            for line in entry.lines:
                signed = line.amount_minor if line.side is Side.DEBIT else -line.amount_minor
                self.net[line.account_id] += signed

    def normal(self, account: Account) -> int:
        net = self.net.get(account.id, 0)
        return net if account.type.normal_side is Side.DEBIT else -net


def _section(
    accounts: Iterable[Account], movements: _Movements, kind: AccountType, currency: str
) -> Section:
    chosen = sorted(
        (a for a in accounts if a.type is kind and a.currency == currency), key=lambda a: a.code
    )
    return Section(currency, tuple(StatementLine(a, movements.normal(a)) for a in chosen))


def _currencies(accounts: Iterable[Account], types: Iterable[AccountType]) -> list[str]:
    wanted = set(types)
    return sorted({a.currency for a in accounts if a.type in wanted})


def income_statements(
    accounts: Mapping[str, Account], entries: Iterable[Entry], date_from: date, date_to: date
) -> list[IncomeStatement]:
    movements = _Movements()
    movements.add(entries, lambda day: date_from <= day <= date_to)
    every = list(accounts.values())
    return [
        IncomeStatement(
            currency,
            date_from,
            date_to,
            _section(every, movements, AccountType.REVENUE, currency),
            _section(every, movements, AccountType.EXPENSE, currency),
        )
        for currency in _currencies(every, INCOME_TYPES)
    ]


def balance_sheets(
    accounts: Mapping[str, Account], entries: Iterable[Entry], as_of: date
) -> list[BalanceSheet]:
    movements = _Movements()
    movements.add(entries, lambda day: day <= as_of)
    every = list(accounts.values())
    sheets = []
    for currency in _currencies(every, (*POSITION_TYPES, *INCOME_TYPES)):
        revenue = _section(every, movements, AccountType.REVENUE, currency)
        expenses = _section(every, movements, AccountType.EXPENSE, currency)
        sheets.append(
            BalanceSheet(
                currency,
                as_of,
                _section(every, movements, AccountType.ASSET, currency),
                _section(every, movements, AccountType.LIABILITY, currency),
                _section(every, movements, AccountType.EQUITY, currency),
                revenue.total - expenses.total,
            )
        )
    return sheets
