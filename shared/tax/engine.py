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

Where each step lives
    This module runs the steps in order and sums the document. Each step is its
    own pure module: :mod:`shared.tax.line_pricing` (line amounts, place of
    supply, tax date), :mod:`shared.tax.tax_planning` (which taxes, and why),
    :mod:`shared.tax.tax_amounts` (tax and withholding amounts in either
    rounding scope). This docstring stays the one definition of their rules.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from shared.tax.catalog import RateCatalog
from shared.tax.document import TaxDocument
from shared.tax.line_pricing import line_amounts, locate, round_to_currency
from shared.tax.model import DECIMAL_CONTEXT, Reason, RoundingScope
from shared.tax.place_of_supply import Parties
from shared.tax.rate_kinds import PerUnitAmount
from shared.tax.result import (
    BreakdownRow,
    JurisdictionTotal,
    LineResult,
    ReverseCharge,
    TaxCalculation,
    WithholdingRow,
)
from shared.tax.tax_amounts import document_scope_taxes, line_result, line_scope_taxes, withheld
from shared.tax.tax_planning import plan_taxes, plan_withholding
from shared.tax.vat_ids import TaxIdCheck, check_vat_number

_ZERO = Decimal(0)


def calculate(document: TaxDocument, catalog: RateCatalog) -> TaxCalculation:
    """Tax for every line and the document, or a 422 naming the offending field."""
    with localcontext(DECIMAL_CONTEXT):
        tax_id_check = buyer_tax_id_check(document)
        parties = _parties(document, tax_id_check)
        amounts = line_amounts(document)
        priced = [
            locate(document, catalog, parties, line, i, amounts[i])
            for i, line in enumerate(document.lines)
        ]
        plans = [plan_taxes(document, p, catalog) for p in priced]
        withholding_plans = [plan_withholding(document, p, catalog) for p in priced]
        if document.rounding_scope is RoundingScope.LINE:
            taxes = [
                line_scope_taxes(document, p, plan) for p, plan in zip(priced, plans, strict=True)
            ]
        else:
            taxes = document_scope_taxes(document, priced, plans)
        lines = [
            line_result(document, p, plan, line_taxes)
            for p, plan, line_taxes in zip(priced, plans, taxes, strict=True)
        ]
        lines = withheld(document, lines, withholding_plans)
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


# -- document totals ----------------------------------------------------------------


# -- document totals ----------------------------------------------------------------


def _summarize(
    document: TaxDocument, lines: tuple[LineResult, ...], tax_id_check: TaxIdCheck | None
) -> TaxCalculation:
    zero = round_to_currency(document, _ZERO)
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
