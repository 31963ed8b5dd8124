# Over 600 lines on purpose: one pure calculation; its docstring is the one definition of its rules.
"""The tax engine: a pure function from a document and a rate catalog to explained figures.

``calculate(document, catalog)`` does no I/O and keeps no state; the same
input always gives the same output. Arithmetic runs in a private decimal
context (50 digits), so a caller's context cannot change a result.

Rounding modes
    ``half_up``, ``half_even`` or ``down`` (truncation toward zero, the usual
    Japanese rule for the consumption-tax fraction), always to the currency's
    minor unit; one mode for every amount of the document.

Line amounts (``line_amount_rounding``)
    ``line`` (the default): extension = quantity * unit price, rounded to the
    currency's minor unit with the document's rounding mode; a percentage
    discount is extension * percent / 100, rounded the same way; an amount
    discount is taken as given (it reduces the line's magnitude, so it is
    subtracted from a negative credit-note line the other way) and may not
    exceed the extension. The line amount = extension - discount is exact in
    minor units, whatever the tax rounding scope: it is what the document
    prints. A unit price may have more decimals than the currency when the
    document says so (``unit_price_decimals``: 0.0125 EUR * 1,000 = 12.50).
    ``document``: quantity * unit price and the discount stay exact; the sum of
    the exact line amounts is rounded once and allocated back onto the lines
    (:func:`shared.tax.rounding.allocate`), and taxes are computed on the exact
    line amounts. The line's printed discount is its exact discount rounded,
    and its printed extension is the allocated amount plus that discount.

Place of supply
    The line's supply type (the document's unless the line names its own)
    decides the place with :func:`shared.tax.place_of_supply.decide`: the
    caller's ``place_of_supply`` (the line's, else the document's), the line's
    ``location`` (immovable property, passenger transport, events, restaurants)
    or the buyer's country (electronic services to an EU consumer).

Tax date
    Rates, taxes in force and exemption certificates are those of the tax date:
    the document date, or, when the document gives a ``tax_point`` timestamp,
    its local date in the time zone of the place of supply (the catalog's zone
    of the place or its nearest enclosing jurisdiction): 2020-06-30T23:30Z is
    1 July 2020 in Germany.

Which taxes apply
    The place of supply and every enclosing jurisdiction the catalog knows
    contribute the taxes in force on the tax date, ordered by the tax's
    ``order``; a tax in force that ``replaces`` another removes it (Ontario's
    HST replaces Canada's GST; BC's HST replaced GST and PST from 2010-07-01
    to 2013-03-31). A place that levies no tax gives one ``not_subject_to_tax``
    entry, or, when its taxes had not yet been introduced on the tax date,
    one ``not_yet_in_force`` entry per such tax (Oman before 2021-04-16).
    A ``selective`` tax (an excise duty) is levied only on lines of the
    categories it lists.
    For every tax, the line's category is looked up; the reason is decided in
    this order: ``product_exempt`` (exempt category), ``price_threshold`` (the
    category's price threshold relieves the line, :mod:`shared.tax.thresholds`),
    ``reverse_charge`` (EU B2B cross-border, below), ``customer_exempt`` (a
    buyer's certificate given inline, valid for that jurisdiction, that tax and
    the tax date), ``exemption_certificate`` (a stored certificate the document
    cites that covers the jurisdiction, the line's category and the tax date,
    :mod:`shared.tax.certificates`), ``zero_rated``, then ``standard_rated`` or
    ``reduced_rated`` (reduced and super-reduced kinds), the only two that
    charge tax and need a rate in force on the tax date.

Compound taxes, per-unit rates and caps
    Each charged tax i is an affine function of the line's net amount,
    fixed_i + f_i * net (:mod:`shared.tax.levy`): a percentage has f_i = r_i; an
    amount per unit (an excise duty) has fixed_i = quantity * amount; a compound
    rate has f_i = r_i * (1 + sum of the factors of the taxes before it on the
    line) and fixed_i = r_i * (sum of their fixed parts) — it is levied on the
    price plus those taxes (VAT on price plus excise); a capped rate whose tax
    reaches its limit is that limit.

Exclusive prices
    net = line amount; tax_i = fixed_i + net * f_i.

Inclusive prices
    gross = line amount; the taxes are extracted: net_exact = (gross - Σ fixed) /
    (1 + Σ f), tax_i = fixed_i + net_exact * f_i, and after rounding the taxes,
    net = gross - Σ tax_i,
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
    The buyer's tax id is checked first (offline by format and checksum unless
    the document carries an online check, :mod:`shared.tax.vat_ids`). When
    seller and buyer are in different EU member states, the buyer's id is a
    valid one of its own member state, and the line's place-of-supply rule is
    art. 44 (general and electronic services to a business), every tax levied
    in an EU member state on that line gets ``reverse_charge`` and rate 0: the
    seller charges no VAT and the result's ``reverse_charge`` carries the
    buyer's normalised id and the invoice legend. A blank or invalid id makes
    the buyer a consumer.

Withholding
    A line with a withholding category (its own or the document's) has the
    withholding taxes of its place in force on the tax date applied to its
    net amount (Spain's IRPF, 15 % for professionals), rounded like taxes
    (per line, or per group and allocated). Withheld amounts are neither tax
    nor gross: the result shows them apart and ``payable`` = gross - withheld.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, localcontext

from shared.tax import levy, place_of_supply, thresholds
from shared.tax.catalog import RateCatalog
from shared.tax.certificates import LimitedCertificate, covering
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
    invalid,
    refused,
)
from shared.tax.place_of_supply import Parties, PlaceDecision, PlaceSource, SupplyType
from shared.tax.rate_kinds import PerUnitAmount
from shared.tax.result import (
    BreakdownRow,
    JurisdictionTotal,
    LineResult,
    LineTax,
    ReverseCharge,
    TaxCalculation,
    Withholding,
    WithholdingRow,
)
from shared.tax.rounding import allocate, round_amount
from shared.tax.vat_ids import TaxIdCheck, check_vat_number

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class _LineAmounts:
    extension: Decimal  # printed: rounded
    discount: Decimal  # printed: rounded
    amount: Decimal  # printed: net when prices are exclusive, gross when inclusive
    exact: Decimal  # what taxes are computed on: ``amount`` unless rounded per document


@dataclass(frozen=True, slots=True)
class _PricedLine:
    index: int
    line: DocumentLine
    supply_type: SupplyType
    decision: PlaceDecision
    place_field: str
    tax_date: date
    amounts: _LineAmounts

    @property
    def place(self) -> str:
        return self.decision.place

    @property
    def amount(self) -> Decimal:
        return self.amounts.amount


@dataclass(frozen=True, slots=True)
class _PlannedTax:
    jurisdiction: str
    tax: str | None
    category: str
    reason: Reason
    rate: TaxRate | None
    certificate_id: str | None = None

    @property
    def group(self) -> _GroupKey:
        if self.rate is None:
            return (self.jurisdiction, self.tax, _ZERO, None)
        return (self.jurisdiction, self.tax, self.rate.percent, self.rate.per_unit)


# jurisdiction, tax, percent and amount per unit: one rounding group, one breakdown figure
_GroupKey = tuple[str, str | None, Decimal, object]


def calculate(document: TaxDocument, catalog: RateCatalog) -> TaxCalculation:
    """Tax for every line and the document, or a 422 naming the offending field."""
    with localcontext(DECIMAL_CONTEXT):
        tax_id_check = buyer_tax_id_check(document)
        parties = _parties(document, tax_id_check)
        amounts = _line_amounts(document)
        priced = [
            _locate(document, catalog, parties, line, i, amounts[i])
            for i, line in enumerate(document.lines)
        ]
        plans = [_plan(document, p, catalog) for p in priced]
        withholding_plans = [_plan_withholding(document, p, catalog) for p in priced]
        if document.rounding_scope is RoundingScope.LINE:
            taxes = [
                _line_scope_taxes(document, p, plan) for p, plan in zip(priced, plans, strict=True)
            ]
        else:
            taxes = _document_scope_taxes(document, priced, plans)
        lines = [
            _line_result(document, p, plan, line_taxes)
            for p, plan, line_taxes in zip(priced, plans, taxes, strict=True)
        ]
        lines = _withheld(document, lines, withholding_plans)
        return _summarize(document, tuple(lines), tax_id_check)


def buyer_tax_id_check(document: TaxDocument) -> TaxIdCheck | None:
    """The check of the buyer's tax id: the one the document carries, else the offline one."""
    buyer = document.buyer
    if buyer is None or buyer.tax_id is None:
        return None
    return buyer.tax_id_check or check_vat_number(buyer.tax_id, buyer.country)


def _parties(document: TaxDocument, check: TaxIdCheck | None) -> Parties:
    return Parties(
        seller_country=document.seller.country,
        buyer_country=document.buyer.country if document.buyer else None,
        buyer_vat_member_state=check.member_state if check is not None and check.valid else None,
    )


# -- line amounts -----------------------------------------------------------------


def _line_amounts(document: TaxDocument) -> list[_LineAmounts]:
    exact: list[tuple[Decimal, Decimal]] = []  # (extension, discount) per line
    for index, line in enumerate(document.lines):
        path = f"lines.{index}"
        if line.quantity < 0 and document.document_type is not DocumentType.CREDIT_NOTE:
            raise refused(
                f"{path}.quantity",
                "a negative quantity is only allowed on a credit note",
                "negative_quantity_not_allowed",
            )
        extension = line.quantity * line.unit_price
        if document.line_amount_rounding is RoundingScope.LINE:
            extension = _round(document, extension)
        exact.append((extension, _discount(document, line, extension, path)))
    if document.line_amount_rounding is RoundingScope.LINE:
        return [_LineAmounts(e, d, e - d, e - d) for e, d in exact]
    totals = [e - d for e, d in exact]
    shares = allocate(
        totals, _round(document, sum(totals, _ZERO)), document.currency, document.rounding
    )
    amounts = []
    for (_, discount), total, share in zip(exact, totals, shares, strict=True):
        printed_discount = _round(document, discount)
        amounts.append(_LineAmounts(share + printed_discount, printed_discount, share, total))
    return amounts


def _discount(document: TaxDocument, line: DocumentLine, extension: Decimal, path: str) -> Decimal:
    """The line's discount: rounded when line amounts are, exact otherwise."""
    per_line = document.line_amount_rounding is RoundingScope.LINE
    if line.discount_percent is not None:
        discount = extension * line.discount_percent / 100
        return _round(document, discount) if per_line else discount
    if line.discount_amount is None:
        return _round(document, _ZERO)
    if line.discount_amount > abs(extension):
        raise refused(
            f"{path}.discount_amount.amount",
            f"discount {line.discount_amount} exceeds the line amount {abs(extension)}",
            "discount_exceeds_line_amount",
        )
    return -line.discount_amount if extension < 0 else line.discount_amount


# -- where, and when ------------------------------------------------------------------


def _locate(
    document: TaxDocument,
    catalog: RateCatalog,
    parties: Parties,
    line: DocumentLine,
    index: int,
    amounts: _LineAmounts,
) -> _PricedLine:
    supply_type = line.supply_type or document.supply_type
    if supply_type.needs_location and line.location is None:
        raise invalid(
            f"lines.{index}.location",
            f"a {supply_type.value} supply is taxed where it takes place: give its location",
            "location_required",
        )
    caller_place = line.place_of_supply or document.place_of_supply
    decision = place_of_supply.decide(supply_type, parties, caller_place, line.location)
    if decision.source is PlaceSource.LOCATION:
        place_field = f"lines.{index}.location"
    elif decision.source is PlaceSource.BUYER:
        place_field = "buyer.country"
    elif line.place_of_supply:
        place_field = f"lines.{index}.place_of_supply"
    else:
        place_field = "place_of_supply"
    return _PricedLine(
        index=index,
        line=line,
        supply_type=supply_type,
        decision=decision,
        place_field=place_field,
        tax_date=_tax_date(document, catalog, decision.place, place_field),
        amounts=amounts,
    )


def _tax_date(document: TaxDocument, catalog: RateCatalog, place: str, place_field: str) -> date:
    """The document date, or the tax point's local date at the place of supply."""
    # Looked up even without a tax point: an unknown place is refused here, on its own field.
    zone = catalog.time_zone_at(place, field=place_field)
    if document.tax_point is None:
        return document.document_date
    if zone is None:
        raise invalid(
            "tax_point",
            f"the catalog has no time zone for {place}: give the date only, as document_date",
            "time_zone_unknown",
        )
    try:
        return document.tax_point.astimezone(zone).date()
    except OverflowError:
        raise invalid(
            "tax_point", "the tax point is out of the range of dates", "invalid_tax_point"
        ) from None


# -- which taxes, and why -----------------------------------------------------------


def _plan(
    document: TaxDocument, priced: _PricedLine, catalog: RateCatalog
) -> tuple[_PlannedTax, ...]:
    category = priced.line.tax_category
    levied = [
        tax
        for tax in catalog.taxes_at(priced.place, on=priced.tax_date, field=priced.place_field)
        if not tax.selective or catalog.has_category(tax.jurisdiction, tax.code, category)
    ]
    if levied:
        return tuple(_plan_tax(document, priced, tax, catalog) for tax in levied)
    category_field = f"lines.{priced.index}.tax_category"
    introduced_later = [
        tax
        for tax in catalog.taxes_introduced_after(
            priced.place, priced.tax_date, field=priced.place_field
        )
        if not tax.selective or catalog.has_category(tax.jurisdiction, tax.code, category)
    ]
    if introduced_later:
        return tuple(
            _PlannedTax(
                tax.jurisdiction,
                tax.code,
                catalog.category(
                    tax.jurisdiction, tax.code, priced.line.tax_category, field=category_field
                ).code,
                Reason.NOT_YET_IN_FORCE,
                None,
            )
            for tax in introduced_later
        )
    return (
        _PlannedTax(priced.place, None, priced.line.tax_category, Reason.NOT_SUBJECT_TO_TAX, None),
    )


def _plan_tax(
    document: TaxDocument, priced: _PricedLine, tax: TaxDefinition, catalog: RateCatalog
) -> _PlannedTax:
    field = f"lines.{priced.index}.tax_category"
    category = catalog.category(tax.jurisdiction, tax.code, priced.line.tax_category, field=field)
    reason = _reason(document, priced, tax, category.kind)
    if reason is not Reason.PRODUCT_EXEMPT and thresholds.exempts(
        category, priced.amounts.exact, priced.line.quantity, document.currency, priced.tax_date
    ):
        reason = Reason.PRICE_THRESHOLD
    certificate = (
        _certificate(document, priced, tax) if reason is Reason.EXEMPTION_CERTIFICATE else None
    )
    rate = (
        catalog.rate(tax.jurisdiction, tax.code, category.code, priced.tax_date, field=field)
        if reason.charges_tax
        else None
    )
    if rate is not None:
        levy.check_rate_applies(
            rate,
            document.currency,
            priced.line.unit,
            line_path=f"lines.{priced.index}",
            label=f"{tax.jurisdiction} {tax.code} {category.code} rate",
        )
    return _PlannedTax(
        tax.jurisdiction,
        tax.code,
        category.code,
        reason,
        rate,
        certificate.certificate_id if certificate else None,
    )


def _certificate(
    document: TaxDocument, priced: _PricedLine, tax: TaxDefinition
) -> LimitedCertificate | None:
    cited = document.buyer.limited_certificates if document.buyer else ()
    return covering(cited, tax.jurisdiction, tax.code, priced.line.tax_category, priced.tax_date)


def _reason(
    document: TaxDocument, priced: _PricedLine, tax: TaxDefinition, kind: CategoryKind
) -> Reason:
    if kind is CategoryKind.EXEMPT:
        return Reason.PRODUCT_EXEMPT
    if priced.decision.reverse_charge and tax.jurisdiction[:2] in EU_MEMBER_STATES:
        return Reason.REVERSE_CHARGE
    certificates = document.buyer.exemption_certificates if document.buyer else ()
    if any(c.covers(tax.jurisdiction, tax.code, priced.tax_date) for c in certificates):
        return Reason.CUSTOMER_EXEMPT
    if _certificate(document, priced, tax) is not None:
        return Reason.EXEMPTION_CERTIFICATE
    if kind is CategoryKind.ZERO_RATED:
        return Reason.ZERO_RATED
    if kind is CategoryKind.STANDARD:
        return Reason.STANDARD_RATED
    return Reason.REDUCED_RATED


def _plan_withholding(
    document: TaxDocument, priced: _PricedLine, catalog: RateCatalog
) -> tuple[_PlannedTax, ...]:
    code = priced.line.withholding_category or document.withholding_category
    if code is None:
        return ()
    field = (
        f"lines.{priced.index}.withholding_category"
        if priced.line.withholding_category
        else "withholding_category"
    )
    taxes = catalog.withholding_taxes_at(priced.place, priced.tax_date, field=priced.place_field)
    if not taxes:
        raise refused(
            field,
            f"{priced.place} has no withholding tax in force on {priced.tax_date.isoformat()}",
            "no_withholding_tax",
        )
    planned = []
    for tax in taxes:
        category = catalog.category(tax.jurisdiction, tax.code, code, field=field)
        rate = (
            catalog.rate(tax.jurisdiction, tax.code, category.code, priced.tax_date, field=field)
            if category.kind.needs_rate
            else None
        )
        planned.append(
            _PlannedTax(tax.jurisdiction, tax.code, category.code, Reason.STANDARD_RATED, rate)
        )
    return tuple(planned)


# -- tax amounts ------------------------------------------------------------------


def _unrounded_taxes(
    document: TaxDocument, priced: _PricedLine, plan: tuple[_PlannedTax, ...]
) -> list[Decimal]:
    return levy.unrounded_taxes(
        [planned.rate for planned in plan],
        priced.amounts.exact,
        priced.line.quantity,
        inclusive=document.price_mode is PriceMode.INCLUSIVE,
        price_field=f"lines.{priced.index}.unit_price.amount",
    )


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
        base = priced.amounts.exact + (sum(taxes, _ZERO) if planned.rate.compound else _ZERO)
        taxes.append(_round(document, levy.levied(planned.rate, base, priced.line.quantity)))
    return taxes


def _document_scope_taxes(
    document: TaxDocument,
    priced: list[_PricedLine],
    plans: list[tuple[_PlannedTax, ...]],
) -> list[list[Decimal]]:
    unrounded = [_unrounded_taxes(document, p, plan) for p, plan in zip(priced, plans, strict=True)]
    return _grouped(document, plans, unrounded)


def _grouped(
    document: TaxDocument,
    plans: list[tuple[_PlannedTax, ...]],
    unrounded: list[list[Decimal]],
) -> list[list[Decimal]]:
    """Round each jurisdiction + tax + rate group once and allocate it back onto its lines."""
    amounts = [[_round(document, _ZERO) for _ in plan] for plan in plans]
    members: dict[_GroupKey, list[tuple[int, int]]] = {}
    for line_index, plan in enumerate(plans):
        for tax_index, planned in enumerate(plan):
            if planned.rate is not None and planned.reason.charges_tax:
                members.setdefault(planned.group, []).append((line_index, tax_index))
    for positions in members.values():
        exact = [unrounded[li][ti] for li, ti in positions]
        total = _round(document, sum(exact, _ZERO))
        shares = allocate(exact, total, document.currency, document.rounding)
        for (li, ti), share in zip(positions, shares, strict=True):
            amounts[li][ti] = share
    return amounts


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
    net: Decimal, quantity: Decimal, plan: tuple[_PlannedTax, ...], amounts: list[Decimal]
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


def _withheld(
    document: TaxDocument,
    lines: list[LineResult],
    plans: list[tuple[_PlannedTax, ...]],
) -> list[LineResult]:
    """The lines with their withholdings, levied on each line's net amount."""
    if not any(plans):
        return lines
    unrounded = [
        [line.net * (p.rate.fraction if p.rate else _ZERO) for p in plan]
        for line, plan in zip(lines, plans, strict=True)
    ]
    if document.rounding_scope is RoundingScope.LINE:
        amounts = [[_round(document, a) for a in line_amounts] for line_amounts in unrounded]
    else:
        amounts = _grouped(document, plans, unrounded)
    return [
        _with_withholdings(line, plan, line_amounts)
        for line, plan, line_amounts in zip(lines, plans, amounts, strict=True)
    ]


def _with_withholdings(
    line: LineResult, plan: tuple[_PlannedTax, ...], amounts: list[Decimal]
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


# -- document totals ----------------------------------------------------------------


def _summarize(
    document: TaxDocument, lines: tuple[LineResult, ...], tax_id_check: TaxIdCheck | None
) -> TaxCalculation:
    zero = _round(document, _ZERO)
    rows: dict[tuple[str, str | None, Decimal, Reason, object], list[Decimal]] = {}
    withheld: dict[tuple[str, str, Decimal], list[Decimal]] = {}
    by_jurisdiction: dict[str, Decimal] = {}
    for line in lines:
        for tax in line.taxes:
            row_key = (tax.jurisdiction, tax.tax, tax.rate, tax.reason, tax.per_unit)
            row = rows.setdefault(row_key, [zero, zero])
            row[0] += tax.taxable_amount
            row[1] += tax.tax_amount
            by_jurisdiction[tax.jurisdiction] = (
                by_jurisdiction.get(tax.jurisdiction, zero) + tax.tax_amount
            )
        for withholding in line.withholdings:
            key = (withholding.jurisdiction, withholding.tax, withholding.rate)
            totals = withheld.setdefault(key, [zero, zero])
            totals[0] += withholding.taxable_amount
            totals[1] += withholding.amount
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
            BreakdownRow(
                jurisdiction,
                tax,
                rate,
                reason,
                taxable,
                amount,
                per_unit if isinstance(per_unit, PerUnitAmount) else None,
            )
            for (jurisdiction, tax, rate, reason, per_unit), (taxable, amount) in rows.items()
        ),
        jurisdictions=tuple(JurisdictionTotal(j, amount) for j, amount in by_jurisdiction.items()),
        net=sum((line.net for line in lines), zero),
        tax=sum((line.tax for line in lines), zero),
        gross=sum((line.gross for line in lines), zero),
        reverse_charge=_reverse_charge(document, lines, tax_id_check),
        buyer_tax_id=tax_id_check,
        tax_point=document.tax_point,
        withholding_breakdown=tuple(
            WithholdingRow(jurisdiction, tax, rate, taxable, amount)
            for (jurisdiction, tax, rate), (taxable, amount) in withheld.items()
        ),
    )


def _reverse_charge(
    document: TaxDocument, lines: tuple[LineResult, ...], tax_id_check: TaxIdCheck | None
) -> ReverseCharge | None:
    applied = any(t.reason is Reason.REVERSE_CHARGE for line in lines for t in line.taxes)
    if not applied or document.buyer is None or tax_id_check is None:
        return None
    return ReverseCharge(
        document.seller.country,
        document.buyer.country,
        tax_id_check.normalized or tax_id_check.given,
        document.seller.tax_id,
    )


def _round(document: TaxDocument, amount: Decimal) -> Decimal:
    return round_amount(amount, document.currency, document.rounding)
