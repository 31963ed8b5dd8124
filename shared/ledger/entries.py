"""The ledger's journal entry use cases: post (alone or in a group commit), read, list, reverse.

Postings go through a :class:`~shared.ledger.group_commit.GroupCommitter`:
concurrent postings of a tenant on one instance share a transaction
(``_commit_postings``). A reversal changes an existing entry on a precondition
(``LedgerCore._change_entry``).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shared.errors import AppError, ConflictError, FieldError
from shared.events.outbox import collect_staged
from shared.events.transact import commit_in_transaction, publish_after_commit
from shared.identity.actor import Actor
from shared.ledger import batches, domain
from shared.ledger.core import (
    REQUESTER_FIELD,
    LedgerCore,
    constrained,
    cursor_mismatch,
    page_limit,
    replace_entry,
)
from shared.ledger.group_commit import BatchOutcome, GroupCommitter
from shared.ledger.idempotency import requester_id, reversal_entry_id
from shared.ledger.model import (
    ENTRY_ID_PREFIX,
    Account,
    BalanceTotals,
    Entry,
    EntryKind,
    EntryStatus,
    LineEffect,
    Reversal,
    new_id,
)
from shared.ledger.rejections import invalid
from shared.ledger.repository import (
    ENTRIES,
    entry_from_document,
    entry_to_document,
    period_from_document,
)
from shared.ledger.requests import (
    ACCOUNT_ENTRIES_CURSOR,
    AccountEntriesPosition,
    PostEntryRequest,
    ReverseEntryRequest,
)
from shared.ledger.store import ACCOUNT_ENTRIES_ORDER
from shared.pagination import DEFAULT_PAGE_SIZE, Page, keyset_page


@dataclass(frozen=True)
class PostingCommand:
    tenant_id: str
    entry_id: str
    request: PostEntryRequest
    proposed: list[domain.ProposedLine]
    effective_date: date
    expires_at: datetime | None
    fingerprint: str
    actor: dict[str, Any]
    correlation_id: str | None
    created_at: datetime
    check_existing: bool
    batch_id: str | None = None  # a linked batch's entries post all or none

    @property
    def effect(self) -> LineEffect:
        return LineEffect.PENDING if self.request.pending else LineEffect.POSTED

    @property
    def writes(self) -> int:
        return 3 + 2 * len(self.proposed)


@dataclass(frozen=True)
class LinkedPostings:
    """A linked batch in the group commit's queue (``linked.py``).

    Its ``writes`` (its weight in the queue) is the committer's whole write budget, so it
    commits in a transaction of its own, all or none; it still takes its turn with the
    tenant's other postings, so an instance never contends with itself.
    """

    commands: tuple[PostingCommand, ...]
    writes: int


Queued = PostingCommand | LinkedPostings
# A posting's outcome: (entry, created); a linked batch's: its entries, in order.
QueuedOutcome = tuple[Entry, bool] | list[Entry]


class EntryUseCases(LedgerCore):
    _committer: GroupCommitter[Queued, QueuedOutcome]

    # -- entries ----------------------------------------------------------------------

    def post_entry(
        self,
        tenant_id: str,
        request: PostEntryRequest,
        *,
        actor: Actor,
        correlation_id: str | None = None,
    ) -> Entry:
        """Post a journal entry, or open a hold when ``request.pending``.

        With ``request.entry_id`` set, a repeated request returns the entry it
        created the first time; the same id with another body is 409
        ``entry_id_conflict``.
        """
        recorded = actor.to_audit()
        now = self._now()
        proposed = domain.parse_lines(request.lines, request.currency)
        expires_at = domain.hold_expiry(
            request, now=now, default_timeout=self.settings.default_hold_timeout
        )
        command = PostingCommand(
            tenant_id=tenant_id,
            entry_id=request.entry_id or new_id(ENTRY_ID_PREFIX),
            request=request,
            proposed=proposed,
            effective_date=domain.effective_date_or_today(request.effective_date, now),
            expires_at=expires_at,
            fingerprint=hashlib.sha256(request.model_dump_json().encode()).hexdigest(),
            actor=recorded,
            correlation_id=correlation_id,
            created_at=now,
            check_existing=request.entry_id is not None,
        )
        if self.settings.group_commit:
            queued = self._committer.submit(tenant_id, command)
            assert isinstance(queued, tuple)  # a posting's outcome
            return queued[0]
        outcome = self._commit_postings(tenant_id, [command])
        if outcome.after_release is not None:
            outcome.after_release()
        result = outcome.outcomes[0]
        if isinstance(result, BaseException):
            raise result
        return result[0]

    def get_entry(self, tenant_id: str, entry_id: str) -> Entry:
        return self.store.read_entry(tenant_id, entry_id, None)

    def list_account_entries(
        self,
        tenant_id: str,
        account_id: str,
        *,
        date_from: date | None = None,
        date_to: date | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[Entry]:
        """Entries touching the account, by effective date then id (every status).

        Needs the composite index ``entries (account_ids CONTAINS, effective_date ASC)``.
        """
        self.store.read_account(tenant_id, account_id, None)
        limit = page_limit(limit)
        if date_from and date_to and date_from > date_to:
            raise invalid("query.date_to", "must not be before date_from", "invalid_date_range")
        filters = {
            "date_from": date_from.isoformat() if date_from else None,
            "date_to": date_to.isoformat() if date_to else None,
        }
        return keyset_page(
            self.store.account_entries_query(
                tenant_id, account_id, date_from=date_from, date_to=date_to
            ),
            order=ACCOUNT_ENTRIES_ORDER,
            position=AccountEntriesPosition,
            scope=ACCOUNT_ENTRIES_CURSOR,
            cursor=cursor,
            limit=limit,
            bound={"filters": filters, "account": account_id},
            mismatch=cursor_mismatch,
            to_item=lambda s: entry_from_document(s.id, s.to_dict() or {}),
            start_after=lambda p: self.store.account_entries_after(
                tenant_id, p.effective_date, p.after
            ),
            position_of=lambda entry: AccountEntriesPosition(
                effective_date=entry.effective_date,
                after=entry.id,
                account=account_id,
                filters=filters,
            ),
        )

    def reverse_entry(
        self,
        tenant_id: str,
        entry_id: str,
        request: ReverseEntryRequest | None = None,
        *,
        actor: Actor,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Reversal:
        """Post the mirror image of a posted entry and link the two.

        Refused: a second reversal (409 ``entry_already_reversed``), a reversal of a
        reversal (``cannot_reverse_reversal``), of a hold (``entry_not_posted``), or
        one its accounts no longer accept (frozen, closed, balance constraint). A
        retry with the ``idempotency_key`` of the reversal that won returns that
        reversal instead of the 409.

        An entry has one possible reversal id (:func:`reversal_entry_id`), so of
        concurrent reversals exactly one commits; the others fail at commit without
        waiting and are answered from the state it left (see ``_change_entry``).
        """
        recorded = actor.to_audit()
        request = request or ReverseEntryRequest()
        token = requester_id(idempotency_key)
        reversal_id = reversal_entry_id(entry_id)
        reversal_ref = self.paths.entry(tenant_id, reversal_id)
        entry_ref = self.paths.entry(tenant_id, entry_id)

        def decide(original: Entry, precondition: Any) -> Reversal:
            if original.reversed_by_entry_id is not None:
                earlier = self.store.read_entry(tenant_id, original.reversed_by_entry_id, None)
                if earlier.extra.get(REQUESTER_FIELD) == token:
                    return Reversal(original, earlier)
            proposed = domain.reversal_lines(original)
            effective_date = domain.effective_date_or_today(request.effective_date, self._now())

            def write(
                transaction: Any,
                accounts: dict[str, Account | None],
                balances: dict[str, BalanceTotals],
            ) -> Reversal:
                now = self._now()
                plan = domain.plan_entry(proposed, accounts, balances, effect=LineEffect.POSTED)
                reversal = Entry(
                    id=reversal_id,
                    kind=EntryKind.REVERSAL,
                    status=EntryStatus.POSTED,
                    effective_date=effective_date,
                    description=request.description or f"Reversal of {original.id}",
                    metadata=dict(request.metadata),
                    lines=plan.lines,
                    created_at=now,
                    created_by=dict(recorded),
                    reverses_entry_id=original.id,
                    extra={REQUESTER_FIELD: token},
                )
                transaction.create(reversal_ref, entry_to_document(reversal))
                transaction.update(
                    entry_ref, {"reversed_by_entry_id": reversal_id}, option=precondition
                )
                self.store.add_deltas(transaction, tenant_id, accounts, plan.deltas)
                updated = replace_entry(original, reversed_by_entry_id=reversal_id)
                self._stage(
                    transaction,
                    tenant_id,
                    "ledger.entry_reversed",
                    subject=f"entries/{original.id}",
                    data={"original_entry_id": original.id, "reversal": reversal.to_json()},
                    actor=recorded,
                    action="ledger.entry.reversed",
                    resource=("ledger_entry", original.id),
                    details={"reversal_entry_id": reversal_id},
                    correlation_id=correlation_id,
                )
                return Reversal(updated, reversal)

            return self._commit_checked(
                "reverse_entry",
                tenant_id,
                [line.account_id for line in proposed],
                write,
                effective_date=effective_date,
            )

        return self._change_entry(tenant_id, entry_id, decide)

    # -- internals: postings ----------------------------------------------------------

    def _commit_queued(
        self, tenant_id: str, queued: Sequence[Queued]
    ) -> BatchOutcome[QueuedOutcome]:
        """What the group commit commits: postings together, or one linked batch alone."""
        if len(queued) == 1 and isinstance(queued[0], LinkedPostings):
            outcome = self._commit_postings(tenant_id, queued[0].commands, linked=True)
            entries = [o[0] for o in outcome.outcomes if isinstance(o, tuple)]
            return BatchOutcome([entries], outcome.after_release)
        postings = [q for q in queued if isinstance(q, PostingCommand)]
        assert len(postings) == len(queued), "a linked batch never shares a transaction"
        outcome = self._commit_postings(tenant_id, postings)
        return BatchOutcome(list(outcome.outcomes), outcome.after_release)

    def _commit_postings(
        self, tenant_id: str, commands: Sequence[PostingCommand], *, linked: bool = False
    ) -> BatchOutcome[tuple[Entry, bool]]:
        """One transaction for a batch of postings; see ``group_commit.py``.

        ``linked``: the postings are one linked batch (``linked.py``). The first refusal
        raises, naming its entry's index, and the transaction rolls back: nothing of the
        batch is written.

        The transaction is retried as a whole on contention (``LedgerSettings.retry``);
        retries spent are a 503 ``contention`` for every posting of the batch. The events
        are published once every posting has its outcome (``BatchOutcome.after_release``).
        """
        fetched: list[Account] = []
        read_version: list[int] = []
        runs = 0

        def attempt(transaction: Any) -> list[tuple[Entry, bool] | BaseException]:
            nonlocal runs
            # A generated id cannot exist before the first attempt; a later one may follow
            # a commit whose answer was lost, so then every posting looks for its entry.
            retried = runs > 0
            runs += 1
            fetched.clear()
            account_ids = list(
                dict.fromkeys(line.account_id for c in commands for line in c.proposed)
            )
            entry_ids = list(
                dict.fromkeys(c.entry_id for c in commands if retried or c.check_existing)
            )
            # The accounts' version document is read in the transaction: an account
            # change commits a new version, so this batch either sees it or conflicts.
            refs = [self.paths.accounts_version(tenant_id)] + [
                self.paths.entry(tenant_id, e) for e in entry_ids
            ]
            existing: dict[str, dict[str, Any]] = {}
            version = 0
            closed_through: date | None = None
            for snapshot in transaction.get_all(refs):
                if not snapshot.exists:
                    continue
                if snapshot.reference.parent.id == ENTRIES:
                    existing[snapshot.id] = snapshot.to_dict() or {}
                else:
                    version = int((snapshot.to_dict() or {}).get("version", 0))
                    closed_through = period_from_document(snapshot.to_dict()).closed_through
            read_version.append(version)
            accounts: dict[str, Account | None] = dict(
                self._account_cache.lookup(tenant_id, version, account_ids)
            )
            unknown = [a for a in account_ids if accounts.get(a) is None]
            if unknown:
                for account_id, account in self.store.read_accounts(
                    tenant_id, unknown, transaction
                ).items():
                    accounts[account_id] = account
                    if account is not None:
                        fetched.append(account)
            balances = self.store.read_totals(
                tenant_id, constrained(accounts.values()), transaction
            )
            outcomes: list[tuple[Entry, bool] | BaseException] = []
            deltas: dict[str, BalanceTotals] = defaultdict(BalanceTotals)
            in_batch: dict[str, tuple[Entry, str]] = {}
            for index, command in enumerate(commands):
                earlier = existing.get(command.entry_id)
                if earlier is not None or command.entry_id in in_batch:
                    if earlier is not None:
                        entry = entry_from_document(command.entry_id, earlier)
                        fingerprint = earlier.get("fingerprint")
                    else:
                        entry, fingerprint = in_batch[command.entry_id]
                    replayed = _replayed(entry, fingerprint, command)
                    if linked and isinstance(replayed, AppError):
                        raise batches.in_entry(replayed, index) from replayed
                    outcomes.append(replayed)
                    continue
                try:
                    plan = batches.plan_posting(
                        command.proposed,
                        effect=command.effect,
                        effective_date=command.effective_date,
                        closed_through=closed_through,
                        accounts=accounts,
                        balances=balances,
                    )
                except AppError as exc:
                    if linked:
                        raise batches.in_entry(exc, index) from exc
                    outcomes.append(exc)
                    continue
                for account_id, delta in plan.deltas.items():
                    deltas[account_id] += delta
                entry = _new_entry(command, plan)
                transaction.create(
                    self.paths.entry(tenant_id, entry.id),
                    entry_to_document(entry, fingerprint=command.fingerprint),
                )
                self._posting_events(transaction, tenant_id, entry, command)
                in_batch[entry.id] = (entry, command.fingerprint)
                outcomes.append((entry, True))
            if linked:
                # Every outcome is (entry, created): a refusal raised above.
                batches.check_all_or_none([not o[1] for o in outcomes if isinstance(o, tuple)])
            present = {a: acc for a, acc in accounts.items() if acc is not None}
            self.store.add_deltas(transaction, tenant_id, present, deltas)
            return outcomes

        name = "post_linked_entries" if linked else "post_entry"
        # The batch's events are its postings' own, published below: they are kept from
        # any collector the leader's caller may have open.
        with collect_staged([]):
            committed = commit_in_transaction(
                self.db,
                attempt,
                name=name,
                retry=self.settings.retry,
                attempts=self.settings.transaction_attempts,
            )
        # Only what a committed transaction read is known to match its version.
        self._account_cache.store(tenant_id, read_version[-1], fetched)
        return BatchOutcome(
            committed.result,
            lambda: publish_after_commit(self.db, committed.staged, self._publisher, name=name),
        )

    def _posting_events(
        self, transaction: Any, tenant_id: str, entry: Entry, command: PostingCommand
    ) -> None:
        pending = entry.kind is EntryKind.PENDING
        self._stage(
            transaction,
            tenant_id,
            "ledger.entry_pending" if pending else "ledger.entry_posted",
            subject=f"entries/{entry.id}",
            data={"entry": entry.to_json()},
            actor=command.actor,
            action="ledger.entry.pending" if pending else "ledger.entry.posted",
            resource=("ledger_entry", entry.id),
            details={"lines": len(entry.lines), "accounts": entry.account_ids}
            | ({"batch_id": entry.batch_id} if entry.batch_id else {}),
            correlation_id=command.correlation_id,
        )


# -- helpers -----------------------------------------------------------------------------


def _new_entry(command: PostingCommand, plan: domain.EntryPlan) -> Entry:
    pending = command.request.pending
    return Entry(
        id=command.entry_id,
        kind=EntryKind.PENDING if pending else EntryKind.STANDARD,
        status=EntryStatus.PENDING if pending else EntryStatus.POSTED,
        effective_date=command.effective_date,
        description=command.request.description,
        metadata=dict(command.request.metadata),
        lines=plan.lines,
        created_at=command.created_at,
        created_by=command.actor,
        expires_at=command.expires_at,
        batch_id=command.batch_id,
    )


def _replayed(
    entry: Entry, fingerprint: Any, command: PostingCommand
) -> tuple[Entry, bool] | BaseException:
    if fingerprint != command.fingerprint:
        return ConflictError(
            f"entry {command.entry_id} exists with other content",
            code="entry_id_conflict",
            errors=[FieldError("entry_id", "already used for another entry", "entry_id_conflict")],
        )
    return entry, False
