"""Regression: a partial refund never reverses a negative tax in any jurisdiction.

Found through the payments ledger link: with the shares of cumulative refunds split by
"round each, then hand out the difference", refunding 29.98 then 0.04 of a Quebec
114.98 reversed GST 1.31 then -0.01 (and QST 2.60 then 0.02): a refund posting a
negative tax line, which the ledger refuses. Shares are now apportioned by highest
averages, which never takes a unit back as the cumulative refund grows.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.money import from_minor_units
from shared.tax.apportion import proportional_tax
from shared.tax.rounding import apportion

D = Decimal
QUEBEC = {"CA": D("5.00"), "CA-QC": D("9.98")}


def test_a_small_refund_after_a_larger_one_reverses_no_negative_tax() -> None:
    first = proportional_tax(QUEBEC, D("29.98"), D("114.98"), currency="CAD")
    second = proportional_tax(
        QUEBEC, D("0.04"), D("114.98"), currency="CAD", already_refunded=D("29.98")
    )
    assert first == {"CA": D("1.31"), "CA-QC": D("2.60")}
    assert second == {"CA": D("0.00"), "CA-QC": D("0.00")}


def test_apportion_gives_whole_quotas_exactly_and_breaks_ties_to_the_later_member() -> None:
    assert apportion([500, 998], 1498) == [500, 998]
    assert apportion([500, 998], 749) == [250, 499]
    assert apportion([5, 5], 5) == [2, 3]
    assert apportion([0, 7], 3) == [0, 3]
    assert apportion([0, 0], 0) == [0, 0]
    with pytest.raises(ValueError):
        apportion([-1, 2], 1)


@given(
    weights=st.lists(st.integers(min_value=0, max_value=100_000), min_size=1, max_size=6),
    data=st.data(),
)
def test_apportion_is_exact_and_one_more_seat_takes_nothing_from_anyone(
    weights: list[int], data: st.DataObject
) -> None:
    total = sum(weights)
    seats = data.draw(st.integers(min_value=0, max_value=max(total - 1, 0)))
    if total == 0:
        assert apportion(weights, 0) == [0] * len(weights)
        return
    now, more = apportion(weights, seats), apportion(weights, seats + 1)
    assert sum(now) == seats and sum(more) == seats + 1
    assert all(b >= a for a, b in zip(now, more, strict=True))


@given(
    taxes=st.lists(st.integers(min_value=0, max_value=50_000), min_size=2, max_size=4),
    net=st.integers(min_value=1, max_value=1_000_000),
    cuts=st.lists(st.integers(min_value=1, max_value=1_000), min_size=2, max_size=6),
)
def test_every_refunds_share_is_non_negative_in_every_jurisdiction(
    taxes: list[int], net: int, cuts: list[int]
) -> None:
    totals = {f"J{i}": from_minor_units(units, "EUR") for i, units in enumerate(taxes)}
    gross_units = net + sum(taxes)
    gross = from_minor_units(gross_units, "EUR")
    steps = [gross_units * cut // sum(cuts) for cut in cuts[:-1]]
    steps.append(gross_units - sum(steps))
    refunded = D(0)
    returned = dict.fromkeys(totals, D(0))
    for units in steps:
        amount = from_minor_units(units, "EUR")
        shares = proportional_tax(totals, amount, gross, currency="EUR", already_refunded=refunded)
        assert all(share >= 0 for share in shares.values()), shares
        for code, share in shares.items():
            returned[code] += share
        refunded += amount
    assert returned == totals
