"""accounts: the chart of accounts with balances, the trial balance and reconciliation reports."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.http import Page, Reply, RequestContext, Router
from shared.identity.roles import Permission
from shared.ledger import (
    AccountWithBalances,
    CreateAccountRequest,
    ListAccountsQuery,
    ReconciliationReport,
    TrialBalance,
    UpdateAccountRequest,
)
from shared.ledger.instance import ledger_service
from shared.ledger.responses import (
    AccountOut,
    AccountWithBalancesOut,
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
    response=[AccountOut],
    permission=Permission.ACCOUNTS_READ.value,
)
def list_accounts(ctx: RequestContext) -> Page:
    """The tenant's accounts in creation order, filtered by type, status or currency."""
    query: ListAccountsQuery = ctx.query
    page = ledger_service().list_accounts(
        ctx.tenant_id,
        type=query.type,
        status=query.status,
        currency=query.currency,
        limit=query.limit,
        cursor=query.cursor,
    )
    return Page(list(page.items), page.next_cursor)


@router.get(
    "/v1/accounts/{account_id}",
    params=AccountPath,
    response=AccountWithBalancesOut,
    permission=Permission.ACCOUNTS_READ.value,
)
def get_account(ctx: RequestContext) -> AccountWithBalances:
    """One account with its posted, pending and available balances."""
    return ledger_service().get_account(ctx.tenant_id, ctx.params.account_id)


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


@router.get(
    "/v1/ledger/reconciliations/latest",
    response=ReconciliationReportOut,
    permission=Permission.LEDGER_RECONCILE.value,
)
def latest_reconciliation(ctx: RequestContext) -> ReconciliationReport:
    """The report of the tenant's latest scheduled reconciliation."""
    return ledger_service().get_latest_reconciliation(ctx.tenant_id)


handle = router.handler
