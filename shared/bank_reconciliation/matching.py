"""The automatic matching rules, pure: statement lines and candidate entries in, the
matches out.

Three passes, each only over what the earlier ones left free (an entry matches at
most one line, a line is matched once):

1. **reference**: same amount, entry dated within the window, and the entry's
   description, metadata or id contains one of the line's references (the bank's
   reference or the end-to-end id), ignoring case and spaces.
2. **amount_date**: same amount within the window.
3. **many**: several entries, all moving money the line's way, summing exactly to it
   (at most :data:`MAX_GROUP_SIZE` entries among the :data:`MAX_GROUP_CANDIDATES`
   nearest in date); the fewest entries win, then the nearest.

In passes 1 and 2 the lines with the fewest possible entries choose first, then the
pairs nearest in date (then by line number and entry id): a line with a choice does
not take the one entry another line could have. The result depends only on the
input: matching the same statement again proposes the same matches.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

from shared.bank_reconciliation.model import Candidate, StatementLine
from shared.bank_reconciliation.rules import (
    MAX_GROUP_CANDIDATES,
    MAX_GROUP_SIZE,
    LineStatus,
    MatchRule,
    mentions,
    usable_reference,
    within_window,
)


@dataclass(frozen=True, slots=True)
class Proposal:
    line_id: str
    entry_ids: tuple[str, ...]
    rule: MatchRule


def _distance(line: StatementLine, candidate: Candidate) -> int:
    return abs((candidate.effective_date - line.booking_date).days)


def _references_match(line: StatementLine, candidate: Candidate) -> bool:
    return any(
        usable_reference(reference) and mentions(candidate.text, reference)
        for reference in line.references
    )


def plan_matches(
    lines: Iterable[StatementLine], candidates: Iterable[Candidate], window_days: int
) -> list[Proposal]:
    """The matches for the unmatched ``lines`` among ``candidates`` (entries no line holds)."""
    open_lines = sorted(
        (line for line in lines if line.status is LineStatus.UNMATCHED), key=lambda x: x.number
    )
    free = {c.entry_id: c for c in candidates if c.amount_minor != 0}
    by_amount: dict[int, list[Candidate]] = defaultdict(list)
    for candidate in free.values():
        by_amount[candidate.amount_minor].append(candidate)
    proposals: list[Proposal] = []
    taken_lines: set[str] = set()

    def one_to_one(rule: MatchRule, with_reference: bool) -> None:
        pairs = [
            (line, c)
            for line in open_lines
            if line.id not in taken_lines
            for c in by_amount.get(line.amount_minor, ())
            if c.entry_id in free
            and within_window(c.effective_date, line.booking_date, window_days)
            and (not with_reference or _references_match(line, c))
        ]
        options = Counter(line.id for line, _ in pairs)
        ordered = sorted(
            pairs,
            key=lambda p: (options[p[0].id], _distance(*p), p[0].number, p[1].entry_id),
        )
        for line, candidate in ordered:
            entry_id = candidate.entry_id
            if line.id in taken_lines or entry_id not in free:
                continue
            del free[entry_id]
            taken_lines.add(line.id)
            proposals.append(Proposal(line.id, (entry_id,), rule))

    one_to_one(MatchRule.REFERENCE, with_reference=True)
    one_to_one(MatchRule.AMOUNT_DATE, with_reference=False)
    for line in open_lines:
        if line.id in taken_lines:
            continue
        group = find_group(line, list(free.values()), window_days)
        if group:
            for entry_id in group:
                del free[entry_id]
            taken_lines.add(line.id)
            proposals.append(Proposal(line.id, group, MatchRule.MANY))
    return proposals


def find_group(
    line: StatementLine, candidates: Sequence[Candidate], window_days: int
) -> tuple[str, ...] | None:
    """The fewest entries (2 to MAX_GROUP_SIZE) of the nearest ones summing to the line."""
    sign = 1 if line.amount_minor > 0 else -1
    eligible = sorted(
        (
            c
            for c in candidates
            if c.amount_minor * sign > 0
            and abs(c.amount_minor) < abs(line.amount_minor)
            and within_window(c.effective_date, line.booking_date, window_days)
        ),
        key=lambda c: (_distance(line, c), c.entry_id),
    )[:MAX_GROUP_CANDIDATES]
    for size in range(2, MAX_GROUP_SIZE + 1):
        for group in combinations(eligible, size):
            if sum(c.amount_minor for c in group) == line.amount_minor:
                return tuple(sorted(c.entry_id for c in group))
    return None
