"""Money as ``Decimal`` with an ISO 4217 currency: never a float.

Amounts travel as decimal strings in major units (``{"amount": "12.34",
"currency": "EUR"}``). Parsing rejects floats, non-finite values and more
decimals than the currency's minor unit; rounding is always explicit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

# Minor-unit exponents for ISO 4217 currencies that differ from the usual 2.
# Source: ISO 4217 list one (SIX Group), "Minor unit" column.
_MINOR_UNITS_OTHER_THAN_TWO: dict[str, int] = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}

# Currencies accepted by the system. Kept explicit so that a typo ("EUE") is a
# clear 4xx instead of a silently created new currency.
_KNOWN_CURRENCIES: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL
    BSD BTN BWP BYN BZD CAD CDF CHF CLF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD
    EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS
    INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD
    LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK
    NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK
    SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH
    UGX USD UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWG
    """.split()
)

_AMOUNT_PATTERN = re.compile(r"^-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,6})?$")


class MoneyError(ValueError):
    """An amount or currency that cannot be money; the message says why."""


class Rounding(StrEnum):
    """Rounding modes callers choose explicitly."""

    HALF_UP = "half_up"
    HALF_EVEN = "half_even"

    @property
    def decimal_mode(self) -> str:
        return ROUND_HALF_UP if self is Rounding.HALF_UP else ROUND_HALF_EVEN


def normalize_currency(code: str) -> str:
    """Return the ISO 4217 code, or raise ``MoneyError`` for an unknown one."""
    if not isinstance(code, str) or code not in _KNOWN_CURRENCIES:
        raise MoneyError(f"unknown ISO 4217 currency code: {code!r}")
    return code


def minor_unit(currency: str) -> int:
    """Number of decimals in the currency's minor unit (JPY 0, EUR 2, KWD 3)."""
    return _MINOR_UNITS_OTHER_THAN_TWO.get(normalize_currency(currency), 2)


def quantum(currency: str) -> Decimal:
    """The smallest amount of the currency, e.g. ``Decimal("0.01")``."""
    return Decimal(1).scaleb(-minor_unit(currency))


def parse_amount(value: Any, currency: str, *, allow_negative: bool = False) -> Decimal:
    """Parse a decimal string in major units, exactly.

    Floats are refused (``12.3`` may not be ``12.3``); so are exponents,
    non-finite values and more decimals than the currency allows.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise MoneyError('amount must be a decimal string such as "12.34"')
    text = str(value)
    if not _AMOUNT_PATTERN.match(text):
        raise MoneyError(f"amount must be a plain decimal string, got {text!r}")
    amount = Decimal(text)
    # The sign is checked on the text: Decimal("-0") is not < 0 but prints as "-0.00".
    if text.startswith("-") and not allow_negative:
        raise MoneyError("amount must not be negative")
    if amount.is_zero():
        amount = abs(amount)
    places = minor_unit(currency)
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # finite by the pattern above
    if -exponent > places:
        raise MoneyError(f"{currency} allows at most {places} decimal places, got {text!r}")
    return amount.quantize(quantum(currency))


def round_to_currency(amount: Decimal, currency: str, rounding: Rounding) -> Decimal:
    """Round to the currency's minor unit with an explicit mode."""
    try:
        return amount.quantize(quantum(currency), rounding=rounding.decimal_mode)
    except InvalidOperation as exc:  # pragma: no cover - only for absurd magnitudes
        raise MoneyError(f"cannot round {amount} in {currency}") from exc


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Exact integer count of minor units; refuses an amount finer than that."""
    scaled = amount.scaleb(minor_unit(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{amount} has more decimals than {currency} allows")
    return int(scaled)


def from_minor_units(units: int, currency: str) -> Decimal:
    """Inverse of :func:`to_minor_units`."""
    return (Decimal(units).scaleb(-minor_unit(currency))).quantize(quantum(currency))


def format_amount(amount: Decimal, currency: str) -> str:
    """Decimal string with exactly the currency's decimals (``"12.30"``).

    Never rounds: an amount finer than the currency is a bug upstream (round it first
    with :func:`round_to_currency` and an explicit mode), so it raises MoneyError.
    """
    exact = amount.quantize(quantum(currency))
    if exact != amount:
        raise MoneyError(f"{amount} has more decimals than {currency} allows; round it explicitly")
    return str(abs(exact) if exact.is_zero() else exact)


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        normalize_currency(self.currency)
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise MoneyError("Money.amount must be a finite Decimal")

    @classmethod
    def parse(cls, amount: Any, currency: str, *, allow_negative: bool = False) -> Money:
        return cls(parse_amount(amount, currency, allow_negative=allow_negative), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0).quantize(quantum(currency)), currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise MoneyError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def to_minor(self) -> int:
        return to_minor_units(self.amount, self.currency)

    def to_json(self) -> dict[str, str]:
        return {"amount": format_amount(self.amount, self.currency), "currency": self.currency}
