"""Price thresholds: a category relieved of a tax by the price of each unit.

New York exempts clothing and footwear sold for less than 110.00 USD per item from
its 4 % state sales tax. The price compared is the line amount per unit: the line
amount (extension less discount; net with exclusive prices, gross with inclusive
ones) divided by the quantity, exact and in magnitude, so a credit note is judged
like its invoice. The comparison is named for its boundary: ``below`` is strictly
less (109.99 exempt, 110.00 taxed), ``at_or_below`` includes the threshold,
``above`` / ``at_or_above`` likewise. A threshold applies on [valid_from, valid_to)
of the line's tax date, and only in its own currency (``catalog_currency_mismatch``
on ``currency`` otherwise: the catalog holds no exchange rates).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from shared.tax.model import TaxCategory, invalid


def unit_price(amount: Decimal, quantity: Decimal) -> Decimal | None:
    """The line amount per unit, in magnitude; None for a zero quantity (nothing to judge)."""
    if quantity == 0:
        return None
    return abs(amount) / abs(quantity)


def exempts(
    category: TaxCategory, amount: Decimal, quantity: Decimal, currency: str, on: date
) -> bool:
    """Whether the category's price threshold relieves this line of the tax on ``on``."""
    threshold = category.price_threshold
    if threshold is None or not threshold.in_force_on(on):
        return False
    if threshold.currency != currency:
        raise invalid(
            "currency",
            f"the {category.jurisdiction} {category.tax} {category.code} price threshold is in "
            f"{threshold.currency}; a {currency} document cannot be compared with it",
            "catalog_currency_mismatch",
        )
    price = unit_price(amount, quantity)
    return price is not None and threshold.exempt_when.holds(price, threshold.amount)
