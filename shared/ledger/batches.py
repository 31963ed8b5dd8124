"""Linked entries: the rules of a batch of journal entries that post all or none.

Pure functions (no I/O, no clock, no randomness), like :mod:`shared.ledger.domain`,
whose per-entry rules they apply to each entry of the batch. A batch's refusal names
the entry it is about: a field ``lines.0.account_id`` of entry 2 becomes
``entries.2.lines.0.account_id`` (:func:`in_entry`).

===============================  ==================  ===============================
code                             class               field (example)
===============================  ==================  ===============================
duplicate_entry_id               ValidationError     ``entries.3.entry_id``
batch_too_large                  ValidationError     ``entries``
linked_batch_conflict            ConflictError       ``entries.1.entry_id``
(every rule of a single entry)   (its own)           ``entries.2.lines.0.account_id``
===============================  ==================  ===============================

Postings of one transaction are decided in order, each against the balances the
earlier ones leave (:func:`plan_posting`); the group commit and a linked batch share
that step, so balance constraints apply cumulatively across a batch's entries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from shared.errors import AppError, ConflictError, FieldError, ValidationError
from shared.ledger import domain, period_rules, rejections
from shared.ledger.model import Account, BalanceTotals, Entry, LineEffect
from shared.ledger.requests import PostEntryRequest, PostLinkedEntriesRequest

BATCH_ID_PREFIX = "bat"
_KEY_PREFIX = f"{BATCH_ID_PREFIX}_key_"
# The dot keeps derived entry ids out of reach of ids clients choose (no dots allowed).
_ENTRY_PREFIX = "ent_link."


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One entry of a batch after the shape rules: what its posting command needs."""

    request: PostEntryRequest
    proposed: list[domain.ProposedLine]
    effective_date: date
    expires_at: datetime | None

    @property
    def effect(self) -> LineEffect:
        return LineEffect.PENDING if self.request.pending else LineEffect.POSTED


@dataclass(frozen=True, slots=True)
class LinkedBatch:
    """The entries a linked batch posted, in the order of the request."""

    batch_id: str
    entries: tuple[Entry, ...]

    def to_json(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "entries": [e.to_json() for e in self.entries]}


# -- ids and fingerprints ----------------------------------------------------------------


def _digest(*parts: str) -> str:
    # 128 bits of sha256 over NUL-separated parts: collisions are out of reach.
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:32]


def batch_id_for_key(idempotency_key: str) -> str:
    """The batch id of a request made with ``idempotency_key``: a retry finds its batch."""
    return _KEY_PREFIX + _digest("linked_batch", idempotency_key)


def linked_entry_id(batch_id: str, index: int) -> str:
    """The id of entry ``index`` of a batch that did not choose one."""
    return _ENTRY_PREFIX + _digest(batch_id, str(index))


def linked_fingerprint(batch_id: str, request: PostLinkedEntriesRequest, index: int) -> str:
    """What entry ``index`` stores to recognise its batch: the batch id and its whole body.

    A retry of the same batch finds every entry with this fingerprint; any other
    request reusing one of its entry ids (another batch, a single posting, the same
    key with another body) does not, and is refused instead of half-posting.
    """
    body = request.model_dump_json()
    return hashlib.sha256(f"linked\x00{batch_id}\x00{index}\x00{body}".encode()).hexdigest()


# -- the batch as a whole -----------------------------------------------------------------


def parse_linked_entries(
    request: PostLinkedEntriesRequest,
    *,
    now: datetime,
    default_timeout: timedelta = domain.DEFAULT_HOLD_TIMEOUT,
) -> list[ParsedEntry]:
    """The shape rules of every entry (lines, amounts, currencies, expiry), all at once.

    Every entry's problems are reported together, each field under its entry
    (``entries.1.lines.0.amount``); the error's code is the first problem's.
    """
    parsed: list[ParsedEntry] = []
    problems: list[FieldError] = []
    first: AppError | None = None
    for index, entry in enumerate(request.entries):
        try:
            proposed = domain.parse_lines(entry.lines, entry.currency)
            expires_at = domain.hold_expiry(entry, now=now, default_timeout=default_timeout)
        except ValidationError as exc:
            located = in_entry(exc, index)
            first = first or located
            problems.extend(located.errors)
            continue
        effective_date = domain.effective_date_or_today(entry.effective_date, now)
        parsed.append(ParsedEntry(entry, proposed, effective_date, expires_at))
    if first is not None:
        raise ValidationError(first.detail, code=first.code, errors=problems)
    return parsed


def check_linked_batch(
    entry_ids: Sequence[str | None], writes: Sequence[int], *, max_writes: int
) -> None:
    """Refuse a batch that names one entry id twice or cannot commit in one transaction.

    ``writes`` are the documents each entry's posting writes (its entry, two outbox
    records, balance shards): Firestore commits at most 500 in one transaction.
    """
    seen: dict[str, int] = {}
    for index, entry_id in enumerate(entry_ids):
        if entry_id is None:
            continue
        if entry_id in seen:
            raise rejections.invalid(
                f"entries.{index}.entry_id",
                f"entry {seen[entry_id]} of the batch has the same entry_id",
                "duplicate_entry_id",
            )
        seen[entry_id] = index
    total = sum(writes)
    if total > max_writes:
        raise ValidationError(
            f"entries: the batch would write {total} documents, at most {max_writes} commit "
            "together; split it or use fewer lines",
            code="batch_too_large",
            errors=[
                FieldError(
                    "entries",
                    f"at most {max_writes} writes in one batch (3 per entry and 2 per line)",
                    "batch_too_large",
                )
            ],
            extra={"writes": total, "max_writes": max_writes},
        )


def check_all_or_none(found: Sequence[bool]) -> None:
    """A batch's entries exist all (a retry of a batch that committed) or none.

    Anything else means entry ids of this batch belong to another request that the
    fingerprints did not tell apart; it is refused, naming the first entry that differs.
    """
    if all(found) or not any(found):
        return
    index = found.index(not found[0])
    raise ConflictError(
        "some entries of this batch exist and some do not: their ids belong to another request",
        code="linked_batch_conflict",
        errors=[
            FieldError(
                f"entries.{index}.entry_id",
                "the batch's entries are not all posted together",
                "linked_batch_conflict",
            )
        ],
    )


# -- one posting of a sequence --------------------------------------------------------------


def plan_posting(
    proposed: Sequence[domain.ProposedLine],
    *,
    effect: LineEffect,
    effective_date: date,
    closed_through: date | None,
    accounts: Mapping[str, Account | None],
    balances: dict[str, BalanceTotals],
) -> domain.EntryPlan:
    """Decide one posting of a transaction against what the earlier ones left.

    The closed period, then the accounts and balance constraints
    (:func:`domain.plan_entry`). On success the constrained accounts' ``balances``
    move by the posting's deltas, so the next posting of the same transaction is
    checked against them: constraints hold for the postings together, not only one
    by one. On a refusal nothing moves.
    """
    period_rules.check_period_open(effective_date, closed_through, "effective_date")
    plan = domain.plan_entry(proposed, accounts, balances, effect=effect)
    for account_id, delta in plan.deltas.items():
        account = accounts.get(account_id)
        if account is not None and account.balance_constraint is not None:
            balances[account_id] = balances.get(account_id, BalanceTotals()) + delta
    return plan


def in_entry(error: AppError, index: int) -> AppError:
    """``error`` (of one entry) as the batch's refusal: its fields under ``entries.N``.

    The same class, status and code; the detail names the entry and ``extra`` carries
    ``entry_index``.
    """
    located = error.__class__.__new__(error.__class__)
    located.__dict__.update(error.__dict__)
    located.detail = f"entry {index} of the batch: {error.detail}"
    located.errors = tuple(
        FieldError(f"entries.{index}.{e.field}", e.message, e.code) for e in error.errors
    ) or (FieldError(f"entries.{index}", error.detail, error.code),)
    located.extra = {**error.extra, "entry_index": index}
    Exception.__init__(located, located.detail)
    return located
