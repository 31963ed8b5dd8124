"""The automatic matching rules: amounts, the date window's edges, references, groups."""

from __future__ import annotations

from datetime import date, timedelta

from shared.bank_reconciliation.matching import Proposal, find_group, plan_matches
from shared.bank_reconciliation.model import Candidate, StatementLine
from shared.bank_reconciliation.rules import (
    MAX_GROUP_CANDIDATES,
    LineStatus,
    MatchRule,
    mentions,
    usable_reference,
    window,
)

DAY = date(2026, 11, 10)


def line(
    number: int,
    amount: int,
    day: date = DAY,
    reference: str = "",
    end_to_end: str = "",
    status: LineStatus = LineStatus.UNMATCHED,
) -> StatementLine:
    return StatementLine(
        id=f"r{number:06d}",
        number=number,
        booking_date=day,
        value_date=None,
        amount_minor=amount,
        currency="EUR",
        reference=reference,
        end_to_end_id=end_to_end,
        description="",
        status=status,
    )


def entry(entry_id: str, amount: int, offset: int = 0, text: str = "") -> Candidate:
    return Candidate(entry_id, DAY + timedelta(days=offset), amount, f"{entry_id} {text}")


def test_exact_amount_with_its_sign_matches_one_to_one() -> None:
    proposals = plan_matches(
        [line(1, 125000), line(2, -8990)],
        [entry("e_in", 125000), entry("e_out", -8990), entry("e_wrong_sign", 8990)],
        3,
    )

    assert proposals == [
        Proposal("r000001", ("e_in",), MatchRule.AMOUNT_DATE),
        Proposal("r000002", ("e_out",), MatchRule.AMOUNT_DATE),
    ]


def test_the_date_window_includes_its_edges_and_nothing_beyond() -> None:
    lines = [line(1, 100), line(2, 200), line(3, 300), line(4, 400)]
    candidates = [
        entry("e_minus3", 100, -3),
        entry("e_plus3", 200, +3),
        entry("e_minus4", 300, -4),
        entry("e_plus4", 400, +4),
    ]

    matched = {p.line_id: p.entry_ids for p in plan_matches(lines, candidates, 3)}

    assert matched == {"r000001": ("e_minus3",), "r000002": ("e_plus3",)}
    assert len(plan_matches(lines, candidates, 4)) == 4
    assert plan_matches([line(1, 100)], [entry("e_same_day", 100)], 0) != []
    assert plan_matches([line(1, 100)], [entry("e_next_day", 100, 1)], 0) == []


def test_a_reference_in_the_entry_wins_over_a_nearer_date() -> None:
    proposals = plan_matches(
        [line(1, 5000, reference="INV-1042")],
        [entry("e_near", 5000, 0, "rent"), entry("e_ref", 5000, 2, "Invoice inv-1042 paid")],
        3,
    )

    assert proposals == [Proposal("r000001", ("e_ref",), MatchRule.REFERENCE)]


def test_the_end_to_end_id_and_the_entry_id_count_as_references() -> None:
    proposals = plan_matches(
        [line(1, 700, end_to_end="pay_ABC123"), line(2, 700, reference="ent_x9")],
        [entry("e_other", 700, 0), entry("ent_x9", 700, 1), entry("e_e2e", 700, 2, "pay_abc123")],
        3,
    )

    assert {(p.line_id, p.entry_ids, p.rule) for p in proposals} == {
        ("r000001", ("e_e2e",), MatchRule.REFERENCE),
        ("r000002", ("ent_x9",), MatchRule.REFERENCE),
    }


def test_nearest_dates_pair_first_so_no_line_steals_anothers_only_entry() -> None:
    # Line 1 could take either entry; line 2 only reaches the later one.
    proposals = plan_matches(
        [line(1, 100, DAY), line(2, 100, DAY + timedelta(days=3))],
        [entry("e_early", 100, -2), entry("e_late", 100, +1)],
        3,
    )

    assert {p.line_id: p.entry_ids for p in proposals} == {
        "r000001": ("e_early",),
        "r000002": ("e_late",),
    }


def test_an_entry_matches_one_line_and_matched_lines_are_left_alone() -> None:
    proposals = plan_matches(
        [line(1, 100), line(2, 100), line(3, 100, status=LineStatus.MATCHED)],
        [entry("e_only", 100)],
        3,
    )

    assert proposals == [Proposal("r000001", ("e_only",), MatchRule.AMOUNT_DATE)]


def test_one_line_is_the_sum_of_several_entries() -> None:
    proposals = plan_matches(
        [line(1, 10000)],
        [entry("e_a", 2500, 0), entry("e_b", 4000, 1), entry("e_c", 3500, -1), entry("e_d", 9999)],
        3,
    )

    assert proposals == [Proposal("r000001", ("e_a", "e_b", "e_c"), MatchRule.MANY)]


def test_a_group_uses_the_fewest_entries_of_one_direction_within_the_window() -> None:
    candidates = [
        entry("e_a", 6000),
        entry("e_b", 4000),
        entry("e_c", 3000),
        entry("e_d", 1000),
        entry("e_refund", -2000),
        entry("e_far", 4000, 10),
    ]

    assert find_group(line(1, 10000), candidates, 3) == ("e_a", "e_b")
    assert find_group(line(1, -10000), [entry("x", -6000), entry("y", -4000)], 3) == ("x", "y")
    assert find_group(line(1, 10000), [entry("x", 6000), entry("y", -4000)], 3) is None
    assert find_group(line(1, 10000), [entry("x", 6000), entry("y", 4000, 4)], 3) is None


def test_the_group_search_is_bounded_to_the_nearest_candidates() -> None:
    near = [entry(f"e_near_{n:02d}", 1, 0) for n in range(MAX_GROUP_CANDIDATES)]
    far_pair = [entry("e_far_a", 500, 2), entry("e_far_b", 500, 2)]

    assert find_group(line(1, 1000), near + far_pair, 3) is None
    assert find_group(line(1, 1000), far_pair, 3) == ("e_far_a", "e_far_b")
    # At most MAX_GROUP_SIZE entries: five of 200 never make 1000.
    assert find_group(line(1, 1000), [entry(f"e{n}", 200) for n in range(5)], 3) is None


def test_one_to_one_comes_before_groups() -> None:
    proposals = plan_matches(
        [line(1, 300), line(2, 500)],
        [entry("e_200", 200), entry("e_300", 300), entry("e_100", 100)],
        3,
    )

    assert proposals == [
        Proposal("r000001", ("e_300",), MatchRule.AMOUNT_DATE),
        # With e_300 taken by line 1, line 2 has only 200 + 100: no group of 500.
    ]


def test_reference_rules() -> None:
    assert mentions("Payment for Invoice INV 1042", "inv-1042") is False
    assert mentions("Payment INV-1042 Oct", "inv-1042")
    assert mentions("RF18 5390 0754 7034", "RF18539007547034")
    assert not usable_reference("NOTPROVIDED")
    assert not usable_reference("12")
    assert usable_reference("INV-1")


def test_the_window_stays_within_the_calendar() -> None:
    assert window(date(2026, 11, 2), date(2026, 11, 3), 3) == (
        date(2026, 10, 30),
        date(2026, 11, 6),
    )
    assert window(date.min, date.max, 31) == (date.min, date.max)
    assert window(date(1, 1, 3), date(9999, 12, 30), 3) == (date.min, date.max)
