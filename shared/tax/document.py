"""A tax document after input validation: exact ``Decimal`` amounts, parsed dates.

The HTTP layer receives a :class:`shared.tax.requests.TaxCalculationRequest`
and turns it into a :class:`TaxDocument` with ``to_document()``; the engine
only ever sees these values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shared.money import Rounding
from shared.tax.model import DocumentType, PriceMode, RoundingScope


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
    country: str
    tax_id: str | None = None
    exemption_certificates: tuple[ExemptionCertificate, ...] = ()


@dataclass(frozen=True, slots=True)
class DocumentLine:
    """One line: quantity * unit price, less a discount (an amount or a percentage).

    ``unit_price`` is net or gross according to the document's price mode; the
    discount amount is a positive amount in the document currency.
    """

    quantity: Decimal
    unit_price: Decimal
    tax_category: str = "standard"
    discount_amount: Decimal | None = None
    discount_percent: Decimal | None = None
    place_of_supply: str | None = None
    line_id: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class TaxDocument:
    """An invoice or credit note to calculate tax for.

    ``place_of_supply`` is the jurisdiction whose taxes apply (a line may name
    another); the engine does not derive it from addresses.
    """

    document_date: date
    currency: str
    place_of_supply: str
    seller: Seller
    lines: tuple[DocumentLine, ...]
    buyer: Buyer | None = None
    document_type: DocumentType = DocumentType.INVOICE
    price_mode: PriceMode = PriceMode.EXCLUSIVE
    rounding: Rounding = Rounding.HALF_UP
    rounding_scope: RoundingScope = RoundingScope.LINE
