"""Response models of the ledger's HTTP routes: the shapes ``to_json()`` produces.

They document the API (the router builds each function's OpenAPI document from
them) and the inbound topic's results; handlers return the ledger's own values,
whose ``to_json()`` writes exactly these fields. Money is a decimal string in
major units, never a number.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class AccountOut(BaseModel):
    id: str
    code: str
    name: str
    type: str = Field(description="asset | liability | equity | revenue | expense")
    currency: str
    status: str = Field(description="active | frozen | closed")
    normal_side: str = Field(description="debit | credit: the side that increases the balance")
    balance_constraint: str | None
    balance_shards: int
    metadata: dict[str, str]
    created_at: str
    updated_at: str


class BalancesOut(BaseModel):
    currency: str
    normal_side: str
    posted: str = Field(description="posted balance on the account's normal side")
    available: str = Field(description="posted minus pending amounts against the normal side")
    posted_debits: str
    posted_credits: str
    pending_debits: str
    pending_credits: str


class AccountWithBalancesOut(AccountOut):
    balances: BalancesOut


class AccountListItemOut(AccountOut):
    balances: BalancesOut | None = Field(
        default=None, description="present when the list was asked with_balances=true"
    )


class LineOut(BaseModel):
    index: int
    account_id: str
    side: str
    amount: str = Field(examples=["12.34"])
    currency: str


class EntryOut(BaseModel):
    id: str
    kind: str = Field(description="standard | pending | hold_posting | reversal")
    status: str = Field(description="posted | pending | voided | expired")
    effective_date: str
    description: str
    metadata: dict[str, str]
    lines: list[LineOut]
    created_at: str
    created_by: dict[str, str]
    expires_at: str | None
    pending_entry_id: str | None
    posting_entry_id: str | None
    reverses_entry_id: str | None
    reversed_by_entry_id: str | None
    resolved_at: str | None
    batch_id: str | None = Field(
        default=None, description="the linked batch the entry was posted in, all or none"
    )


class LinkedEntriesOut(BaseModel):
    batch_id: str = Field(description="recorded on each entry of the batch")
    entries: list[EntryOut] = Field(description="the posted entries, in the request's order")


class HoldTransitionOut(BaseModel):
    hold: EntryOut
    posting: EntryOut | None = Field(description="the entry that posted the hold, if posted")


class ReversalOut(BaseModel):
    original: EntryOut
    reversal: EntryOut


class TrialBalanceRowOut(BaseModel):
    account_id: str
    code: str
    name: str
    type: str
    status: str
    debit: str
    credit: str


class CurrencyTrialBalanceOut(BaseModel):
    currency: str
    accounts: list[TrialBalanceRowOut]
    total_debits: str
    total_credits: str
    net: str = Field(description="debits minus credits: zero when the books balance")
    balanced: bool


class TrialBalanceOut(BaseModel):
    as_of: str
    balanced: bool
    currencies: list[CurrencyTrialBalanceOut]


class DiscrepancyOut(BaseModel):
    kind: str = Field(
        description="balance_drift | currency_not_zero_sum | entry_unbalanced | "
        "unknown_account | currency_mismatch | constraint_violated"
    )
    message: str
    account_id: str | None
    entry_id: str | None
    currency: str | None
    field: str | None
    stored: str | None
    recomputed: str | None


class ReconciliationReportOut(BaseModel):
    id: str
    tenant_id: str
    status: str = Field(description="clean | discrepancies")
    started_at: str
    completed_at: str
    as_of: str
    accounts_checked: int
    entries_checked: int
    discrepancy_count: int
    discrepancies: list[DiscrepancyOut] = Field(description="the first 200 in full")


class LedgerPeriodOut(BaseModel):
    closed_through: str | None = Field(
        description="the last day of the closed period; entries dated on or before it are refused"
    )
    changed_at: str | None
    changed_by: dict[str, Any] | None


class StatementLineOut(BaseModel):
    account_id: str
    code: str
    name: str
    amount: str = Field(description="on the account's normal side")


class StatementSectionOut(BaseModel):
    total: str
    accounts: list[StatementLineOut]


class IncomeStatementOut(BaseModel):
    currency: str
    from_: str = Field(alias="from")
    to: str
    revenue: StatementSectionOut
    expenses: StatementSectionOut
    net_income: str


class EquitySectionOut(StatementSectionOut):
    retained_earnings: str = Field(description="revenue minus expenses up to the day")
    total_with_retained_earnings: str


class BalanceSheetOut(BaseModel):
    currency: str
    as_of: str
    assets: StatementSectionOut
    liabilities: StatementSectionOut
    equity: EquitySectionOut
    balanced: bool = Field(description="assets = liabilities + equity with retained earnings")
