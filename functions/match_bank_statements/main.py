"""match_bank_statements: matches an imported bank statement against the ledger.

Consumes ``bank-statement-events``. For ``bank_statement.imported`` it matches the
statement's lines against the account's posted entries (exact amount, date window,
reference; one entry or several summing to a line) in chunked transactions that
never match a line or an entry twice, then, in ``run_once``, moves the statement to
``matched`` with its counts (shared/bank_reconciliation/auto_match.py). A redelivery
finds the statement matched and does nothing.
"""

from __future__ import annotations

from shared import bank_reconciliation as bank
from shared.events.consumer import EventContext, PermanentEventError, event_consumer
from shared.events.envelope import EventEnvelope
from shared.logger import get_logger


@event_consumer("match_bank_statements", accepts={bank.IMPORTED_TYPE: [1]})
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    data = context.parse_data(bank.StatementImportedData)
    tenant_id, statement_id = envelope.tenant_id, data.statement_id
    statement = bank.find_statement(context.db, tenant_id, statement_id)
    if statement is None:
        raise PermanentEventError(f"bank statement {statement_id} does not exist")
    run = bank.match_statement(context.db, tenant_id, statement_id)
    done = context.run_once(
        lambda transaction: bank.finish_matching(transaction, context.db, tenant_id, statement_id)
    )
    if done is not None:
        get_logger("match_bank_statements").info(
            "bank_statements.matching_finished",
            statement_id=statement_id,
            matched=done.matched_count,
            lines=done.line_count,
            proposed=run.proposed if run else 0,
        )
