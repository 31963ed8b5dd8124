"""The tax engine: a pure function from a document and a rate catalog to explained figures.

``calculate(document, catalog)`` does no I/O and keeps no state; the same
input always gives the same output. Arithmetic runs in a private decimal
context (50 digits), so a caller's context cannot change a result.

Line amounts
    extension = quantity * unit price, rounded to the currency's minor unit
    with the document's rounding mode; a percentage discount is
    extension * percent / 100, rounded the same way; an amount discount is
    taken as given (it reduces the line's magnitude, so it is subtracted from
    a negative credit-note line the other way) and may not exceed the
    extension. The line amount = extension - discount is exact in minor units.
    These line amounts are always rounded per line, whatever the tax rounding
    scope: they are what the document prints.

Which taxes apply
    The line's place of supply (the document's, unless the line names its
    own) and every enclosing jurisdiction the catalog knows contribute their
    taxes, ordered by the tax's ``order``; a tax that ``replaces`` another
    removes it (Ontario's HST replaces Canada's GST). A place that levies no
    tax gives one ``not_subject_to_tax`` entry. For every tax, the line's
    category is looked up; the reason is decided in this order:
    ``product_exempt`` (exempt category), ``reverse_charge`` (EU B2B
    cross-border, below), ``customer_exempt`` (a buyer's certificate valid for
    that jurisdiction, that tax and the document date), ``zero_rated``, then
    ``standard_rated`` or ``reduced_rated`` (reduced and super-reduced kinds),
    the only two that charge tax and need a rate in force on the document date.

Compound taxes
    Each charged tax i has a factor f_i of the line's net amount: its rate r_i,
    or, for a compound rate, r_i * (1 + sum of the factors of the taxes before
    it on the line) — it is levied on the price plus those taxes.

Exclusive prices
    net = line amount; tax_i = net * f_i.

Inclusive prices
    gross = line amount; the taxes are extracted: net_exact = gross / (1 + Σ f),
    tax_i = net_exact * f_i, and after rounding the taxes, net = gross - Σ tax_i,
    so net + tax = gross exactly on every line and on the document.

Rounding scope ``line``
    Every tax of every line is rounded to the minor unit on the line; a
    compound tax with exclusive prices is levied on the net plus the *rounded*
    earlier taxes, as an invoice shows them (Quebec 2012: QST = 9.5 % * (price +
    GST as printed)). Document tax = sum of line taxes.

Rounding scope ``document``
    Line taxes stay unrounded (a compound tax is levied on unrounded earlier
    taxes). They are grouped by jurisdiction + tax + rate; each group's sum is
    rounded once, and that is the document's tax for the group (one figure per
    rate, as a VAT invoice's summary shows). The group total is then allocated
    back onto its lines with :func:`shared.tax.rounding.allocate`: each line
    gets its own tax rounded, and the remaining difference is handed out one
    minor unit at a time to the lines whose rounding lost (or gained) the
    most, ties to the earlier line. Lines therefore still sum to the document
    total, and each line's tax is within one minor unit of its exact value.
    For taxes that are not compound, the two scopes' total tax differ by at
    most half a minor unit per line and tax, plus half a unit per group (the
    group's own rounding): three lines of exactly 0.005 each round to 0.00
    under half_even on every line (total 0.00) but 0.015 rounds to 0.02 once.

Reverse charge
    When seller and buyer are in different EU member states and the buyer
    gives a tax id, every tax levied in an EU member state gets
    ``reverse_charge`` and rate 0: the seller charges no VAT and the result's
    ``reverse_charge`` carries the buyer's id and the invoice legend.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, localcontext

from shared.money import round_to_currency
from shared.tax.catalog import RateCatalog
from shared.tax.document import DocumentLine, TaxDocument
from shared.tax.model import (
    DECIMAL_CONTEXT,
    EU_MEMBER_STATES,
    CategoryKind,
    DocumentType,
    PriceMode,
    Reason,
    RoundingScope,
    TaxDefinition,
    TaxRate,
    refused,
)
from shared.tax.result import (
    BreakdownRow,
    JurisdictionTotal,
    LineResult,
    LineTax,
    ReverseCharge,
    TaxCalculation,
)
from shared.tax.rounding import allocate

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class _PricedLine:
    index: int
    line: DocumentLine
    place: str
    extension: Decimal
    discount: Decimal
    amount: Decimal  # net when prices are exclusive, gross when inclusive


@dataclass(frozen=True, slots=True)
class _PlannedTax:
    jurisdiction: str
    tax: str | None
    category: str
    reason: Reason
    rate: TaxRate | None

    @property
    def group(self) -> tuple[str, str | None, Decimal]:
        return (self.jurisdiction, self.tax, self.rate.percent if self.rate else _ZERO)


def calculate(document: TaxDocument, catalog: RateCatalog) -> TaxCalculation:
    """Tax for every line and the document, or a 422 naming the offending field."""
    with localcontext(DECIMAL_CONTEXT):
        reverse_charge = _reverse_charge(document)
        priced = [_price(document, line, i) for i, line in enumerate(document.lines)]
        plans = [_plan(document, p, catalog, reverse_charge is not None) for p in priced]
        if document.rounding_scope is RoundingScope.LINE:
            taxes = [
                _line_scope_taxes(document, p, plan) for p, plan in zip(priced, plans, strict=True)
            ]
        else:
            taxes = _document_scope_taxes(document, priced, plans)
        lines = tuple(
            _line_result(document, p, plan, amounts)
            for p, plan, amounts in zip(priced, plans, taxes, strict=True)
        )
        return _summarize(document, lines, reverse_charge)


def _reverse_charge(document: TaxDocument) -> ReverseCharge | None:
    seller, buyer = document.seller, document.buyer
    if (
        buyer is not None
        and buyer.tax_id
        and seller.country in EU_MEMBER_STATES
        and buyer.country in EU_MEMBER_STATES
        and seller.country != buyer.country
    ):
        return ReverseCharge(seller.country, buyer.country, buyer.tax_id, seller.tax_id)
    return None


# -- line amounts -----------------------------------------------------------------


def _price(document: TaxDocument, line: DocumentLine, index: int) -> _PricedLine:
    path = f"lines.{index}"
    if line.quantity < 0 and document.document_type is not DocumentType.CREDIT_NOTE:
        raise refused(
            f"{path}.quantity",
            "a negative quantity is only allowed on a credit note",
            "negative_quantity_not_allowed",
        )
    extension = _round(document, line.quantity * line.unit_price)
    discount = _discount(document, line, extension, path)
    return _PricedLine(
        index=index,
        line=line,
        place=line.place_of_supply or document.place_of_supply,
        extension=extension,
        discount=discount,
        amount=extension - discount,
    )


def _discount(document: TaxDocument, line: DocumentLine, extension: Decimal, path: str) -> Decimal:
    if line.discount_percent is not None:
        return _round(document, extension * line.discount_percent / 100)
    if line.discount_amount is None:
        return _round(document, _ZERO)
    if line.discount_amount > abs(extension):
        raise refused(
            f"{path}.discount_amount.amount",
            f"discount {line.discount_amount} exceeds the line amount {abs(extension)}",
            "discount_exceeds_line_amount",
        )
    return -line.discount_amount if extension < 0 else line.discount_amount


# -- which taxes, and why -----------------------------------------------------------


def _plan(
    document: TaxDocument, priced: _PricedLine, catalog: RateCatalog, reverse_charge: bool
) -> tuple[_PlannedTax, ...]:
    place_field = (
        f"lines.{priced.index}.place_of_supply"
        if priced.line.place_of_supply
        else "place_of_supply"
    )
    levied = catalog.taxes_at(priced.place, field=place_field)
    if not levied:
        return (
            _PlannedTax(
                priced.place, None, priced.line.tax_category, Reason.NOT_SUBJECT_TO_TAX, None
            ),
        )
    return tuple(_plan_tax(document, priced, tax, catalog, reverse_charge) for tax in levied)


def _plan_tax(
    document: TaxDocument,
    priced: _PricedLine,
    tax: TaxDefinition,
    catalog: RateCatalog,
    reverse_charge: bool,
) -> _PlannedTax:
    field = f"lines.{priced.index}.tax_category"
    category = catalog.category(tax.jurisdiction, tax.code, priced.line.tax_category, field=field)
    reason = _reason(document, tax, category.kind, reverse_charge)
    rate = (
        catalog.rate(tax.jurisdiction, tax.code, category.code, document.document_date, field=field)
        if reason.charges_tax
        else None
    )
    return _PlannedTax(tax.jurisdiction, tax.code, category.code, reason, rate)


def _reason(
    document: TaxDocument, tax: TaxDefinition, kind: CategoryKind, reverse_charge: bool
) -> Reason:
    if kind is CategoryKind.EXEMPT:
        return Reason.PRODUCT_EXEMPT
    if reverse_charge and tax.jurisdiction[:2] in EU_MEMBER_STATES:
        return Reason.REVERSE_CHARGE
    certificates = document.buyer.exemption_certificates if document.buyer else ()
    if any(c.covers(tax.jurisdiction, tax.code, document.document_date) for c in certificates):
        return Reason.CUSTOMER_EXEMPT
    if kind is CategoryKind.ZERO_RATED:
        return Reason.ZERO_RATED
    if kind is CategoryKind.STANDARD:
        return Reason.STANDARD_RATED
    return Reason.REDUCED_RATED


# -- tax amounts ------------------------------------------------------------------


def _factors(plan: tuple[_PlannedTax, ...]) -> list[Decimal]:
    """Each tax as a fraction of the line's net amount (compound ones include earlier taxes)."""
    factors: list[Decimal] = []
    for planned in plan:
        if planned.rate is None:
            factors.append(_ZERO)
        elif planned.rate.compound:
            factors.append(planned.rate.fraction * (1 + sum(factors, _ZERO)))
        else:
            factors.append(planned.rate.fraction)
    return factors


def _unrounded_taxes(
    document: TaxDocument, priced: _PricedLine, plan: tuple[_PlannedTax, ...]
) -> list[Decimal]:
    factors = _factors(plan)
    if document.price_mode is PriceMode.EXCLUSIVE:
        net = priced.amount
    else:
        net = priced.amount / (1 + sum(factors, _ZERO))
    return [net * factor for factor in factors]


def _line_scope_taxes(
    document: TaxDocument, priced: _PricedLine, plan: tuple[_PlannedTax, ...]
) -> list[Decimal]:
    if document.price_mode is PriceMode.INCLUSIVE:
        return [_round(document, t) for t in _unrounded_taxes(document, priced, plan)]
    taxes: list[Decimal] = []
    for planned in plan:
        if planned.rate is None:
            taxes.append(_round(document, _ZERO))
            continue
        base = priced.amount + (sum(taxes, _ZERO) if planned.rate.compound else _ZERO)
        taxes.append(_round(document, base * planned.rate.fraction))
    return taxes


def _document_scope_taxes(
    document: TaxDocument,
    priced: list[_PricedLine],
    plans: list[tuple[_PlannedTax, ...]],
) -> list[list[Decimal]]:
    unrounded = [_unrounded_taxes(document, p, plan) for p, plan in zip(priced, plans, strict=True)]
    taxes = [[_round(document, _ZERO) for _ in plan] for plan in plans]
    members: dict[tuple[str, str | None, Decimal], list[tuple[int, int]]] = {}
    for line_index, plan in enumerate(plans):
        for tax_index, planned in enumerate(plan):
            if planned.reason.charges_tax:
                members.setdefault(planned.group, []).append((line_index, tax_index))
    for positions in members.values():
        amounts = [unrounded[li][ti] for li, ti in positions]
        total = _round(document, sum(amounts, _ZERO))
        shares = allocate(amounts, total, document.currency, document.rounding)
        for (li, ti), share in zip(positions, shares, strict=True):
            taxes[li][ti] = share
    return taxes


def _line_result(
    document: TaxDocument,
    priced: _PricedLine,
    plan: tuple[_PlannedTax, ...],
    amounts: list[Decimal],
) -> LineResult:
    tax = sum(amounts, _round(document, _ZERO))
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
        extension=priced.extension,
        discount=priced.discount,
        net=net,
        tax=tax,
        gross=gross,
        taxes=tuple(_line_taxes(net, plan, amounts)),
    )


def _line_taxes(
    net: Decimal, plan: tuple[_PlannedTax, ...], amounts: list[Decimal]
) -> Iterator[LineTax]:
    earlier = _ZERO
    for planned, amount in zip(plan, amounts, strict=True):
        compound = planned.rate is not None and planned.rate.compound
        yield LineTax(
            jurisdiction=planned.jurisdiction,
            tax=planned.tax,
            category=planned.category,
            rate=planned.rate.percent if planned.rate else _ZERO,
            compound=compound,
            taxable_amount=net + earlier if compound else net,
            tax_amount=amount,
            reason=planned.reason,
        )
        earlier += amount


# -- document totals ----------------------------------------------------------------


def _summarize(
    document: TaxDocument, lines: tuple[LineResult, ...], reverse_charge: ReverseCharge | None
) -> TaxCalculation:
    zero = _round(document, _ZERO)
    rows: dict[tuple[str, str | None, Decimal, Reason], list[Decimal]] = {}
    by_jurisdiction: dict[str, Decimal] = {}
    for line in lines:
        for tax in line.taxes:
            row = rows.setdefault((tax.jurisdiction, tax.tax, tax.rate, tax.reason), [zero, zero])
            row[0] += tax.taxable_amount
            row[1] += tax.tax_amount
            by_jurisdiction[tax.jurisdiction] = (
                by_jurisdiction.get(tax.jurisdiction, zero) + tax.tax_amount
            )
    applied = any(t.reason is Reason.REVERSE_CHARGE for line in lines for t in line.taxes)
    return TaxCalculation(
        document_type=document.document_type,
        document_date=document.document_date,
        currency=document.currency,
        price_mode=document.price_mode,
        rounding=document.rounding,
        rounding_scope=document.rounding_scope,
        place_of_supply=document.place_of_supply,
        lines=lines,
        breakdown=tuple(
            BreakdownRow(jurisdiction, tax, rate, reason, taxable, amount)
            for (jurisdiction, tax, rate, reason), (taxable, amount) in rows.items()
        ),
        jurisdictions=tuple(JurisdictionTotal(j, amount) for j, amount in by_jurisdiction.items()),
        net=sum((line.net for line in lines), zero),
        tax=sum((line.tax for line in lines), zero),
        gross=sum((line.gross for line in lines), zero),
        reverse_charge=reverse_charge if applied else None,
    )


def _round(document: TaxDocument, amount: Decimal) -> Decimal:
    return round_to_currency(amount, document.currency, document.rounding)
