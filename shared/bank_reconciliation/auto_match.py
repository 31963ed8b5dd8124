"""The automatic matching of an imported statement (the ``match_bank_statements`` consumer).

:func:`match_statement` reads the statement's unmatched lines and the account's posted
entries dated within the window around its period that no line holds, plans the
matches with the pure rules (``matching.py``), and commits them in chunks. Each chunk
is one transaction that reads its lines and the entries' match documents again and
applies only the proposals still possible (the line still unmatched, every entry still
free: an accountant may have matched by hand meanwhile); so running it twice, or
concurrently, never matches a line or an entry twice.

:func:`finish_matching` is the effect the consumer runs in ``run_once``: it counts the
matched lines and moves the statement from ``matching`` to ``matched``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.bank_reconciliation.matching import Proposal, plan_matches
from shared.bank_reconciliation.model import BankStatement
from shared.bank_reconciliation.rules import LineStatus, StatementStatus, window
from shared.bank_reconciliation.store import (
    MAX_CANDIDATES,
    account_entries,
    candidate,
    counts_in_balance,
    line_from_document,
    line_ref,
    line_to_document,
    match_document,
    match_ref,
    matched_entry_ids,
    read_lines,
    read_statement,
    statement_ref,
)
from shared.events.transact import commit_in_transaction
from shared.identity.actor import Actor
from shared.logger import get_logger

if TYPE_CHECKING:
    from google.cloud import firestore

# Proposals committed per transaction: each writes its line and up to MAX_GROUP_SIZE
# match documents, well under Firestore's 500 writes per commit.
CHUNK = 80
SYSTEM_ACTOR = Actor.system("match_bank_statements")
_log = get_logger("shared.bank_reconciliation.auto_match")


@dataclass(frozen=True, slots=True)
class MatchRun:
    proposed: int
    applied: int


def match_statement(
    db: firestore.Client, tenant_id: str, statement_id: str, *, now: datetime | None = None
) -> MatchRun | None:
    """Match what the rules can; None when the statement is not waiting for matching."""
    statement = read_statement(db, tenant_id, statement_id)
    if statement is None or statement.status is not StatementStatus.MATCHING:
        return None
    when = now or datetime.now(UTC)
    lines = read_lines(db, tenant_id, statement_id, status=LineStatus.UNMATCHED)
    start, end = window(statement.period_start, statement.period_end, statement.date_window_days)
    entries = [
        e
        for e in account_entries(db, tenant_id, statement.account_id, start, end, MAX_CANDIDATES)
        if counts_in_balance(e)
    ]
    held = matched_entry_ids(db, tenant_id, statement.account_id, [e.id for e in entries])
    candidates = [candidate(e, statement.account_id) for e in entries if e.id not in held]
    proposals = plan_matches(lines, candidates, statement.date_window_days)
    applied = 0
    for first in range(0, len(proposals), CHUNK):
        applied += _apply(db, statement, proposals[first : first + CHUNK], when)
    _log.info(
        "bank_statements.matched",
        statement_id=statement_id,
        lines=len(lines),
        candidates=len(candidates),
        proposed=len(proposals),
        applied=applied,
    )
    return MatchRun(len(proposals), applied)


def _apply(
    db: firestore.Client, statement: BankStatement, proposals: Sequence[Proposal], when: datetime
) -> int:
    from google.cloud import firestore as fs

    tenant_id, account_id = statement.tenant_id, statement.account_id

    def attempt(transaction: Any) -> int:
        refs = [line_ref(db, tenant_id, statement.id, p.line_id) for p in proposals]
        lines = {
            s.id: s.to_dict() or {} for s in db.get_all(refs, transaction=transaction) if s.exists
        }
        held = matched_entry_ids(
            db, tenant_id, account_id, [e for p in proposals for e in p.entry_ids], transaction
        )
        applied = 0
        for proposal in proposals:
            stored = lines.get(proposal.line_id)
            if stored is None or stored.get("status") != LineStatus.UNMATCHED.value:
                continue
            if any(e in held for e in proposal.entry_ids):
                continue
            line = line_from_document(proposal.line_id, stored)
            matched = replace(
                line,
                status=LineStatus.MATCHED,
                entry_ids=proposal.entry_ids,
                match_rule=proposal.rule,
                matched_at=when,
                matched_by=SYSTEM_ACTOR.to_audit(),
            )
            transaction.set(
                line_ref(db, tenant_id, statement.id, line.id), line_to_document(matched)
            )
            for entry_id in proposal.entry_ids:
                transaction.create(
                    match_ref(db, tenant_id, account_id, entry_id),
                    match_document(statement.id, line.id, account_id, entry_id, when),
                )
            applied += 1
        if applied:
            # Progress while matching runs; finish_matching sets the count from the lines.
            transaction.update(
                statement_ref(db, tenant_id, statement.id),
                {"matched_count": fs.Increment(applied)},
            )
        return applied

    # A background step: contention outlasting the retries fails the delivery, which
    # Pub/Sub redelivers (a rerun applies only what is still possible).
    return commit_in_transaction(
        db, attempt, name="bank_statements.apply_matches", busy=None
    ).result


def finish_matching(
    transaction: Any,
    db: firestore.Client,
    tenant_id: str,
    statement_id: str,
    *,
    now: datetime | None = None,
) -> BankStatement | None:
    """``matching`` → ``matched`` with the counts read from the lines, in ``transaction``."""
    statement = read_statement(db, tenant_id, statement_id, transaction)
    if statement is None or statement.status is not StatementStatus.MATCHING:
        return None
    matched = len(read_lines(db, tenant_id, statement_id, transaction, status=LineStatus.MATCHED))
    done = replace(
        statement,
        status=StatementStatus.MATCHED,
        matched_count=matched,
        matched_at=now or datetime.now(UTC),
    )
    transaction.update(
        statement_ref(db, tenant_id, statement_id),
        {
            "status": done.status.value,
            "matched_count": done.matched_count,
            "matched_at": done.matched_at,
        },
    )
    return done
