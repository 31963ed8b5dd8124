"""proportional_tax: a partial refund's tax, per jurisdiction, exact to the minor unit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import ValidationError
from shared.money import Rounding, from_minor_units
from shared.tax.apportion import proportional_tax

D = Decimal
QUEBEC_2013 = {"CA": D("5.00"), "CA-QC": D("9.98")}  # 100.00 + GST 5 % + QST 9.975 %


def test_a_full_refund_returns_every_jurisdictions_tax() -> None:
    assert proportional_tax(QUEBEC_2013, D("114.98"), D("114.98"), currency="CAD") == QUEBEC_2013


def test_half_a_refund_returns_half_of_each_tax() -> None:
    assert proportional_tax(QUEBEC_2013, D("57.49"), D("114.98"), currency="CAD") == {
        "CA": D("2.50"),
        "CA-QC": D("4.99"),
    }


def test_the_refunds_tax_is_rounded_once_and_allocated_so_the_parts_sum_to_it() -> None:
    # Each jurisdiction's exact share is 0.025: rounded alone, both would be 0.03 (0.06 in
    # all), but the refund's tax is 0.05; the extra unit comes back from the earlier one.
    shares = proportional_tax(
        {"A": D("0.05"), "B": D("0.05")}, D("0.55"), D("1.10"), currency="EUR"
    )
    assert shares == {"A": D("0.02"), "B": D("0.03")}
    even = proportional_tax(
        {"A": D("0.05"), "B": D("0.05")},
        D("0.55"),
        D("1.10"),
        currency="EUR",
        rounding=Rounding.HALF_EVEN,
    )
    assert sum(even.values()) == D("0.05")  # 0.05 exactly, in either mode


def test_amounts_keep_the_currencys_exponent() -> None:
    yen = proportional_tax({"JP": D("1000")}, D("5500"), D("11000"), currency="JPY")
    assert yen == {"JP": D("500")}
    assert str(yen["JP"]) == "500"
    dinar = proportional_tax({"BH": D("10.000")}, D("36.667"), D("110.000"), currency="BHD")
    assert str(dinar["BH"]) == "3.333"


def test_successive_refunds_of_the_whole_gross_return_each_tax_exactly() -> None:
    totals = {"A": D("0.01"), "B": D("0.01")}
    first = proportional_tax(totals, D("0.51"), D("1.02"), currency="EUR")
    second = proportional_tax(
        totals, D("0.51"), D("1.02"), currency="EUR", already_refunded=D("0.51")
    )
    # Rounded independently each half would refund 0.01 of tax twice: 0.02 > 0.01 per step.
    assert sum(first.values()) + sum(second.values()) == D("0.02")
    assert {k: first[k] + second[k] for k in totals} == totals


@given(
    taxes=st.lists(st.integers(min_value=0, max_value=500_000), min_size=1, max_size=5),
    net=st.integers(min_value=1, max_value=10_000_000),
    cuts=st.lists(st.integers(min_value=1, max_value=1_000), min_size=1, max_size=6),
    rounding=st.sampled_from(list(Rounding)),
)
def test_any_sequence_of_refunds_adds_up_to_the_original_tax(
    taxes: list[int], net: int, cuts: list[int], rounding: Rounding
) -> None:
    totals = {f"J{i}": from_minor_units(units, "EUR") for i, units in enumerate(taxes)}
    gross_units = net + sum(taxes)
    gross = from_minor_units(gross_units, "EUR")
    # Split the gross into len(cuts) refunds in proportion to the cuts, the last takes the rest.
    steps = [gross_units * cut // sum(cuts) for cut in cuts[:-1]]
    steps.append(gross_units - sum(steps))
    refunded = D(0)
    returned = dict.fromkeys(totals, D(0))
    for units in steps:
        amount = from_minor_units(units, "EUR")
        shares = proportional_tax(
            totals, amount, gross, currency="EUR", rounding=rounding, already_refunded=refunded
        )
        exact_tax = sum(totals.values()) * (refunded + amount) / gross
        for code, share in shares.items():
            assert share.as_tuple().exponent == -2
            returned[code] += share
        refunded += amount
        # The cumulative tax never strays a minor unit from its exact proportion.
        assert abs(sum(returned.values()) - exact_tax) <= D("0.005")
    assert returned == totals


@pytest.mark.parametrize(
    ("refunded", "gross", "already", "field", "code"),
    [
        ("120.00", "119.00", "0", "refunded_amount", "refund_exceeds_gross"),
        ("60.00", "119.00", "60.00", "refunded_amount", "refund_exceeds_gross"),
        ("-1.00", "119.00", "0", "refunded_amount", "negative_amount"),
        ("10.001", "119.00", "0", "refunded_amount", "too_many_decimals"),
        ("10.00", "0.00", "0", "gross_total", "invalid_amount"),
        ("10.00", "119.00", "-5.00", "already_refunded", "negative_amount"),
    ],
)
def test_impossible_refunds_are_refused_naming_the_argument(
    refunded: str, gross: str, already: str, field: str, code: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        proportional_tax(
            {"DE": D("19.00")}, D(refunded), D(gross), currency="EUR", already_refunded=D(already)
        )
    assert [(e.field, e.code) for e in refused.value.errors] == [(field, code)]


def test_a_tax_total_finer_than_the_currency_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        proportional_tax({"JP": D("10.5")}, D("100"), D("110"), currency="JPY")
    assert refused.value.errors[0].field == "calc_totals.JP"


def test_a_calculation_without_tax_refunds_none() -> None:
    assert proportional_tax({}, D("10.00"), D("10.00"), currency="EUR") == {}
    assert proportional_tax({"US-OR": D("0.00")}, D("5.00"), D("10.00"), currency="USD") == {
        "US-OR": D("0.00")
    }
