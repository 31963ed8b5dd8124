"""allocate(): one rounding for a group, shares that sum to it."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from shared.money import Rounding, quantum, round_to_currency
from shared.tax import allocate

from .support import D


def test_shares_follow_the_largest_remainders() -> None:
    # 0.004 + 0.004 + 0.003 = 0.011 -> 0.01; shares round to 0.00 each, one unit to hand out:
    # the largest remainder (0.004, first of the tie) gets it
    assert allocate([D("0.004"), D("0.004"), D("0.003")], D("0.01"), "EUR", Rounding.HALF_UP) == [
        D("0.01"),
        D("0.00"),
        D("0.00"),
    ]


def test_shares_give_back_where_rounding_gained_most() -> None:
    # 0.006 + 0.005 = 0.011 -> 0.01; shares 0.01 + 0.01 = 0.02, one unit too many:
    # the share that gained most (0.005 -> 0.01, residual -0.005) gives it back
    assert allocate([D("0.006"), D("0.005")], D("0.01"), "EUR", Rounding.HALF_UP) == [
        D("0.01"),
        D("0.00"),
    ]


def test_jpy_has_whole_units() -> None:
    # 33.3 * 3 = 99.9 -> 100; shares 33 each (99), one more to the first
    assert allocate([D("33.3")] * 3, D("100"), "JPY", Rounding.HALF_UP) == [
        D("34"),
        D("33"),
        D("33"),
    ]


_amounts = st.lists(
    st.decimals(min_value=-1000, max_value=1000, places=5, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=30,
)


@given(_amounts, st.sampled_from(list(Rounding)), st.sampled_from(["EUR", "JPY", "BHD"]))
def test_shares_sum_to_total_and_stay_within_one_unit(
    amounts: list[Decimal], rounding: Rounding, currency: str
) -> None:
    total = round_to_currency(sum(amounts, Decimal(0)), currency, rounding)
    shares = allocate(amounts, total, currency, rounding)
    unit = quantum(currency)
    assert sum(shares, Decimal(0)) == total
    assert all(abs(share - amount) <= unit for share, amount in zip(shares, amounts, strict=True))


@given(_amounts, st.sampled_from(list(Rounding)))
def test_allocation_is_symmetric(amounts: list[Decimal], rounding: Rounding) -> None:
    total = round_to_currency(sum(amounts, Decimal(0)), "EUR", rounding)
    negated = [-a for a in amounts]
    assert allocate(negated, -total, "EUR", rounding) == [
        -s for s in allocate(amounts, total, "EUR", rounding)
    ]
