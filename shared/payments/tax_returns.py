"""The tax return use case: read the period's entries of a jurisdiction's accounts.

The figures and what they mean are in ``tax_return.py``. This reads, for the tenant,
every entry dated in the period that touches the jurisdiction's tax-payable or withheld
account (the ledger's ``entries (account_ids CONTAINS, effective_date)`` index, page by
page), the types of the accounts those entries name (to tell revenue lines), and the
ledger's closed period. The cost grows with the period's entries of that jurisdiction,
not with the ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import ValidationError
from shared.ledger.history import check_date_range
from shared.ledger.model import AccountType, Entry
from shared.money import MoneyError, normalize_currency
from shared.payments.ledger_adapter import tax_payable_code, withheld_code
from shared.payments.tax_return import TaxReturn, summarize

if TYPE_CHECKING:
    from shared.ledger.service import LedgerService

# A return covers a month, a quarter or a year; a little more than a leap year at most.
MAX_RETURN_DAYS = 366
_PAGE = 500


class TaxReturnQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    jurisdiction: str = Field(
        pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?(/[A-Z0-9][A-Z0-9_-]{0,63})?$",
        examples=["ES", "CA-QC"],
        description="the jurisdiction the tax is owed to",
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])
    date_from: date = Field(alias="from", description="first day of the period, inclusive")
    date_to: date = Field(
        alias="to", description=f"last day, inclusive; at most {MAX_RETURN_DAYS} days in all"
    )


def tax_return(ledger: LedgerService, tenant_id: str, query: TaxReturnQuery) -> TaxReturn:
    """The return of ``query``'s jurisdiction, currency and period for the tenant."""
    try:
        normalize_currency(query.currency)
    except MoneyError as exc:
        raise ValidationError.for_field("query.currency", str(exc), "unknown_currency") from None
    check_date_range(query.date_from, query.date_to, max_days=MAX_RETURN_DAYS)
    tax_account = _account_id(
        ledger, tenant_id, tax_payable_code(query.jurisdiction, query.currency)
    )
    withheld_account = _account_id(
        ledger, tenant_id, withheld_code(query.jurisdiction, query.currency)
    )
    entries: dict[str, Entry] = {}
    for account_id in (tax_account, withheld_account):
        if account_id is not None:
            for entry in _entries(ledger, tenant_id, account_id, query.date_from, query.date_to):
                entries.setdefault(entry.id, entry)
    named = {line.account_id for entry in entries.values() for line in entry.lines}
    accounts = ledger.store.read_accounts(tenant_id, sorted(named), None)
    revenue = frozenset(
        account_id
        for account_id, account in accounts.items()
        if account is not None and account.type is AccountType.REVENUE
    )
    return summarize(
        sorted(entries.values(), key=lambda e: (e.effective_date, e.id)),
        jurisdiction=query.jurisdiction,
        currency=query.currency,
        date_from=query.date_from,
        date_to=query.date_to,
        tax_account=tax_account,
        withheld_account=withheld_account,
        revenue_accounts=revenue,
        closed_through=ledger.store.read_period(tenant_id).closed_through,
    )


def _account_id(ledger: LedgerService, tenant_id: str, code: str) -> str | None:
    snapshot = ledger.paths.account_code(tenant_id, code).get()
    return str((snapshot.to_dict() or {})["account_id"]) if snapshot.exists else None


def _entries(
    ledger: LedgerService, tenant_id: str, account_id: str, date_from: date, date_to: date
) -> Iterator[Entry]:
    after: tuple[date, str] | None = None
    while True:
        page = ledger.store.page_account_entries(
            tenant_id, account_id, date_from=date_from, date_to=date_to, after=after, limit=_PAGE
        )
        yield from page
        if len(page) < _PAGE:
            return
        after = (page[-1].effective_date, page[-1].id)
