"""accounts: the chart of accounts with balances, the trial balance and reconciliation reports."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.http import Page, Reply, RequestContext, Router, Stream, Streamed
from shared.identity.roles import Permission
from shared.ledger import (
    AccountWithBalances,
    ClosePeriodRequest,
    CreateAccountRequest,
    LedgerPeriod,
    ListAccountsQuery,
    ReconciliationReport,
    ReopenPeriodRequest,
    TrialBalance,
    UpdateAccountRequest,
)
from shared.ledger.export import CONTENT_TYPES
from shared.ledger.history import BalanceHistory, PointInTimeBalance
from shared.ledger.history_requests import (
    BalanceAsOfQuery,
    BalanceHistoryOut,
    BalanceHistoryQuery,
    PointInTimeBalanceOut,
)
from shared.ledger.history_service import AccountHistory
from shared.ledger.instance import ledger_service
from shared.ledger.monitor_requests import BalanceMonitorOut, CreateMonitorRequest, MonitorPath
from shared.ledger.monitors import BalanceMonitor
from shared.ledger.requests import BalanceSheetQuery, IncomeStatementQuery
from shared.ledger.responses import (
    AccountListItemOut,
    AccountOut,
    AccountWithBalancesOut,
    BalanceSheetOut,
    IncomeStatementOut,
    LedgerPeriodOut,
    ReconciliationReportOut,
    TrialBalanceOut,
)

router = Router("accounts")


class AccountPath(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str = Field(min_length=1, max_length=100)


@router.post(
    "/v1/accounts",
    body=CreateAccountRequest,
    response=AccountOut,
    status=201,
    permission=Permission.ACCOUNTS_WRITE.value,
    idempotency="optional",
)
def create_account(ctx: RequestContext) -> Reply:
    """Open an account; its code is unique in the tenant."""
    account = ledger_service().create_account(
        ctx.tenant_id, ctx.body, actor=ctx.actor, correlation_id=ctx.correlation_id
    )
    return Reply(account, status=201, headers={"Location": f"/v1/accounts/{account.id}"})


@router.get(
    "/v1/accounts",
    query=ListAccountsQuery,
    response=[AccountListItemOut],
    permission=Permission.ACCOUNTS_READ.value,
)
def list_accounts(ctx: RequestContext) -> Page:
    """The tenant's accounts in creation order, filtered by type, status or currency;
    with ``with_balances=true`` each carries its balances."""
    query: ListAccountsQuery = ctx.query
    page = ledger_service().list_accounts(
        ctx.tenant_id,
        type=query.type,
        status=query.status,
        currency=query.currency,
        limit=query.limit,
        cursor=query.cursor,
    )
    if query.with_balances:
        return page.with_items(ledger_service().with_balances(ctx.tenant_id, page.items))
    return page


@router.get(
    "/v1/accounts/{account_id}",
    params=AccountPath,
    response=AccountWithBalancesOut,
    permission=Permission.ACCOUNTS_READ.value,
)
def get_account(ctx: RequestContext) -> AccountWithBalances:
    """One account with its posted, pending and available balances."""
    return ledger_service().get_account(ctx.tenant_id, ctx.params.account_id)


@router.get(
    "/v1/accounts/{account_id}/balance",
    params=AccountPath,
    query=BalanceAsOfQuery,
    response=PointInTimeBalanceOut,
    permission=Permission.ACCOUNTS_READ.value,
)
def get_balance_as_of(ctx: RequestContext) -> PointInTimeBalance:
    """The account's balances at the end of a day: every entry dated on or before it."""
    query: BalanceAsOfQuery = ctx.query
    return AccountHistory(ledger_service()).balance_as_of(
        ctx.tenant_id, ctx.params.account_id, query.as_of
    )


@router.get(
    "/v1/accounts/{account_id}/balance-history",
    params=AccountPath,
    query=BalanceHistoryQuery,
    response=BalanceHistoryOut,
    permission=Permission.ACCOUNTS_READ.value,
)
def get_balance_history(ctx: RequestContext) -> BalanceHistory:
    """The account's closing balances for every day of a range (at most 366 days)."""
    query: BalanceHistoryQuery = ctx.query
    return AccountHistory(ledger_service()).balance_history(
        ctx.tenant_id, ctx.params.account_id, query.date_from, query.date_to
    )


@router.patch(
    "/v1/accounts/{account_id}",
    params=AccountPath,
    body=UpdateAccountRequest,
    response=AccountWithBalancesOut,
    permission=Permission.ACCOUNTS_WRITE.value,
)
def update_account(ctx: RequestContext) -> AccountWithBalances:
    """Rename, freeze, unfreeze or close (at zero) an account; type and currency until used."""
    request: UpdateAccountRequest = ctx.body
    return ledger_service().update_account(
        ctx.tenant_id,
        ctx.params.account_id,
        request,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )


@router.get(
    "/v1/ledger/trial-balance",
    response=TrialBalanceOut,
    permission=Permission.ACCOUNTS_READ.value,
)
def trial_balance(ctx: RequestContext) -> TrialBalance:
    """Posted balances of every account per currency, read at one instant; each sums to zero."""
    return ledger_service().trial_balance(ctx.tenant_id)


@router.post(
    "/v1/ledger/reconciliations",
    response=ReconciliationReportOut,
    status=201,
    permission=Permission.LEDGER_RECONCILE.value,
)
def reconcile_now(ctx: RequestContext) -> Reply:
    """Reconcile the tenant's ledger now (as the hourly job does) and answer with the report."""
    report = ledger_service().reconcile_tenant(
        ctx.tenant_id, actor=ctx.actor, correlation_id=ctx.correlation_id
    )
    return Reply(report, status=201, headers={"Location": "/v1/ledger/reconciliations/latest"})


@router.get(
    "/v1/ledger/period", response=LedgerPeriodOut, permission=Permission.ACCOUNTS_READ.value
)
def get_period(ctx: RequestContext) -> LedgerPeriod:
    """How far the books are closed: entries dated on or before that day are refused."""
    return ledger_service().get_period(ctx.tenant_id)


@router.post(
    "/v1/ledger/period/close",
    body=ClosePeriodRequest,
    response=LedgerPeriodOut,
    permission=Permission.LEDGER_CLOSE_PERIOD.value,
)
def close_period(ctx: RequestContext) -> LedgerPeriod:
    """Close the books through a day before today; only ever moves forward."""
    return ledger_service().close_period(
        ctx.tenant_id, ctx.body, actor=ctx.actor, correlation_id=ctx.correlation_id
    )


@router.post(
    "/v1/ledger/period/reopen",
    body=ReopenPeriodRequest,
    response=LedgerPeriodOut,
    permission=Permission.LEDGER_REOPEN_PERIOD.value,
)
def reopen_period(ctx: RequestContext) -> LedgerPeriod:
    """Move the end of the closed period back, with a reason (audited; owners and admins)."""
    return ledger_service().reopen_period(
        ctx.tenant_id, ctx.body, actor=ctx.actor, correlation_id=ctx.correlation_id
    )


@router.get(
    "/v1/ledger/statements/income",
    query=IncomeStatementQuery,
    response=[IncomeStatementOut],
    permission=Permission.ACCOUNTS_READ.value,
)
def income_statement(ctx: RequestContext) -> list[dict[str, Any]]:
    """Revenue, expenses and net income per currency for entries dated from..to."""
    q: IncomeStatementQuery = ctx.query
    reports = ledger_service().income_statements(ctx.tenant_id, q.date_from, q.date_to)
    return [report.to_json() for report in reports]


@router.get(
    "/v1/ledger/statements/balance-sheet",
    query=BalanceSheetQuery,
    response=[BalanceSheetOut],
    permission=Permission.ACCOUNTS_READ.value,
)
def balance_sheet(ctx: RequestContext) -> list[dict[str, Any]]:
    """Assets, liabilities and equity (with retained earnings) per currency as of a day."""
    q: BalanceSheetQuery = ctx.query
    return [sheet.to_json() for sheet in ledger_service().balance_sheets(ctx.tenant_id, q.as_of)]


_STATEMENT_CSV = Streamed({"text/csv": "CSV with a header row; see the ledger's README"})


@router.get(
    "/v1/ledger/statements/income/export",
    query=IncomeStatementQuery,
    response=_STATEMENT_CSV,
    permission=Permission.ACCOUNTS_READ.value,
)
def export_income_statement(ctx: RequestContext) -> Stream:
    """The income statement as CSV: a row per account, section totals, net income."""
    q: IncomeStatementQuery = ctx.query
    pieces = AccountHistory(ledger_service()).export_income_statement(
        ctx.tenant_id, q.date_from, q.date_to
    )
    name = f"income-statement-{q.date_from.isoformat()}-{q.date_to.isoformat()}.csv"
    return Stream(pieces, CONTENT_TYPES["csv"], filename=name)


@router.get(
    "/v1/ledger/statements/balance-sheet/export",
    query=BalanceSheetQuery,
    response=_STATEMENT_CSV,
    permission=Permission.ACCOUNTS_READ.value,
)
def export_balance_sheet(ctx: RequestContext) -> Stream:
    """The balance sheet as CSV: a row per account, section totals, retained earnings."""
    q: BalanceSheetQuery = ctx.query
    pieces = AccountHistory(ledger_service()).export_balance_sheet(ctx.tenant_id, q.as_of)
    return Stream(pieces, CONTENT_TYPES["csv"], filename=f"balance-sheet-{q.as_of.isoformat()}.csv")


@router.get(
    "/v1/ledger/reconciliations/latest",
    response=ReconciliationReportOut,
    permission=Permission.LEDGER_RECONCILE.value,
    raises=(404,),
)
def latest_reconciliation(ctx: RequestContext) -> ReconciliationReport:
    """The report of the tenant's latest scheduled reconciliation."""
    return ledger_service().get_latest_reconciliation(ctx.tenant_id)


# -- balance monitors ------------------------------------------------------------------


@router.post(
    "/v1/accounts/{account_id}/monitors",
    params=AccountPath,
    body=CreateMonitorRequest,
    response=BalanceMonitorOut,
    status=201,
    permission=Permission.ACCOUNTS_WRITE.value,
    idempotency="optional",
)
def create_monitor(ctx: RequestContext) -> Reply:
    """Watch the account's balance: ``ledger.balance_monitor_triggered`` when the condition
    starts to hold, ``ledger.balance_monitor_cleared`` when it stops (webhooks too)."""
    body: CreateMonitorRequest = ctx.body
    monitor = ledger_service().create_monitor(
        ctx.tenant_id,
        ctx.params.account_id,
        balance=body.condition.balance,
        operator=body.condition.operator,
        amount=body.condition.amount,
        description=body.description,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )
    location = f"/v1/accounts/{monitor.account_id}/monitors/{monitor.id}"
    return Reply(monitor, status=201, headers={"Location": location})


@router.get(
    "/v1/accounts/{account_id}/monitors",
    params=AccountPath,
    response=[BalanceMonitorOut],
    permission=Permission.ACCOUNTS_READ.value,
)
def list_monitors(ctx: RequestContext) -> Page:
    """The account's balance monitors, oldest first (at most ten)."""
    return Page(ledger_service().list_monitors(ctx.tenant_id, ctx.params.account_id), None)


@router.get(
    "/v1/accounts/{account_id}/monitors/{monitor_id}",
    params=MonitorPath,
    response=BalanceMonitorOut,
    permission=Permission.ACCOUNTS_READ.value,
)
def get_monitor(ctx: RequestContext) -> BalanceMonitor:
    """One balance monitor with its state."""
    return ledger_service().get_monitor(ctx.tenant_id, ctx.params.account_id, ctx.params.monitor_id)


@router.delete(
    "/v1/accounts/{account_id}/monitors/{monitor_id}",
    params=MonitorPath,
    status=204,
    permission=Permission.ACCOUNTS_WRITE.value,
)
def delete_monitor(ctx: RequestContext) -> Reply:
    """Stop watching: the monitor is deleted."""
    ledger_service().delete_monitor(
        ctx.tenant_id,
        ctx.params.account_id,
        ctx.params.monitor_id,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )
    return Reply(None, status=204)


handle = router.handler
