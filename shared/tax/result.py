"""What a calculation returns: per-line and per-jurisdiction figures, each explained.

Every amount is a ``Decimal`` with the currency's exponent (a unit price may
have more decimals); ``to_json()`` renders them as decimal strings
(``"12.30"``) and rates as percent strings (``"19"``, ``"9.975"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, localcontext
from typing import Any

from shared.money import format_amount, minor_unit
from shared.tax.model import (
    DECIMAL_CONTEXT,
    DocumentType,
    PriceMode,
    Reason,
    RoundingScope,
    TaxRounding,
    format_percent,
)
from shared.tax.place_of_supply import SupplyType
from shared.tax.rate_kinds import PerUnitAmount
from shared.tax.vat_ids import TaxIdCheck

REVERSE_CHARGE_LEGEND = (
    "Reverse charge: VAT to be accounted for by the customer "
    "(Council Directive 2006/112/EC, Articles 194-196)"
)


@dataclass(frozen=True, slots=True)
class LineTax:
    """One tax on one line.

    ``rate`` is the percentage actually charged (0 unless the reason charges
    tax); ``taxable_amount`` is the base: the line's net amount, plus the
    line's earlier taxes for a compound tax, limited by a cap on the taxable
    amount. ``tax`` is None only when the place of supply levies no tax at all.
    ``per_unit`` is the amount per unit of a per-unit rate (``rate`` is then 0);
    ``certificate_id`` names the stored exemption certificate that exempts it.
    """

    jurisdiction: str
    tax: str | None
    category: str
    rate: Decimal
    compound: bool
    taxable_amount: Decimal
    tax_amount: Decimal
    reason: Reason
    per_unit: PerUnitAmount | None = None
    certificate_id: str | None = None


@dataclass(frozen=True, slots=True)
class Withholding:
    """A tax the buyer keeps back from the price and pays to the tax office (Spain's IRPF).

    ``amount`` is positive: the withheld part of what the buyer owes. It is not
    in the line's ``tax`` or ``gross``; it reduces what is payable.
    """

    jurisdiction: str
    tax: str
    category: str
    rate: Decimal
    taxable_amount: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class LineResult:
    """A line's amounts: extension = quantity * unit price; net + tax = gross.

    ``place_rule`` is the VAT Directive article that fixed the place of supply
    (None outside the EU); ``tax_date`` is the day whose rates apply (the
    document date, or the tax point's local date at the place of supply).
    """

    index: int
    line_id: str | None
    place_of_supply: str
    tax_category: str
    quantity: Decimal
    unit_price: Decimal
    extension: Decimal
    discount: Decimal
    net: Decimal
    tax: Decimal
    gross: Decimal
    taxes: tuple[LineTax, ...]
    supply_type: SupplyType = SupplyType.GENERAL
    place_rule: str | None = None
    tax_date: date | None = None
    withholdings: tuple[Withholding, ...] = ()
    unit: str | None = None

    @property
    def withheld(self) -> Decimal:
        return sum((w.amount for w in self.withholdings), self.tax * 0)

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """Distinct reasons of the line's taxes, in levy order."""
        return tuple(dict.fromkeys(t.reason for t in self.taxes))


@dataclass(frozen=True, slots=True)
class BreakdownRow:
    """Totals of one jurisdiction's tax at one rate for one reason (an invoice's tax summary)."""

    jurisdiction: str
    tax: str | None
    rate: Decimal
    reason: Reason
    taxable_amount: Decimal
    tax_amount: Decimal
    per_unit: PerUnitAmount | None = None


@dataclass(frozen=True, slots=True)
class WithholdingRow:
    """Totals of one withholding tax at one rate."""

    jurisdiction: str
    tax: str
    rate: Decimal
    taxable_amount: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class JurisdictionTotal:
    jurisdiction: str
    tax_amount: Decimal


@dataclass(frozen=True, slots=True)
class ReverseCharge:
    """Why the seller charged no VAT: the buyer accounts for it under its own VAT id."""

    seller_country: str
    buyer_country: str
    buyer_tax_id: str
    seller_tax_id: str | None
    legend: str = REVERSE_CHARGE_LEGEND


@dataclass(frozen=True, slots=True)
class TaxCalculation:
    """A document's figures. ``payable`` = ``gross`` less what the buyer withholds.

    ``buyer_tax_id`` records how the buyer's tax id was checked (None when the
    buyer gave none).
    """

    document_type: DocumentType
    document_date: date
    currency: str
    price_mode: PriceMode
    rounding: TaxRounding
    rounding_scope: RoundingScope
    place_of_supply: str
    lines: tuple[LineResult, ...]
    breakdown: tuple[BreakdownRow, ...]
    jurisdictions: tuple[JurisdictionTotal, ...]
    net: Decimal
    tax: Decimal
    gross: Decimal
    reverse_charge: ReverseCharge | None
    buyer_tax_id: TaxIdCheck | None = None
    tax_point: datetime | None = None
    withholding_breakdown: tuple[WithholdingRow, ...] = ()

    @property
    def withheld(self) -> Decimal:
        return sum((row.amount for row in self.withholding_breakdown), self.tax * 0)

    @property
    def payable(self) -> Decimal:
        return self.gross - self.withheld

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types; amounts and rates as decimal strings."""
        with localcontext(DECIMAL_CONTEXT):
            return self._json()

    def _json(self) -> dict[str, Any]:
        amount = self._amount
        return {
            "document_type": self.document_type.value,
            "document_date": self.document_date.isoformat(),
            "currency": self.currency,
            "price_mode": self.price_mode.value,
            "rounding": self.rounding.value,
            "rounding_scope": self.rounding_scope.value,
            "place_of_supply": self.place_of_supply,
            "tax_point": (self.tax_point.isoformat() if self.tax_point is not None else None),
            "buyer_tax_id": self.buyer_tax_id.to_json() if self.buyer_tax_id else None,
            "totals": {
                "net": amount(self.net),
                "tax": amount(self.tax),
                "gross": amount(self.gross),
            },
            "lines": [self._line_json(line) for line in self.lines],
            "breakdown": [
                {
                    "jurisdiction": row.jurisdiction,
                    "tax": row.tax,
                    "rate": format_percent(row.rate),
                    "reason": row.reason.value,
                    "taxable_amount": amount(row.taxable_amount),
                    "tax_amount": amount(row.tax_amount),
                    "per_unit": row.per_unit.to_json() if row.per_unit else None,
                }
                for row in self.breakdown
            ],
            "jurisdictions": [
                {"jurisdiction": total.jurisdiction, "tax_amount": amount(total.tax_amount)}
                for total in self.jurisdictions
            ],
            "reverse_charge": (
                {
                    "seller_country": self.reverse_charge.seller_country,
                    "buyer_country": self.reverse_charge.buyer_country,
                    "buyer_tax_id": self.reverse_charge.buyer_tax_id,
                    "seller_tax_id": self.reverse_charge.seller_tax_id,
                    "legend": self.reverse_charge.legend,
                }
                if self.reverse_charge
                else None
            ),
            "withholding": (
                {
                    "withheld": amount(self.withheld),
                    "payable": amount(self.payable),
                    "breakdown": [
                        {
                            "jurisdiction": row.jurisdiction,
                            "tax": row.tax,
                            "rate": format_percent(row.rate),
                            "taxable_amount": amount(row.taxable_amount),
                            "amount": amount(row.amount),
                        }
                        for row in self.withholding_breakdown
                    ],
                }
                if self.withholding_breakdown
                else None
            ),
        }

    def _amount(self, value: Decimal) -> str:
        # A credit note's zero tax is computed as -0; nobody wants to read "-0.00".
        return format_amount(abs(value) if value.is_zero() else value, self.currency)

    def _unit_price(self, value: Decimal) -> str:
        # A fine unit price (0.0125 EUR) keeps its own decimals; others print as amounts.
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > minor_unit(self.currency):
            return format(value, "f")
        return self._amount(value)

    def _line_json(self, line: LineResult) -> dict[str, Any]:
        amount = self._amount
        return {
            "index": line.index,
            "id": line.line_id,
            "place_of_supply": line.place_of_supply,
            "supply_type": line.supply_type.value,
            "place_of_supply_rule": line.place_rule,
            "tax_date": line.tax_date.isoformat() if line.tax_date else None,
            "tax_category": line.tax_category,
            "quantity": str(line.quantity),
            "unit": line.unit,
            "unit_price": self._unit_price(line.unit_price),
            "extension": amount(line.extension),
            "discount": amount(line.discount),
            "net": amount(line.net),
            "tax": amount(line.tax),
            "gross": amount(line.gross),
            "reasons": [reason.value for reason in line.reasons],
            "taxes": [
                {
                    "jurisdiction": tax.jurisdiction,
                    "tax": tax.tax,
                    "category": tax.category,
                    "rate": format_percent(tax.rate),
                    "compound": tax.compound,
                    "taxable_amount": amount(tax.taxable_amount),
                    "tax_amount": amount(tax.tax_amount),
                    "reason": tax.reason.value,
                    "per_unit": tax.per_unit.to_json() if tax.per_unit else None,
                    "certificate_id": tax.certificate_id,
                }
                for tax in line.taxes
            ],
            "withholding": [
                {
                    "jurisdiction": w.jurisdiction,
                    "tax": w.tax,
                    "category": w.category,
                    "rate": format_percent(w.rate),
                    "taxable_amount": amount(w.taxable_amount),
                    "amount": amount(w.amount),
                }
                for w in line.withholdings
            ],
        }
