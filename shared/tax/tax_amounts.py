"""The tax and withholding amounts of every line, rounded per line or per group.

The third step of :func:`shared.tax.engine.calculate`, apart from it because it is the
arithmetic alone: given the priced lines and their planned taxes, it levies each tax
(exclusive or inclusive prices, compound rates), rounds per line or per jurisdiction +
tax + rate group and allocates a group back onto its lines, and builds each line's
result with its withholdings. The rules themselves are defined in the docstring of
:mod:`shared.tax.engine`. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

from shared.tax import levy
from shared.tax.document import TaxDocument
from shared.tax.line_pricing import PricedLine, round_to_currency
from shared.tax.model import PriceMode, RoundingScope
from shared.tax.result import LineResult, LineTax, Withholding
from shared.tax.rounding import allocate
from shared.tax.tax_planning import GroupKey, PlannedTax

_ZERO = Decimal(0)


# -- tax amounts ------------------------------------------------------------------


def _unrounded_taxes(
    document: TaxDocument, priced: PricedLine, plan: tuple[PlannedTax, ...]
) -> list[Decimal]:
    return levy.unrounded_taxes(
        [planned.rate for planned in plan],
        priced.amounts.exact,
        priced.line.quantity,
        inclusive=document.price_mode is PriceMode.INCLUSIVE,
        price_field=f"lines.{priced.index}.unit_price.amount",
    )


def line_scope_taxes(
    document: TaxDocument, priced: PricedLine, plan: tuple[PlannedTax, ...]
) -> list[Decimal]:
    if document.price_mode is PriceMode.INCLUSIVE:
        return [round_to_currency(document, t) for t in _unrounded_taxes(document, priced, plan)]
    taxes: list[Decimal] = []
    for planned in plan:
        if planned.rate is None:
            taxes.append(round_to_currency(document, _ZERO))
            continue
        base = priced.amounts.exact + (sum(taxes, _ZERO) if planned.rate.compound else _ZERO)
        taxes.append(
            round_to_currency(document, levy.levied(planned.rate, base, priced.line.quantity))
        )
    return taxes


def document_scope_taxes(
    document: TaxDocument,
    priced: list[PricedLine],
    plans: list[tuple[PlannedTax, ...]],
) -> list[list[Decimal]]:
    unrounded = [_unrounded_taxes(document, p, plan) for p, plan in zip(priced, plans, strict=True)]
    return _grouped(document, plans, unrounded)


def _grouped(
    document: TaxDocument,
    plans: list[tuple[PlannedTax, ...]],
    unrounded: list[list[Decimal]],
) -> list[list[Decimal]]:
    """Round each jurisdiction + tax + rate group once and allocate it back onto its lines."""
    amounts = [[round_to_currency(document, _ZERO) for _ in plan] for plan in plans]
    members: dict[GroupKey, list[tuple[int, int]]] = {}
    for line_index, plan in enumerate(plans):
        for tax_index, planned in enumerate(plan):
            if planned.rate is not None and planned.reason.charges_tax:
                members.setdefault(planned.group, []).append((line_index, tax_index))
    for positions in members.values():
        exact = [unrounded[li][ti] for li, ti in positions]
        total = round_to_currency(document, sum(exact, _ZERO))
        shares = allocate(exact, total, document.currency, document.rounding)
        for (li, ti), share in zip(positions, shares, strict=True):
            amounts[li][ti] = share
    return amounts


def line_result(
    document: TaxDocument,
    priced: PricedLine,
    plan: tuple[PlannedTax, ...],
    amounts: list[Decimal],
) -> LineResult:
    tax = sum(amounts, round_to_currency(document, _ZERO))
    if document.price_mode is PriceMode.EXCLUSIVE:
        net, gross = priced.amount, priced.amount + tax
    else:
        net, gross = priced.amount - tax, priced.amount
    return LineResult(
        index=priced.index,
        line_id=priced.line.line_id,
        place_of_supply=priced.place,
        tax_category=priced.line.tax_category,
        quantity=priced.line.quantity,
        unit_price=priced.line.unit_price,
        extension=priced.amounts.extension,
        discount=priced.amounts.discount,
        net=net,
        tax=tax,
        gross=gross,
        taxes=tuple(_line_taxes(net, priced.line.quantity, plan, amounts)),
        supply_type=priced.supply_type,
        place_rule=priced.decision.article,
        tax_date=priced.tax_date,
        unit=priced.line.unit,
    )


def _line_taxes(
    net: Decimal, quantity: Decimal, plan: tuple[PlannedTax, ...], amounts: list[Decimal]
) -> Iterator[LineTax]:
    earlier = _ZERO
    for planned, amount in zip(plan, amounts, strict=True):
        rate = planned.rate
        compound = rate is not None and rate.compound
        base = net + earlier if compound else net
        yield LineTax(
            jurisdiction=planned.jurisdiction,
            tax=planned.tax,
            category=planned.category,
            rate=rate.percent if rate else _ZERO,
            compound=compound,
            taxable_amount=levy.taxable_base(rate, base, quantity) if rate else base,
            tax_amount=amount,
            reason=planned.reason,
            per_unit=rate.per_unit if rate else None,
            certificate_id=planned.certificate_id,
        )
        earlier += amount


def withheld(
    document: TaxDocument,
    lines: list[LineResult],
    plans: list[tuple[PlannedTax, ...]],
) -> list[LineResult]:
    """The lines with their withholdings, levied on each line's net amount."""
    if not any(plans):
        return lines
    unrounded = [
        [line.net * (p.rate.fraction if p.rate else _ZERO) for p in plan]
        for line, plan in zip(lines, plans, strict=True)
    ]
    if document.rounding_scope is RoundingScope.LINE:
        amounts = [
            [round_to_currency(document, a) for a in line_amounts] for line_amounts in unrounded
        ]
    else:
        amounts = _grouped(document, plans, unrounded)
    return [
        _with_withholdings(line, plan, line_amounts)
        for line, plan, line_amounts in zip(lines, plans, amounts, strict=True)
    ]


def _with_withholdings(
    line: LineResult, plan: tuple[PlannedTax, ...], amounts: list[Decimal]
) -> LineResult:
    if not plan:
        return line
    withholdings = tuple(
        Withholding(
            jurisdiction=p.jurisdiction,
            tax=p.tax or "",
            category=p.category,
            rate=p.rate.percent if p.rate else _ZERO,
            taxable_amount=line.net,
            amount=amount,
        )
        for p, amount in zip(plan, amounts, strict=True)
    )
    return replace(line, withholdings=withholdings)
