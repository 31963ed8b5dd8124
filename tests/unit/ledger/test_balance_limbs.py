"""Balance totals beyond Firestore's 64-bit integers: the limb encoding, without I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.ledger.model import BalanceTotals
from shared.ledger.repository import (
    FOLD_THRESHOLD,
    INT64_MAX,
    LIMB_BITS,
    folded_limbs,
    split_into_limbs,
    total_increments,
    totals_from_fields,
)

# Far beyond anything the API accepts in one line (18 integer digits, 4 decimals).
amounts = st.integers(min_value=-(10**30), max_value=10**30)


@given(amounts)
def test_limbs_add_up_to_the_value(value: int) -> None:
    limbs = split_into_limbs(value)
    assert sum(limb << (LIMB_BITS * n) for n, limb in enumerate(limbs)) == value
    # Lower limbs take less than 2**32 per write, so increments cannot saturate them.
    assert all(abs(limb) < 2**LIMB_BITS for limb in limbs[:-1])


@given(st.lists(st.integers(min_value=0, max_value=10**22), min_size=1, max_size=40))
def test_increments_applied_field_by_field_give_the_exact_sum(deltas: list[int]) -> None:
    document: dict[str, int] = {}
    for delta in deltas:
        for name, increment in total_increments(BalanceTotals(debits_posted=delta)).items():
            document[name] = document.get(name, 0) + increment
    assert all(abs(value) <= INT64_MAX for value in document.values())
    assert totals_from_fields(document) == BalanceTotals(debits_posted=sum(deltas))


def test_a_sum_past_the_int64_edge_stays_exact() -> None:
    # The defect: 380 postings of 250,000,000,000,000.00 EUR saturated at 2**63 - 1.
    line = 25_000_000_000_000_000
    document: dict[str, int] = {}
    for _ in range(380):
        for name, increment in total_increments(BalanceTotals(credits_posted=line)).items():
            document[name] = document.get(name, 0) + increment
    assert totals_from_fields(document).credits_posted == 380 * line > INT64_MAX


def test_documents_written_before_limbs_read_unchanged() -> None:
    legacy = {"debits_posted": 1234, "credits_posted": 5, "debits_pending": 7}
    assert totals_from_fields(legacy) == BalanceTotals(1234, 5, 7, 0)


def test_small_amounts_write_only_the_low_limb() -> None:
    assert total_increments(BalanceTotals(debits_posted=1234, credits_pending=-5)) == {
        "debits_posted": 1234,
        "credits_pending": -5,
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"debits_posted": FOLD_THRESHOLD + 17, "debits_posted_1": 3},
        {"credits_pending": -(FOLD_THRESHOLD + 1), "credits_pending_1": 2**40},
        {"debits_pending_1": FOLD_THRESHOLD, "debits_posted": 9},
    ],
)
def test_folding_keeps_the_value_and_brings_low_limbs_back_to_32_bits(
    fields: dict[str, int],
) -> None:
    folded = folded_limbs(fields)
    assert folded is not None
    assert totals_from_fields(folded) == totals_from_fields(fields)
    low = [v for name, v in folded.items() if not name.endswith("_2")]
    assert all(abs(value) < 2**LIMB_BITS for value in low)


def test_nothing_to_fold_below_the_threshold() -> None:
    assert folded_limbs({"debits_posted": FOLD_THRESHOLD - 1, "credits_posted_1": 5}) is None
