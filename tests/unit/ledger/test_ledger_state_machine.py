"""A stateful property test of the pure ledger rules (hypothesis RuleBasedStateMachine).

Random sequences of valid and invalid postings, linked batches of postings, holds
(posted in full or in part, voided, expired), reversals and closes and reopenings of
the accounting period are applied to an in-memory ledger exactly as the service
applies them: a command's plan from :mod:`shared.ledger.domain` (postings in sequence
through :func:`shared.ledger.batches.plan_posting`), its balance deltas added on
success, nothing on a rejection. After every step:

* each account's totals equal the sum of its entries' lines, counted by
  :func:`line_effect` (posted lines as posted, open holds as pending);
* per currency, posted debits equal posted credits and pending debits equal
  pending credits across all accounts (the books sum to zero);
* ``available == posted - pending against the normal side`` for every account;
* no balance constraint is ever broken;
* an entry and its reversal net to zero on every account;
* a rejected command changed nothing (the state is compared before and after);
* a linked batch is there whole or not at all;
* no posting is dated into the period that was closed when it was posted.

Point-in-time reads run the service's own rule (:func:`history.posted_as_of`) over
the machine's entries, balances, closed period and the snapshots earlier reads kept
(dropped once a reopen makes them stale, as the store does): every read equals the sum
of the posted lines dated on or before its day, whichever path it took.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from shared.errors import AppError
from shared.ledger import batches, domain, history, hold_rules, period_rules
from shared.ledger.model import (
    Account,
    AccountStatus,
    AccountType,
    BalanceConstraint,
    Balances,
    BalanceTotals,
    Entry,
    EntryKind,
    EntryStatus,
    LineEffect,
    Side,
    line_effect,
)
from shared.ledger.requests import (
    PostEntryRequest,
    PostLinkedEntriesRequest,
    PostPendingRequest,
    parse_request,
)
from tests.unit.ledger.support import NOW, account

ACCOUNTS: dict[str, Account] = {
    a.id: a
    for a in (
        account("cash"),
        account("bank"),
        account("revenue", type=AccountType.REVENUE),
        account("expense", type=AccountType.EXPENSE),
        account(
            "wallet",
            type=AccountType.LIABILITY,
            constraint=BalanceConstraint.DEBITS_MUST_NOT_EXCEED_CREDITS,
        ),
        account(
            "overdraft",
            type=AccountType.ASSET,
            constraint=BalanceConstraint.CREDITS_MUST_NOT_EXCEED_DEBITS,
        ),
        account("usd_cash", currency="USD"),
        account("usd_equity", type=AccountType.EQUITY, currency="USD"),
        account("jpy_cash", currency="JPY"),
        account("jpy_revenue", type=AccountType.REVENUE, currency="JPY"),
        account("frozen", status=AccountStatus.FROZEN),
        account("closed", status=AccountStatus.CLOSED),
    )
}
ACCOUNT_IDS = sorted(ACCOUNTS)
BY_CURRENCY: dict[str, list[str]] = defaultdict(list)
for _id, _account in ACCOUNTS.items():
    BY_CURRENCY[_account.currency].append(_id)

# Amounts as clients send them: mostly valid, sometimes zero, negative, too precise or junk.
VALID_AMOUNTS = st.integers(min_value=1, max_value=500_000).map(
    lambda c: f"{c // 100}.{c % 100:02d}"
)
AMOUNTS = st.one_of(
    VALID_AMOUNTS,
    VALID_AMOUNTS,
    VALID_AMOUNTS,
    st.integers(min_value=1, max_value=5000).map(str),
    st.sampled_from(["0", "0.00", "-1.00", "1.001", "0.1", "abc", "1e3", ""]),
)


def _lines(draw: Any) -> list[dict[str, Any]]:
    """Mostly a balanced two-line entry in one currency, sometimes anything at all."""
    if draw(st.integers(0, 3)):
        currency = draw(st.sampled_from(sorted(BY_CURRENCY)))
        debit, credit = draw(
            st.lists(st.sampled_from(BY_CURRENCY[currency]), min_size=2, max_size=2, unique=True)
        )
        amount = draw(VALID_AMOUNTS if currency != "JPY" else st.integers(1, 5000).map(str))
        return [
            {"account_id": debit, "side": "debit", "amount": amount},
            {"account_id": credit, "side": "credit", "amount": amount},
        ]
    return draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "account_id": st.sampled_from([*ACCOUNT_IDS, "missing"]),
                    "side": st.sampled_from(["debit", "credit"]),
                    "amount": AMOUNTS.filter(bool),
                }
            ),
            max_size=4,
        )
    )


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = NOW
        self.totals: dict[str, BalanceTotals] = {a: BalanceTotals() for a in ACCOUNT_IDS}
        self.entries: dict[str, Entry] = {}
        self.sequence = 0
        self.closed_through: date | None = None
        # batch id -> how many entries it posted; entry id -> the end of the closed
        # period when it was posted.
        self.batch_sizes: dict[str, int] = {}
        self.closed_when_posted: dict[str, date | None] = {}
        # What point-in-time reads keep: the period's reopen log and, per account, the
        # snapshots of closed days earlier reads proposed.
        self.reopens: list[str] = []
        self.snapshots: dict[str, dict[date, history.BalanceSnapshot]] = defaultdict(dict)

    # -- helpers ------------------------------------------------------------------------

    def _state(self) -> tuple[Any, ...]:
        return (dict(self.totals), dict(self.entries), self.closed_through)

    def _new_posting(
        self,
        request: PostEntryRequest,
        plan: domain.EntryPlan,
        effective_date: date,
        expires_at: Any,
        batch_id: str | None = None,
    ) -> Entry:
        pending = request.pending
        entry = Entry(
            id=self._next_id(),
            kind=EntryKind.PENDING if pending else EntryKind.STANDARD,
            status=EntryStatus.PENDING if pending else EntryStatus.POSTED,
            effective_date=effective_date,
            description="",
            metadata={},
            lines=plan.lines,
            created_at=self.now,
            created_by={"system": "hypothesis"},
            expires_at=expires_at,
            batch_id=batch_id,
        )
        self.entries[entry.id] = entry
        self.closed_when_posted[entry.id] = self.closed_through
        self._apply(plan.deltas)
        return entry

    def _next_id(self) -> str:
        self.sequence += 1
        return f"ent-{self.sequence:05d}"

    def _apply(self, deltas: dict[str, BalanceTotals]) -> None:
        for account_id, delta in deltas.items():
            self.totals[account_id] = self.totals[account_id] + delta

    def _constrained_balances(self) -> dict[str, BalanceTotals]:
        return {a: t for a, t in self.totals.items() if ACCOUNTS[a].balance_constraint}

    def _rejected(self, before: tuple[Any, ...], command: str, error: AppError) -> None:
        assert self._state() == before, "a rejected command changed the ledger"
        event(f"{command} rejected: {error.code}")

    def _pending_ids(self) -> list[str]:
        return sorted(
            e.id
            for e in self.entries.values()
            if e.kind is EntryKind.PENDING and e.status is EntryStatus.PENDING
        )

    # -- commands -----------------------------------------------------------------------

    @rule(
        data=st.data(),
        pending=st.booleans(),
        timeout=st.integers(1, 3600),
        days_back=st.integers(0, 12),
    )
    def post_entry(self, data: st.DataObject, pending: bool, timeout: int, days_back: int) -> None:
        body: dict[str, Any] = {"lines": _lines(data.draw)}
        if pending:
            body.update(pending=True, timeout_seconds=timeout)
        effective_date = self.now.date() - timedelta(days=days_back)
        before = self._state()
        try:
            request = parse_request(PostEntryRequest, body)
            proposed = domain.parse_lines(request.lines, request.currency)
            expires_at = domain.hold_expiry(request, now=self.now)
            effect = LineEffect.PENDING if pending else LineEffect.POSTED
            plan = batches.plan_posting(
                proposed,
                effect=effect,
                effective_date=effective_date,
                closed_through=self.closed_through,
                accounts=ACCOUNTS,
                balances=self._constrained_balances(),
            )
        except AppError as exc:
            self._rejected(before, "post_entry", exc)
            return
        event("post_entry accepted")
        self._new_posting(request, plan, effective_date, expires_at)

    @rule(data=st.data(), size=st.integers(1, 4))
    def post_linked_batch(self, data: st.DataObject, size: int) -> None:
        """Several postings in one transaction: each decided against what the earlier
        ones leave; the first refusal refuses them all, naming its entry."""
        bodies: list[dict[str, Any]] = []
        for _ in range(size):
            body: dict[str, Any] = {"lines": _lines(data.draw)}
            days_back = data.draw(st.integers(0, 12))
            body["effective_date"] = (self.now.date() - timedelta(days=days_back)).isoformat()
            if data.draw(st.integers(0, 4)) == 0:
                body.update(pending=True, timeout_seconds=data.draw(st.integers(1, 3600)))
            if data.draw(st.integers(0, 6)) == 0:
                body["entry_id"] = data.draw(st.sampled_from(["inv-1", "inv-2"]))
            bodies.append(body)
        before = self._state()
        balances = self._constrained_balances()
        plans: list[tuple[batches.ParsedEntry, domain.EntryPlan]] = []
        try:
            request = parse_request(PostLinkedEntriesRequest, {"entries": bodies})
            parsed = batches.parse_linked_entries(request, now=self.now)
            batches.check_linked_batch(
                [e.entry_id for e in request.entries],
                [3 + 2 * len(item.proposed) for item in parsed],
                max_writes=450,
            )
            for index, item in enumerate(parsed):
                try:
                    plan = batches.plan_posting(
                        item.proposed,
                        effect=item.effect,
                        effective_date=item.effective_date,
                        closed_through=self.closed_through,
                        accounts=ACCOUNTS,
                        balances=balances,
                    )
                except AppError as exc:
                    raise batches.in_entry(exc, index) from exc
                plans.append((item, plan))
        except AppError as exc:
            assert all(e.field.startswith("entries") for e in exc.errors), exc.errors
            self._rejected(before, "post_linked_batch", exc)
            return
        event(f"post_linked_batch accepted ({len(plans)} entries)")
        batch_id = f"bat-{self.sequence:05d}"
        for item, plan in plans:
            self._new_posting(item.request, plan, item.effective_date, item.expires_at, batch_id)
        self.batch_sizes[batch_id] = len(plans)

    @rule(days_back=st.integers(0, 10))
    def close_period(self, days_back: int) -> None:
        today = self.now.date()
        before = self._state()
        try:
            self.closed_through = period_rules.plan_close(
                self.closed_through, today - timedelta(days=days_back), today
            )
        except AppError as exc:
            self._rejected(before, "close_period", exc)
            return
        event("close_period accepted")

    @rule(days_back=st.one_of(st.none(), st.integers(1, 12)))
    def reopen_period(self, days_back: int | None) -> None:
        through = None if days_back is None else self.now.date() - timedelta(days=days_back)
        before = self._state()
        try:
            self.closed_through = period_rules.plan_reopen(self.closed_through, through)
        except AppError as exc:
            self._rejected(before, "reopen_period", exc)
            return
        self.reopens = history.reopen_log_after({history.REOPEN_LOG_FIELD: self.reopens}, through)
        event("reopen_period accepted")

    @rule(account_id=st.sampled_from(ACCOUNT_IDS), days_back=st.integers(-1, 14))
    def read_balance_as_of(self, account_id: str, days_back: int) -> None:
        day = self.now.date() - timedelta(days=days_back)
        kept = self.snapshots[account_id]
        for through in [
            t for t, snap in kept.items() if not history.snapshot_is_valid(snap, self.reopens)
        ]:
            del kept[through]  # stale for good, as the store deletes it
        candidates = [snap for through, snap in kept.items() if through <= day]
        snapshot = max(candidates, key=lambda snap: snap.through, default=None)
        touching = [
            e for e in self.entries.values() if account_id in {ln.account_id for ln in e.lines}
        ]

        def entries(after: date | None, through: date | None) -> list[Entry]:
            return [
                e
                for e in touching
                if (after is None or e.effective_date > after)
                and (through is None or e.effective_date <= through)
            ]

        found = history.posted_as_of(
            day,
            closed_through=self.closed_through,
            epoch=len(self.reopens),
            snapshot=snapshot,
            current=lambda: self.totals[account_id],
            entries=entries,
            account_id=account_id,
        )
        expected = BalanceTotals()
        for entry in entries(None, day):
            expected += history.posted_only(history.account_totals(entry, account_id))
        assert found.posted == expected, (account_id, day, found)
        if found.new_snapshot is not None:
            assert self.closed_through is not None
            assert found.new_snapshot.through <= self.closed_through
            kept.setdefault(found.new_snapshot.through, found.new_snapshot)
        event("read_balance_as_of from " + ("snapshot" if found.started_from else "lines"))

    @precondition(lambda self: bool(self._pending_ids()))
    @rule(data=st.data())
    def post_hold(self, data: st.DataObject) -> None:
        hold = self.entries[data.draw(st.sampled_from(self._pending_ids()))]
        choice = data.draw(st.sampled_from(["full", "amount", "line_amounts"]))
        body: dict[str, Any] = {}
        if choice == "amount":
            body["amount"] = data.draw(AMOUNTS.filter(bool))
        elif choice == "line_amounts":
            body["line_amounts"] = data.draw(
                st.lists(AMOUNTS.filter(bool), min_size=len(hold.lines), max_size=len(hold.lines))
            )
        before = self._state()
        try:
            request = parse_request(PostPendingRequest, body)
            status = hold_rules.transition_hold(hold, hold_rules.HoldAction.POST, now=self.now)
            plan = hold_rules.plan_hold_posting(hold, request, ACCOUNTS)
        except AppError as exc:
            self._rejected(before, "post_hold", exc)
            return
        event("post_hold accepted")
        posting = Entry(
            id=self._next_id(),
            kind=EntryKind.HOLD_POSTING,
            status=EntryStatus.POSTED,
            effective_date=self.now.date(),
            description="",
            metadata={},
            lines=plan.lines,
            created_at=self.now,
            created_by={"system": "hypothesis"},
            pending_entry_id=hold.id,
        )
        self.entries[posting.id] = posting
        self.entries[hold.id] = replace(hold, status=status, posting_entry_id=posting.id)
        self._apply(hold_rules.release_deltas(hold))
        self._apply(plan.deltas)

    @precondition(lambda self: bool(self._pending_ids()))
    @rule(
        data=st.data(),
        action=st.sampled_from([hold_rules.HoldAction.VOID, hold_rules.HoldAction.EXPIRE]),
    )
    def release_hold(self, data: st.DataObject, action: hold_rules.HoldAction) -> None:
        hold = self.entries[data.draw(st.sampled_from(self._pending_ids()))]
        before = self._state()
        try:
            status = hold_rules.transition_hold(hold, action, now=self.now)
        except AppError as exc:
            self._rejected(before, "release_hold", exc)
            return
        event("release_hold accepted")
        self.entries[hold.id] = replace(hold, status=status, resolved_at=self.now)
        self._apply(hold_rules.release_deltas(hold))

    @rule(seconds=st.integers(1, 1800))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @precondition(lambda self: bool(self.entries))
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        original = self.entries[data.draw(st.sampled_from(sorted(self.entries)))]
        before = self._state()
        try:
            proposed = domain.reversal_lines(original)
            plan = domain.plan_entry(
                proposed, ACCOUNTS, self._constrained_balances(), effect=LineEffect.POSTED
            )
        except AppError as exc:
            self._rejected(before, "reverse", exc)
            return
        event("reverse accepted")
        reversal = Entry(
            id=self._next_id(),
            kind=EntryKind.REVERSAL,
            status=EntryStatus.POSTED,
            effective_date=self.now.date(),
            description="",
            metadata={},
            lines=plan.lines,
            created_at=self.now,
            created_by={"system": "hypothesis"},
            reverses_entry_id=original.id,
        )
        self.entries[reversal.id] = reversal
        self.entries[original.id] = replace(original, reversed_by_entry_id=reversal.id)
        self._apply(plan.deltas)

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def balances_equal_the_sum_of_their_lines(self) -> None:
        recomputed: dict[str, BalanceTotals] = defaultdict(BalanceTotals)
        for entry in self.entries.values():
            effect = line_effect(entry.kind, entry.status)
            for line in entry.lines:
                recomputed[line.account_id] += BalanceTotals.of_line(
                    line.side, line.amount_minor, effect
                )
        for account_id in ACCOUNT_IDS:
            assert self.totals[account_id] == recomputed[account_id], account_id

    @invariant()
    def every_currency_sums_to_zero(self) -> None:
        per_currency: dict[str, BalanceTotals] = defaultdict(BalanceTotals)
        for account_id, totals in self.totals.items():
            per_currency[ACCOUNTS[account_id].currency] += totals
        for currency, t in per_currency.items():
            assert t.debits_posted == t.credits_posted, currency
            assert t.debits_pending == t.credits_pending, currency

    @invariant()
    def available_is_posted_minus_pending_against_the_normal_side(self) -> None:
        for account_id, t in self.totals.items():
            acc = ACCOUNTS[account_id]
            balances = Balances(acc.currency, acc.normal_side, t)
            if acc.normal_side is Side.DEBIT:
                posted, against = t.debits_posted - t.credits_posted, t.credits_pending
            else:
                posted, against = t.credits_posted - t.debits_posted, t.debits_pending
            assert (balances.posted, balances.available) == (posted, posted - against)

    @invariant()
    def no_constraint_is_broken(self) -> None:
        for account_id, totals in self._constrained_balances().items():
            domain.check_constraint(ACCOUNTS[account_id], totals, "")

    @invariant()
    def a_linked_batch_is_there_whole_or_not_at_all(self) -> None:
        found = Counter(e.batch_id for e in self.entries.values() if e.batch_id is not None)
        assert found == Counter(self.batch_sizes)

    @invariant()
    def no_posting_is_dated_into_the_period_closed_when_it_was_posted(self) -> None:
        for entry_id, closed in self.closed_when_posted.items():
            assert closed is None or self.entries[entry_id].effective_date > closed

    @invariant()
    def a_reversal_nets_its_entry_to_zero(self) -> None:
        for reversal in self.entries.values():
            if reversal.kind is not EntryKind.REVERSAL:
                continue
            original = self.entries[reversal.reverses_entry_id or ""]
            net: dict[str, int] = defaultdict(int)
            for line in (*original.lines, *reversal.lines):
                net[line.account_id] += (
                    line.amount_minor if line.side is Side.DEBIT else -line.amount_minor
                )
            assert set(net.values()) == {0}


LedgerMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_ledger_rules_keep_the_books_exact = LedgerMachine.TestCase
