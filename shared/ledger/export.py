"""Exports of the ledger as CSV or JSON Lines: row shapes and encoding, without I/O.

Every export has a fixed column order (below; new columns are only ever appended),
money as decimal strings in major units with the currency's decimals (never a
float), dates in ISO 8601. CSV follows RFC 4180 (a header row, ``\\r\\n`` line ends,
quotes where needed). JSON Lines has one object per line, with the CSV's columns
as keys in the same order.

Free text that a spreadsheet would run as a formula (a description or an account
name starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is
prefixed with ``'`` in CSV only; amounts are never touched (``-12.50`` is money).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import orjson

from shared.ledger.model import Account, Balances, BalanceTotals, Entry, LineEffect, money_json
from shared.ledger.statements import BalanceSheet, IncomeStatement

ExportFormat = Literal["csv", "jsonl"]
CONTENT_TYPES: Mapping[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
}

ACCOUNT_LINE_COLUMNS = (
    "effective_date",
    "entry_id",
    "line_index",
    "kind",
    "status",
    "counts_as",
    "side",
    "amount",
    "currency",
    "posted_balance",
    "description",
    "created_at",
    "reverses_entry_id",
    "pending_entry_id",
)
INCOME_STATEMENT_COLUMNS = (
    "currency",
    "from",
    "to",
    "section",
    "account_id",
    "code",
    "name",
    "amount",
)
BALANCE_SHEET_COLUMNS = ("currency", "as_of", "section", "account_id", "code", "name", "amount")
_TEXT_COLUMNS = frozenset({"description", "name", "code"})
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class AccountLineRows:
    """The rows of one account's lines, entry after entry, with its running posted balance.

    ``opening`` is the account's posted totals at the end of the day before the
    export's first day; ``posted_balance`` is the posted balance on the account's
    normal side after each line (lines that count as pending or not at all leave it).
    """

    def __init__(self, account: Account, opening: BalanceTotals) -> None:
        self.account = account
        self._totals = BalanceTotals(opening.debits_posted, opening.credits_posted)

    def rows(self, entry: Entry) -> list[dict[str, Any]]:
        account = self.account
        effect = entry.effect
        rows = []
        for index, line in enumerate(entry.lines):
            if line.account_id != account.id:
                continue
            if effect is LineEffect.POSTED:
                self._totals += BalanceTotals.of_line(line.side, line.amount_minor, effect)
            posted = Balances(account.currency, account.normal_side, self._totals).posted
            rows.append(
                {
                    "effective_date": entry.effective_date.isoformat(),
                    "entry_id": entry.id,
                    "line_index": index,
                    "kind": entry.kind.value,
                    "status": entry.status.value,
                    "counts_as": effect.value,
                    "side": line.side.value,
                    "amount": money_json(line.amount_minor, line.currency),
                    "currency": line.currency,
                    "posted_balance": money_json(posted, account.currency),
                    "description": entry.description,
                    "created_at": entry.created_at.isoformat(),
                    "reverses_entry_id": entry.reverses_entry_id or "",
                    "pending_entry_id": entry.pending_entry_id or "",
                }
            )
        return rows


def income_statement_rows(statements: Iterable[IncomeStatement]) -> Iterator[dict[str, Any]]:
    """Per currency: each revenue account, the revenue total, each expense account, the
    expenses total, then net income (totals leave the account columns empty)."""
    for statement in statements:
        document = statement.to_json()
        common = {"currency": statement.currency, "from": document["from"], "to": document["to"]}
        for section in ("revenue", "expenses"):
            yield from _section_rows(common, section, document[section])
        yield _total_row(common, "net_income", document["net_income"])


def balance_sheet_rows(sheets: Iterable[BalanceSheet]) -> Iterator[dict[str, Any]]:
    """Per currency: assets, liabilities and equity (each account, then the section's
    total), retained earnings, and equity with retained earnings."""
    for sheet in sheets:
        document = sheet.to_json()
        common = {"currency": sheet.currency, "as_of": document["as_of"]}
        for section in ("assets", "liabilities", "equity"):
            yield from _section_rows(common, section, document[section])
        equity = document["equity"]
        yield _total_row(common, "retained_earnings", equity["retained_earnings"])
        yield _total_row(
            common, "equity_total_with_retained_earnings", equity["total_with_retained_earnings"]
        )


def _section_rows(
    common: Mapping[str, Any], section: str, document: Mapping[str, Any]
) -> Iterator[dict[str, Any]]:
    for account in document["accounts"]:
        yield {
            **common,
            "section": section,
            "account_id": account["account_id"],
            "code": account["code"],
            "name": account["name"],
            "amount": account["amount"],
        }
    yield _total_row(common, f"{section}_total", document["total"])


def _total_row(common: Mapping[str, Any], section: str, amount: str) -> dict[str, Any]:
    return {
        **common,
        "section": section,
        "account_id": "",
        "code": "",
        "name": "",
        "amount": amount,
    }


# -- encoding --------------------------------------------------------------------------


def csv_header(columns: Sequence[str]) -> str:
    return _csv_line(list(columns))


def csv_rows(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """The rows as CSV lines, in ``columns`` order (an empty string for no rows)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_csv_cell(name, row.get(name, "")) for name in columns])
    return buffer.getvalue()


def jsonl_rows(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> bytes:
    """The rows as JSON Lines, keys in ``columns`` order."""
    return b"".join(
        orjson.dumps({name: row.get(name, "") for name in columns}) + b"\n" for row in rows
    )


def encode_rows(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], export_format: ExportFormat
) -> bytes:
    if export_format == "csv":
        return csv_rows(rows, columns).encode("utf-8")
    return jsonl_rows(rows, columns)


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


def _csv_cell(column: str, value: Any) -> str:
    text = "" if value is None else str(value)
    if column in _TEXT_COLUMNS and text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text
