"""Values that refine a rate or a category: per-unit amounts, caps and price thresholds.

Plain frozen values with no rules of their own beyond a comparison, so that
:mod:`shared.tax.model` can hold them and :mod:`shared.tax.levy` and
:mod:`shared.tax.thresholds` can apply them without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum


class RateKind(StrEnum):
    """A rate is a percentage of a base, or an amount per unit of quantity (an excise duty)."""

    PERCENTAGE = "percentage"
    PER_UNIT = "per_unit"


@dataclass(frozen=True, slots=True)
class PerUnitAmount:
    """An amount of ``currency`` per ``unit`` of quantity: 0.6545 EUR per litre (``l``)."""

    amount: Decimal
    currency: str
    unit: str

    def to_json(self) -> dict[str, str]:
        return {"amount": format(self.amount, "f"), "currency": self.currency, "unit": self.unit}


@dataclass(frozen=True, slots=True)
class RateCap:
    """A limit per unit of quantity on what a rate is levied on, or on the tax itself.

    ``taxable_per_unit``: the base of the tax is at most this amount per unit
    (Tennessee levies its local tax on the first 1,600.00 USD of a single article).
    ``tax_per_unit``: the tax is at most this amount per unit. Both in ``currency``.
    """

    currency: str
    taxable_per_unit: Decimal | None = None
    tax_per_unit: Decimal | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "currency": self.currency,
            "taxable_per_unit": _text(self.taxable_per_unit),
            "tax_per_unit": _text(self.tax_per_unit),
        }


class Comparison(StrEnum):
    """How a price is compared to a threshold; the names say which side the boundary is on."""

    BELOW = "below"  # price < threshold
    AT_OR_BELOW = "at_or_below"  # price <= threshold
    ABOVE = "above"  # price > threshold
    AT_OR_ABOVE = "at_or_above"  # price >= threshold

    def holds(self, price: Decimal, threshold: Decimal) -> bool:
        if self is Comparison.BELOW:
            return price < threshold
        if self is Comparison.AT_OR_BELOW:
            return price <= threshold
        if self is Comparison.ABOVE:
            return price > threshold
        return price >= threshold


@dataclass(frozen=True, slots=True)
class PriceThreshold:
    """A category's relief by unit price: exempt when the price per unit ``exempt_when`` amount.

    New York exempts clothing and footwear sold for less than 110.00 USD per item
    from its state sales tax: ``exempt_when=below``, ``amount=110.00``. In force on
    [``valid_from``, ``valid_to``), like rates.
    """

    exempt_when: Comparison
    amount: Decimal
    currency: str
    valid_from: date
    valid_to: date | None = None

    def in_force_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")
