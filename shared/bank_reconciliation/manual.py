"""Use cases of an accountant's hands on a statement: match a line to entries, unmatch
it, and mark the statement reconciled. Each is one transaction with its audit event;
every refusal is decided on what the transaction read, before it writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.bank_reconciliation.model import BankStatement, StatementLine
from shared.bank_reconciliation.rules import LineStatus, MatchRule, StatementStatus
from shared.bank_reconciliation.service import audit, busy, statement_not_found
from shared.bank_reconciliation.store import (
    counts_in_balance,
    line_ref,
    line_to_document,
    match_document,
    match_ref,
    matched_entry_ids,
    net_on_account,
    read_line,
    read_lines,
    read_statement,
    statement_ref,
    statement_to_document,
)
from shared.errors import ConflictError, FieldError, NotFoundError, ValidationError
from shared.events.transact import transact
from shared.identity.actor import Actor
from shared.ledger.model import money_json

if TYPE_CHECKING:
    from google.cloud import firestore


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _line_not_found(line_id: str) -> NotFoundError:
    return NotFoundError(f"statement line {line_id} not found", code="statement_line_not_found")


# -- manual matching and reconciliation ----------------------------------------------------


def _changeable(statement: BankStatement) -> None:
    if statement.status is StatementStatus.IMPORTING:
        raise ConflictError(
            f"bank statement {statement.id} is still being imported",
            code="bank_statement_importing",
        )
    if statement.status is StatementStatus.RECONCILED:
        raise ConflictError(
            f"bank statement {statement.id} is reconciled; its matches are final",
            code="bank_statement_reconciled",
        )


def match_line(
    db: firestore.Client,
    tenant_id: str,
    statement_id: str,
    line_id: str,
    entry_ids: Sequence[str],
    *,
    actor: Actor,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> StatementLine:
    """Match a line to entries by hand: entries of the statement's account, posted, held
    by no other line, whose net effect on the account is the line's amount."""
    from shared.ledger.repository import LedgerPaths, entry_from_document

    if len(set(entry_ids)) != len(entry_ids):
        raise ValidationError.for_field("entry_ids", "an entry is named twice", "duplicate_entry")
    when = _now(now)
    paths = LedgerPaths(db)

    def attempt(transaction: Any) -> StatementLine:
        statement = read_statement(db, tenant_id, statement_id, transaction)
        if statement is None:
            raise statement_not_found(statement_id)
        _changeable(statement)
        line = read_line(db, tenant_id, statement_id, line_id, transaction)
        if line is None:
            raise _line_not_found(line_id)
        snapshots = {
            s.id: s
            for s in db.get_all(
                [paths.entry(tenant_id, e) for e in entry_ids], transaction=transaction
            )
        }
        held = matched_entry_ids(db, tenant_id, statement.account_id, entry_ids, transaction)
        if line.status is LineStatus.MATCHED:
            raise ConflictError(
                f"line {line_id} is already matched to {', '.join(line.entry_ids)}; "
                "unmatch it first",
                code="statement_line_already_matched",
            )
        total = 0
        problems: list[FieldError] = []
        for index, entry_id in enumerate(entry_ids):
            snapshot = snapshots.get(entry_id)
            where = f"entry_ids.{index}"
            if snapshot is None or not snapshot.exists:
                problems.append(FieldError(where, f"no entry {entry_id!r}", "entry_not_found"))
                continue
            entry = entry_from_document(snapshot.id, snapshot.to_dict() or {})
            if statement.account_id not in entry.account_ids:
                problems.append(
                    FieldError(
                        where,
                        f"entry {entry_id} has no line on account {statement.account_id}",
                        "entry_not_on_account",
                    )
                )
                continue
            if not counts_in_balance(entry):
                problems.append(
                    FieldError(where, f"entry {entry_id} is a hold, not posted", "entry_not_posted")
                )
                continue
            total += net_on_account(entry, statement.account_id)
        if problems:
            raise ValidationError(f"{problems[0].field}: {problems[0].message}", errors=problems)
        taken = [i for i, e in enumerate(entry_ids) if e in held]
        if taken:
            first = entry_ids[taken[0]]
            raise ConflictError(
                f"entry {first} is already matched to line {held[first]['line_id']} of "
                f"statement {held[first]['statement_id']}",
                code="entry_already_matched",
                errors=[
                    FieldError(
                        f"entry_ids.{i}",
                        f"matched to {held[entry_ids[i]]['statement_id']}/"
                        f"{held[entry_ids[i]]['line_id']}",
                        "entry_already_matched",
                    )
                    for i in taken
                ],
            )
        if total != line.amount_minor:
            message = (
                f"the entries move {money_json(total, statement.currency)} on the account, "
                f"the line {money_json(line.amount_minor, statement.currency)}"
            )
            raise ValidationError.for_field("entry_ids", message, "amounts_do_not_sum")
        matched = replace(
            line,
            status=LineStatus.MATCHED,
            entry_ids=tuple(entry_ids),
            match_rule=MatchRule.MANUAL,
            matched_at=when,
            matched_by=actor.to_audit(),
        )
        transaction.set(line_ref(db, tenant_id, statement_id, line_id), line_to_document(matched))
        for entry_id in entry_ids:
            transaction.create(
                match_ref(db, tenant_id, statement.account_id, entry_id),
                match_document(statement_id, line_id, statement.account_id, entry_id, when),
            )
        transaction.update(
            statement_ref(db, tenant_id, statement_id),
            {"matched_count": statement.matched_count + 1},
        )
        audit(
            transaction,
            db,
            "bank_statement.line_matched",
            statement,
            actor,
            correlation_id,
            {"line_id": line_id, "entry_ids": list(entry_ids)},
        )
        return matched

    return transact(db, attempt, name="bank_statements.match_line", busy=busy("the statement line"))


def unmatch_line(
    db: firestore.Client,
    tenant_id: str,
    statement_id: str,
    line_id: str,
    *,
    actor: Actor,
    correlation_id: str | None = None,
) -> StatementLine:
    """Release a line's entries (automatic or manual match alike)."""

    def attempt(transaction: Any) -> StatementLine:
        statement = read_statement(db, tenant_id, statement_id, transaction)
        if statement is None:
            raise statement_not_found(statement_id)
        _changeable(statement)
        line = read_line(db, tenant_id, statement_id, line_id, transaction)
        if line is None:
            raise _line_not_found(line_id)
        if line.status is not LineStatus.MATCHED:
            raise ConflictError(f"line {line_id} is not matched", code="statement_line_not_matched")
        released = replace(
            line,
            status=LineStatus.UNMATCHED,
            entry_ids=(),
            match_rule=None,
            matched_at=None,
            matched_by=None,
        )
        transaction.set(line_ref(db, tenant_id, statement_id, line_id), line_to_document(released))
        for entry_id in line.entry_ids:
            transaction.delete(match_ref(db, tenant_id, statement.account_id, entry_id))
        transaction.update(
            statement_ref(db, tenant_id, statement_id),
            {"matched_count": max(0, statement.matched_count - 1)},
        )
        audit(
            transaction,
            db,
            "bank_statement.line_unmatched",
            statement,
            actor,
            correlation_id,
            {"line_id": line_id, "entry_ids": list(line.entry_ids)},
        )
        return released

    return transact(
        db, attempt, name="bank_statements.unmatch_line", busy=busy("the statement line")
    )


def reconcile_statement(
    db: firestore.Client,
    tenant_id: str,
    statement_id: str,
    *,
    actor: Actor,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> BankStatement:
    """Mark the statement reconciled: only once matching ran and every line is matched."""
    when = _now(now)

    def attempt(transaction: Any) -> BankStatement:
        statement = read_statement(db, tenant_id, statement_id, transaction)
        if statement is None:
            raise statement_not_found(statement_id)
        # Counted from the lines themselves, in the transaction: a match made meanwhile
        # either commits before this or conflicts with it.
        unmatched = len(
            read_lines(db, tenant_id, statement_id, transaction, status=LineStatus.UNMATCHED)
        )
        if statement.status is StatementStatus.RECONCILED:
            raise ConflictError(
                f"bank statement {statement_id} is already reconciled",
                code="bank_statement_already_reconciled",
            )
        if statement.status is not StatementStatus.MATCHED:
            raise ConflictError(
                f"bank statement {statement_id} is {statement.status.value}; "
                "reconcile it once its matching has run",
                code="bank_statement_not_matched",
            )
        if unmatched:
            raise ConflictError(
                f"{unmatched} line(s) of bank statement {statement_id} are unmatched",
                code="bank_statement_has_unmatched_lines",
                extra={"unmatched_count": unmatched},
            )
        reconciled = replace(
            statement,
            status=StatementStatus.RECONCILED,
            matched_count=statement.line_count,
            reconciled_at=when,
            reconciled_by=actor.to_audit(),
        )
        transaction.set(
            statement_ref(db, tenant_id, statement_id), statement_to_document(reconciled)
        )
        audit(
            transaction,
            db,
            "bank_statement.reconciled",
            reconciled,
            actor,
            correlation_id,
            {
                "lines": reconciled.line_count,
                "period_start": reconciled.period_start.isoformat(),
                "period_end": reconciled.period_end.isoformat(),
            },
        )
        return reconciled

    return transact(db, attempt, name="bank_statements.reconcile", busy=busy("the statement"))
