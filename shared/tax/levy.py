"""How one line's taxes are levied: percentages, amounts per unit, caps and compounding.

Pure and exact (the engine runs it in its 50-digit decimal context). Every tax of
a line is an affine function of the line's net amount, ``tax = fixed + factor * net``:

* a percentage rate r: ``fixed = 0``, ``factor = r``;
* an amount per unit a (an excise duty: 0.6545 EUR per litre): ``fixed = quantity * a``,
  ``factor = 0``;
* a compound rate r (levied on the price plus the taxes before it on the line, as
  Quebec's QST until 2012, or VAT on the price plus an excise duty):
  ``fixed = r * Σ fixed_before``, ``factor = r * (1 + Σ factor_before)``;
* a capped rate whose tax reaches its limit: ``fixed = ± limit``, ``factor = 0``. The
  limit is ``min(r * taxable_per_unit, tax_per_unit) * |quantity|``; below it the rate
  is levied as usual (Tennessee's local tax on the first 1,600.00 USD of an article).

With exclusive prices ``net`` is the line amount. With inclusive prices it is
extracted from the gross line amount: ``net = (gross - Σ fixed) / (1 + Σ factor)``.
With exclusive prices the taxes are levied in order, each capped on its own base. With
inclusive prices a cap that binds raises the net, so the first tax over its limit is
capped and the net extracted again, until none is over (at most once per tax).
A gross amount smaller than its own per-unit taxes is refused
(``price_below_per_unit_tax``): no net price is left.

A currency-bound term of the catalog (a per-unit amount, a cap) must be in the
document's currency; the catalog holds no exchange rates (``catalog_currency_mismatch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from shared.tax.model import TaxRate, invalid, refused

_ZERO = Decimal(0)
ITEM_UNIT = "item"


@dataclass(frozen=True, slots=True)
class Term:
    """One tax as ``fixed + factor * net``."""

    fixed: Decimal
    factor: Decimal

    def at(self, net: Decimal) -> Decimal:
        return self.fixed + self.factor * net


def check_rate_applies(
    rate: TaxRate, currency: str, unit: str | None, *, line_path: str, label: str
) -> None:
    """Refuse a rate whose per-unit amount or cap the document cannot use as it is."""
    per_unit = rate.per_unit
    for name, term_currency in (
        ("amount per unit", per_unit.currency if per_unit else None),
        ("cap", rate.cap.currency if rate.cap else None),
    ):
        if term_currency is not None and term_currency != currency:
            raise invalid(
                "currency",
                f"the {label} {name} is in {term_currency}; a {currency} document cannot use "
                "it (the catalog holds no exchange rates)",
                "catalog_currency_mismatch",
            )
    if per_unit is None:
        return
    if unit is None and per_unit.unit != ITEM_UNIT:
        raise invalid(
            f"{line_path}.unit",
            f"the {label} is {per_unit.amount} {per_unit.currency} per {per_unit.unit}: "
            f"give the line's unit ({per_unit.unit})",
            "unit_required",
        )
    if unit is not None and unit != per_unit.unit:
        raise invalid(
            f"{line_path}.unit",
            f"the {label} is levied per {per_unit.unit}, not per {unit}; "
            f"give the quantity in {per_unit.unit}",
            "unit_mismatch",
        )


def tax_limit(rate: TaxRate, quantity: Decimal) -> Decimal | None:
    """The largest tax (in magnitude) the rate's cap allows on the line, or None."""
    cap = rate.cap
    if cap is None:
        return None
    limits = []
    if cap.tax_per_unit is not None:
        limits.append(cap.tax_per_unit * abs(quantity))
    if cap.taxable_per_unit is not None and rate.per_unit is None:
        limits.append(rate.fraction * cap.taxable_per_unit * abs(quantity))
    return min(limits) if limits else None


def levied(rate: TaxRate, base: Decimal, quantity: Decimal) -> Decimal:
    """One tax, unrounded, on ``base`` (the net, plus earlier taxes when compound)."""
    raw = quantity * rate.per_unit.amount if rate.per_unit else base * rate.fraction
    return _clamped(raw, tax_limit(rate, quantity))


def taxable_base(rate: TaxRate, base: Decimal, quantity: Decimal) -> Decimal:
    """The base a result shows: ``base``, limited by the cap on the taxable amount."""
    cap = rate.cap
    if cap is None or cap.taxable_per_unit is None or rate.per_unit is not None:
        return base
    return _clamped(base, cap.taxable_per_unit * abs(quantity))


def unrounded_taxes(
    rates: Sequence[TaxRate | None],
    amount: Decimal,
    quantity: Decimal,
    *,
    inclusive: bool,
    price_field: str,
) -> list[Decimal]:
    """The line's taxes, unrounded; ``amount`` is net (exclusive) or gross (inclusive)."""
    if not inclusive:
        # Each tax depends only on the ones before it: levy them in order.
        taxes: list[Decimal] = []
        for rate in rates:
            if rate is None:
                taxes.append(_ZERO)
                continue
            base = amount + (sum(taxes, _ZERO) if rate.compound else _ZERO)
            taxes.append(levied(rate, base, quantity))
        return taxes
    capped: set[int] = set()
    while True:
        terms = _terms(rates, quantity, capped)
        net = (amount - sum((t.fixed for t in terms), _ZERO)) / (
            1 + sum((t.factor for t in terms), _ZERO)
        )
        taxes = [term.at(net) for term in terms]
        # The first tax over its limit is capped, then the net is extracted again: a tax
        # levied on it (compound) is judged on its capped value, not on the uncapped one.
        over = next(
            (
                i
                for i, (rate, tax) in enumerate(zip(rates, taxes, strict=True))
                if i not in capped and rate is not None and _exceeds(tax, tax_limit(rate, quantity))
            ),
            None,
        )
        if over is None:
            break
        capped.add(over)
    if any(t.fixed for t in terms) and (net * amount < 0 or (not amount and net)):
        raise refused(
            price_field,
            f"the inclusive line amount {amount} is less than its taxes per unit: "
            "no net price is left",
            "price_below_per_unit_tax",
        )
    return taxes


def _terms(rates: Sequence[TaxRate | None], quantity: Decimal, capped: set[int]) -> list[Term]:
    terms: list[Term] = []
    for i, rate in enumerate(rates):
        if rate is None:
            terms.append(Term(_ZERO, _ZERO))
        elif i in capped:
            terms.append(Term(_capped_tax(rate, quantity), _ZERO))
        elif rate.per_unit is not None:
            terms.append(Term(quantity * rate.per_unit.amount, _ZERO))
        elif rate.compound:
            fixed = sum((t.fixed for t in terms), _ZERO)
            factor = sum((t.factor for t in terms), _ZERO)
            terms.append(Term(rate.fraction * fixed, rate.fraction * (1 + factor)))
        else:
            terms.append(Term(_ZERO, rate.fraction))
    return terms


def _capped_tax(rate: TaxRate, quantity: Decimal) -> Decimal:
    limit = tax_limit(rate, quantity)
    assert limit is not None  # only capped rates are ever marked capped
    # The sign of a capped tax is the sign of the line: a credit note's is negative.
    return -limit if quantity < 0 else limit


def _exceeds(tax: Decimal, limit: Decimal | None) -> bool:
    return limit is not None and abs(tax) > limit


def _clamped(value: Decimal, limit: Decimal | None) -> Decimal:
    if limit is None or abs(value) <= limit:
        return value
    return -limit if value < 0 else limit
