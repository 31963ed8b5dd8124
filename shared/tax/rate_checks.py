"""Catalog checks of per-unit rates, caps and price thresholds (called by the catalog).

Each check raises a ``ValidationError`` naming the entry (``rates.3.per_unit.currency``),
which the seed loader and the admin API rename to their own paths.
"""

from __future__ import annotations

from decimal import Decimal

from shared.money import MoneyError, normalize_currency
from shared.tax.model import TaxCategory, TaxRate, invalid
from shared.tax.rate_kinds import RateCap

UNIT_PATTERN = r"^[a-z][a-z0-9_]{0,15}$"


def check_rate_terms(i: int, rate: TaxRate) -> None:
    """A per-unit rate: a positive amount in a known currency, not compound; a cap: positive."""
    if rate.per_unit is not None:
        per_unit = rate.per_unit
        path = f"rates.{i}.per_unit"
        if rate.percent != 0:
            raise invalid(
                f"rates.{i}.percent",
                "a rate is a percentage or an amount per unit, not both",
                "invalid_rate",
            )
        if rate.compound:
            raise invalid(
                f"rates.{i}.compound",
                "an amount per unit is levied on the quantity, never on other taxes",
                "invalid_rate",
            )
        _check_currency(per_unit.currency, f"{path}.currency")
        _check_positive(per_unit.amount, f"{path}.amount")
    if rate.cap is not None:
        _check_cap(rate.cap, f"rates.{i}.cap")


def check_category_threshold(i: int, category: TaxCategory) -> None:
    threshold = category.price_threshold
    if threshold is None:
        return
    path = f"categories.{i}.price_threshold"
    _check_currency(threshold.currency, f"{path}.currency")
    _check_positive(threshold.amount, f"{path}.amount")
    if threshold.valid_to is not None and threshold.valid_to <= threshold.valid_from:
        raise invalid(f"{path}.valid_to", "valid_to must be after valid_from", "invalid_interval")


def _check_cap(cap: RateCap, path: str) -> None:
    _check_currency(cap.currency, f"{path}.currency")
    if cap.taxable_per_unit is None and cap.tax_per_unit is None:
        raise invalid(
            path, "a cap limits taxable_per_unit, tax_per_unit or both", "invalid_rate_cap"
        )
    for name in ("taxable_per_unit", "tax_per_unit"):
        value = getattr(cap, name)
        if value is not None:
            _check_positive(value, f"{path}.{name}")


def _check_currency(code: str, path: str) -> None:
    try:
        normalize_currency(code)
    except MoneyError as exc:
        raise invalid(path, str(exc), "unknown_currency") from None


def _check_positive(amount: Decimal, path: str) -> None:
    if not amount.is_finite() or amount <= 0:
        raise invalid(path, "must be a positive amount", "invalid_amount")
