"""A tax document after input validation: exact ``Decimal`` amounts, parsed dates.

The HTTP layer receives a :class:`shared.tax.requests.TaxCalculationRequest`
and turns it into a :class:`TaxDocument` with ``to_document()``; the engine
only ever sees these values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from shared.tax.certificates import LimitedCertificate
from shared.tax.model import DocumentType, PriceMode, RoundingScope, TaxRounding
from shared.tax.place_of_supply import SupplyType
from shared.tax.vat_ids import TaxIdCheck


@dataclass(frozen=True, slots=True)
class ExemptionCertificate:
    """A buyer's exemption from the taxes of one jurisdiction (or one of its taxes).

    Valid on [valid_from, valid_to), like rates: on ``valid_to`` it has expired.
    It covers taxes levied by exactly its jurisdiction, not by enclosing or
    enclosed ones.
    """

    certificate_id: str
    jurisdiction: str
    valid_from: date
    valid_to: date | None = None
    tax: str | None = None

    def covers(self, jurisdiction: str, tax: str, on: date) -> bool:
        return (
            self.jurisdiction == jurisdiction
            and (self.tax is None or self.tax == tax)
            and self.valid_from <= on
            and (self.valid_to is None or on < self.valid_to)
        )


@dataclass(frozen=True, slots=True)
class Seller:
    country: str
    tax_id: str | None = None


@dataclass(frozen=True, slots=True)
class Buyer:
    """The customer. ``tax_id_check`` is the result of checking ``tax_id`` (an online check
    done before calculating); without one the engine checks the id offline itself.
    ``limited_certificates`` are the stored certificates the request cites, read before
    calculating (:mod:`shared.tax.certificates`)."""

    country: str
    tax_id: str | None = None
    exemption_certificates: tuple[ExemptionCertificate, ...] = ()
    tax_id_check: TaxIdCheck | None = None
    limited_certificates: tuple[LimitedCertificate, ...] = ()


@dataclass(frozen=True, slots=True)
class DocumentLine:
    """One line: quantity * unit price, less a discount (an amount or a percentage).

    ``unit_price`` is net or gross according to the document's price mode (it
    may have more decimals than the currency); the discount amount is a
    positive amount in the document currency. ``supply_type`` and
    ``withholding_category`` default to the document's; ``location`` is where
    the property is or the service physically happens (see
    :mod:`shared.tax.place_of_supply`). ``unit`` is what the quantity counts (``l``,
    ``kg``); a per-unit rate needs it unless it is levied per ``item``.
    """

    quantity: Decimal
    unit_price: Decimal
    tax_category: str = "standard"
    discount_amount: Decimal | None = None
    discount_percent: Decimal | None = None
    place_of_supply: str | None = None
    line_id: str | None = None
    description: str | None = None
    supply_type: SupplyType | None = None
    location: str | None = None
    withholding_category: str | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class TaxDocument:
    """An invoice or credit note to calculate tax for.

    ``place_of_supply`` is the jurisdiction whose taxes apply (a line may name
    another) unless the supply type's rule says otherwise; the engine does not
    derive it from addresses. ``tax_point``, when given, is the moment of supply:
    rates are those in force on its local date at the place of supply, not on
    ``document_date``. ``line_amount_rounding`` says where quantity * unit price
    is rounded to the currency (per line, or once for the document).
    """

    document_date: date
    currency: str
    place_of_supply: str
    seller: Seller
    lines: tuple[DocumentLine, ...]
    buyer: Buyer | None = None
    document_type: DocumentType = DocumentType.INVOICE
    price_mode: PriceMode = PriceMode.EXCLUSIVE
    rounding: TaxRounding = TaxRounding.HALF_UP
    rounding_scope: RoundingScope = RoundingScope.LINE
    line_amount_rounding: RoundingScope = RoundingScope.LINE
    supply_type: SupplyType = SupplyType.GENERAL
    tax_point: datetime | None = None
    withholding_category: str | None = None

    def with_buyer_tax_id_check(self, check: TaxIdCheck) -> TaxDocument:
        """The same document whose buyer's tax id was checked (online) before calculating."""
        if self.buyer is None:
            return self
        return replace(self, buyer=replace(self.buyer, tax_id_check=check))

    def with_certificates(self, certificates: tuple[LimitedCertificate, ...]) -> TaxDocument:
        """The same document with the buyer's cited certificates, as read from the store."""
        if self.buyer is None:
            return self
        return replace(self, buyer=replace(self.buyer, limited_certificates=certificates))
