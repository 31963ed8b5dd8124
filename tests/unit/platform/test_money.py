"""shared.money: exact amounts, explicit rounding, per-currency minor units."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.money import (
    Money,
    MoneyError,
    Rounding,
    format_amount,
    from_minor_units,
    minor_unit,
    normalize_currency,
    parse_amount,
    quantum,
    round_to_currency,
    to_minor_units,
)

D = Decimal


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("12.34", "EUR", "12.34"),
        ("12.3", "EUR", "12.30"),
        ("12", "EUR", "12.00"),
        ("0", "EUR", "0.00"),
        ("0.01", "USD", "0.01"),
        (12, "EUR", "12.00"),
        (D("7.5"), "GBP", "7.50"),
        ("1500", "JPY", "1500"),
        ("1.234", "KWD", "1.234"),
        ("1.2", "KWD", "1.200"),
        ("0.0001", "CLF", "0.0001"),
        ("999999999999999999.99", "EUR", "999999999999999999.99"),
    ],
)
def test_parse_amount_accepts_plain_decimal_strings(
    value: Any, currency: str, expected: str
) -> None:
    amount = parse_amount(value, currency)
    assert isinstance(amount, Decimal)
    assert str(amount) == expected


@pytest.mark.parametrize(
    "value",
    [
        12.5,  # a float is refused even when it looks exact
        1.0,
        True,
        None,
        ["12.00"],
        "1e3",
        "1E3",
        "1.5e2",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "",
        " 12.00",
        "12.00 ",
        "+12.00",
        "12.",
        ".5",
        "012",
        "1,50",
        "1_000",
        "0x10",
        "\uff11\uff12",  # full-width digits: Decimal would take them, the contract does not
        "1234567890123456789",  # 19 integer digits
        D("NaN"),
        D("1E+3"),
    ],
)
def test_parse_amount_rejects_anything_but_a_plain_decimal(value: Any) -> None:
    with pytest.raises(MoneyError):
        parse_amount(value, "EUR")


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        ("12.345", "EUR"),
        ("0.001", "USD"),
        ("1.5", "JPY"),
        ("100.0", "JPY"),  # even a zero decimal: JPY has no minor unit
        ("1.2345", "KWD"),
        ("0.00001", "CLF"),
    ],
)
def test_more_decimals_than_the_currency_allows_is_refused(value: str, currency: str) -> None:
    with pytest.raises(MoneyError, match=currency):
        parse_amount(value, currency)


def test_negative_amounts_only_when_allowed() -> None:
    with pytest.raises(MoneyError, match="negative"):
        parse_amount("-1.00", "EUR")
    assert parse_amount("-1.5", "EUR", allow_negative=True) == D("-1.50")


def test_a_minus_sign_never_yields_a_negative_zero() -> None:
    try:
        amount = parse_amount("-0.00", "EUR")
    except MoneyError:
        return
    assert not amount.is_signed()
    assert format_amount(amount, "EUR") == "0.00"


def test_an_unknown_currency_is_refused() -> None:
    for code in ("EUE", "eur", "", "EURO"):
        with pytest.raises(MoneyError, match="currency"):
            parse_amount("1.00", code)
    with pytest.raises(MoneyError):
        normalize_currency(123)  # type: ignore[arg-type]
    assert normalize_currency("EUR") == "EUR"


@pytest.mark.parametrize(
    ("currency", "places", "smallest"),
    [
        ("EUR", 2, "0.01"),
        ("USD", 2, "0.01"),
        ("JPY", 0, "1"),
        ("KWD", 3, "0.001"),
        ("CLF", 4, "0.0001"),
    ],
)
def test_minor_units_and_quantum(currency: str, places: int, smallest: str) -> None:
    assert minor_unit(currency) == places
    assert quantum(currency) == D(smallest)


@pytest.mark.parametrize(
    ("amount", "currency", "rounding", "expected"),
    [
        ("2.345", "EUR", Rounding.HALF_UP, "2.35"),
        ("2.345", "EUR", Rounding.HALF_EVEN, "2.34"),
        ("2.355", "EUR", Rounding.HALF_EVEN, "2.36"),
        ("2.344", "EUR", Rounding.HALF_UP, "2.34"),
        ("-2.345", "EUR", Rounding.HALF_UP, "-2.35"),
        ("-2.345", "EUR", Rounding.HALF_EVEN, "-2.34"),
        ("2.5", "JPY", Rounding.HALF_UP, "3"),
        ("2.5", "JPY", Rounding.HALF_EVEN, "2"),
        ("3.5", "JPY", Rounding.HALF_EVEN, "4"),
        ("1.2345", "KWD", Rounding.HALF_EVEN, "1.234"),
        ("1.2345", "KWD", Rounding.HALF_UP, "1.235"),
        ("10", "EUR", Rounding.HALF_UP, "10.00"),
    ],
)
def test_round_to_currency_uses_the_mode_it_is_given(
    amount: str, currency: str, rounding: Rounding, expected: str
) -> None:
    assert str(round_to_currency(D(amount), currency, rounding)) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "units"),
    [
        ("12.34", "EUR", 1234),
        ("12.3", "EUR", 1230),
        ("500", "JPY", 500),
        ("1.234", "KWD", 1234),
        ("-0.05", "EUR", -5),
        ("0", "EUR", 0),
    ],
)
def test_minor_units_round_trip(amount: str, currency: str, units: int) -> None:
    assert to_minor_units(D(amount), currency) == units
    assert from_minor_units(units, currency) == D(amount)
    assert str(from_minor_units(units, currency)) == format_amount(D(amount), currency)


def test_to_minor_units_refuses_a_finer_amount() -> None:
    with pytest.raises(MoneyError):
        to_minor_units(D("0.005"), "EUR")
    with pytest.raises(MoneyError):
        to_minor_units(D("1.5"), "JPY")


def test_format_amount_writes_exactly_the_currency_decimals() -> None:
    assert format_amount(D("12.3"), "EUR") == "12.30"
    assert format_amount(D("12"), "KWD") == "12.000"
    assert format_amount(D("1500"), "JPY") == "1500"


def test_format_amount_never_rounds_silently() -> None:
    with pytest.raises(MoneyError):
        format_amount(D("0.005"), "EUR")


def test_money_arithmetic_in_one_currency() -> None:
    a = Money.parse("10.25", "EUR")
    b = Money.parse("0.75", "EUR")
    assert a + b == Money(D("11.00"), "EUR")
    assert a - b == Money(D("9.50"), "EUR")
    assert -a == Money(D("-10.25"), "EUR")
    assert (b - a).amount == D("-9.50")
    assert (a + b).to_minor() == 1100
    assert (a + b).to_json() == {"amount": "11.00", "currency": "EUR"}
    assert Money.zero("JPY") == Money(D("0"), "JPY")
    assert Money.zero("KWD").to_json() == {"amount": "0.000", "currency": "KWD"}


def test_money_refuses_mixing_currencies() -> None:
    eur, usd = Money.parse("1.00", "EUR"), Money.parse("1.00", "USD")
    with pytest.raises(MoneyError, match="currency mismatch"):
        eur + usd
    with pytest.raises(MoneyError, match="currency mismatch"):
        eur - usd


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        (1.5, "EUR"),
        (15, "EUR"),
        ("1.50", "EUR"),
        (D("NaN"), "EUR"),
        (D("Infinity"), "EUR"),
        (D("1.00"), "XXX"),
    ],
)
def test_money_needs_a_finite_decimal_and_a_known_currency(amount: Any, currency: str) -> None:
    with pytest.raises(MoneyError):
        Money(amount, currency)


def test_money_parse_applies_the_parsing_rules() -> None:
    with pytest.raises(MoneyError):
        Money.parse(12.5, "EUR")
    with pytest.raises(MoneyError):
        Money.parse("-3.00", "EUR")
    assert Money.parse("-3", "EUR", allow_negative=True).amount == D("-3.00")
