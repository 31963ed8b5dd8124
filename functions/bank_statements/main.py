"""bank_statements: import bank statements and reconcile them against the ledger.

A statement file (CSV with its column mapping, or CAMT.053) is imported for one ledger
account; its lines are matched against the account's entries in the background by
match_bank_statements. The reports show each statement's progress and lines, and the
account's entries no line holds; an accountant matches and unmatches lines by hand
and marks a statement reconciled once every line is matched (shared/bank_reconciliation).
"""

from __future__ import annotations

from shared import bank_reconciliation as bank
from shared.bank_reconciliation.responses import LineOut, StatementOut
from shared.clients import firestore_client
from shared.http import Page, Reply, RequestContext, Router
from shared.identity.roles import Permission
from shared.ledger.responses import EntryOut

router = Router("bank_statements")
READ = Permission.ACCOUNTS_READ.value
RECONCILE = Permission.LEDGER_RECONCILE_BANK.value


@router.post(
    "/v1/bank-statements",
    body=bank.ImportStatementRequest,
    response=StatementOut,
    status=201,
    permission=RECONCILE,
    raises=(409, 413),
)
def import_statement(ctx: RequestContext) -> Reply:
    """Import a statement file; its lines are matched in the background (status
    ``matching``, then ``matched``). The same file for the same account again is a 409
    ``bank_statement_already_imported`` naming the statement it made."""
    statement = bank.import_statement(
        firestore_client(),
        ctx.tenant_id,
        ctx.body,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )
    return Reply(statement, status=201, headers={"Location": f"/v1/bank-statements/{statement.id}"})


@router.get(
    "/v1/bank-statements", query=bank.StatementsQuery, response=[StatementOut], permission=READ
)
def list_statements(ctx: RequestContext) -> Page:
    """The tenant's statements, the newest import first."""
    query: bank.StatementsQuery = ctx.query
    return bank.list_statements(
        firestore_client(), ctx.tenant_id, limit=query.limit, cursor=query.cursor
    )


@router.get(
    "/v1/bank-statements/{statement_id}",
    params=bank.StatementPath,
    response=StatementOut,
    permission=READ,
)
def get_statement(ctx: RequestContext) -> bank.BankStatement:
    """One statement: its status and how many of its lines are matched."""
    return bank.get_statement(firestore_client(), ctx.tenant_id, ctx.params.statement_id)


@router.get(
    "/v1/bank-statements/{statement_id}/lines",
    params=bank.StatementPath,
    query=bank.LinesQuery,
    response=[LineOut],
    permission=READ,
)
def list_lines(ctx: RequestContext) -> Page:
    """The statement's lines in file order, each matched (with its entries) or not."""
    query: bank.LinesQuery = ctx.query
    return bank.list_lines(
        firestore_client(),
        ctx.tenant_id,
        ctx.params.statement_id,
        status=query.status,
        limit=query.limit,
        cursor=query.cursor,
    )


@router.get(
    "/v1/bank-statements/{statement_id}/unmatched-entries",
    params=bank.StatementPath,
    query=bank.UnmatchedEntriesQuery,
    response=[EntryOut],
    permission=READ,
)
def unmatched_entries(ctx: RequestContext) -> Page:
    """The account's posted entries in the statement's period that no line holds."""
    query: bank.UnmatchedEntriesQuery = ctx.query
    return bank.unmatched_entries(
        firestore_client(),
        ctx.tenant_id,
        ctx.params.statement_id,
        limit=query.limit,
        cursor=query.cursor,
    )


@router.post(
    "/v1/bank-statements/{statement_id}/lines/{line_id}/match",
    params=bank.LinePath,
    body=bank.MatchLineRequest,
    response=LineOut,
    permission=RECONCILE,
    raises=(409,),
)
def match_line(ctx: RequestContext) -> bank.StatementLine:
    """Match a line to entries of the account whose net effect is the line's amount."""
    body: bank.MatchLineRequest = ctx.body
    return bank.match_line(
        firestore_client(),
        ctx.tenant_id,
        ctx.params.statement_id,
        ctx.params.line_id,
        body.entry_ids,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )


@router.post(
    "/v1/bank-statements/{statement_id}/lines/{line_id}/unmatch",
    params=bank.LinePath,
    response=LineOut,
    permission=RECONCILE,
    raises=(409,),
)
def unmatch_line(ctx: RequestContext) -> bank.StatementLine:
    """Release a matched line's entries."""
    return bank.unmatch_line(
        firestore_client(),
        ctx.tenant_id,
        ctx.params.statement_id,
        ctx.params.line_id,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )


@router.post(
    "/v1/bank-statements/{statement_id}/reconcile",
    params=bank.StatementPath,
    response=StatementOut,
    permission=RECONCILE,
    raises=(409,),
)
def reconcile(ctx: RequestContext) -> bank.BankStatement:
    """Mark the statement reconciled; a 409 while any line is unmatched, naming how many."""
    return bank.reconcile_statement(
        firestore_client(),
        ctx.tenant_id,
        ctx.params.statement_id,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )


handle = router.handler
