"""Which taxes apply to a priced line, and why: the reason of each, its rate, its certificate.

The second step of :func:`shared.tax.engine.calculate`, apart from it because it only
decides, from the catalog, what each line owes and why, and computes no amount: the
jurisdictions and taxes in force at the place and on the tax date, the reason of each
(exempt, threshold, reverse charge, certificates, zero or charged), and the withholding
taxes. The rules themselves are defined in the docstring of :mod:`shared.tax.engine`.
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.tax import levy, thresholds
from shared.tax.catalog import RateCatalog
from shared.tax.certificates import LimitedCertificate, covering
from shared.tax.document import TaxDocument
from shared.tax.line_pricing import PricedLine
from shared.tax.model import (
    EU_MEMBER_STATES,
    CategoryKind,
    Reason,
    TaxDefinition,
    TaxRate,
    refused,
)

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PlannedTax:
    jurisdiction: str
    tax: str | None
    category: str
    reason: Reason
    rate: TaxRate | None
    certificate_id: str | None = None

    @property
    def group(self) -> GroupKey:
        if self.rate is None:
            return (self.jurisdiction, self.tax, _ZERO, None)
        return (self.jurisdiction, self.tax, self.rate.percent, self.rate.per_unit)


# jurisdiction, tax, percent and amount per unit: one rounding group, one breakdown figure
GroupKey = tuple[str, str | None, Decimal, object]


# -- which taxes, and why -----------------------------------------------------------


def plan_taxes(
    document: TaxDocument, priced: PricedLine, catalog: RateCatalog
) -> tuple[PlannedTax, ...]:
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
            PlannedTax(
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
        PlannedTax(priced.place, None, priced.line.tax_category, Reason.NOT_SUBJECT_TO_TAX, None),
    )


def _plan_tax(
    document: TaxDocument, priced: PricedLine, tax: TaxDefinition, catalog: RateCatalog
) -> PlannedTax:
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
    return PlannedTax(
        tax.jurisdiction,
        tax.code,
        category.code,
        reason,
        rate,
        certificate.certificate_id if certificate else None,
    )


def _certificate(
    document: TaxDocument, priced: PricedLine, tax: TaxDefinition
) -> LimitedCertificate | None:
    cited = document.buyer.limited_certificates if document.buyer else ()
    return covering(cited, tax.jurisdiction, tax.code, priced.line.tax_category, priced.tax_date)


def _reason(
    document: TaxDocument, priced: PricedLine, tax: TaxDefinition, kind: CategoryKind
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


def plan_withholding(
    document: TaxDocument, priced: PricedLine, catalog: RateCatalog
) -> tuple[PlannedTax, ...]:
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
            PlannedTax(tax.jurisdiction, tax.code, category.code, Reason.STANDARD_RATED, rate)
        )
    return tuple(planned)
