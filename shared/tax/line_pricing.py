"""Each line of a document priced and placed: its amounts, its place of supply, its tax date.

The first step of :func:`shared.tax.engine.calculate`, apart from it because it decides
everything about a line that does not depend on which taxes apply: the printed
extension, discount and line amount (rounded per line or allocated from the document's
total), where the supply is taxed and on which day. The rules themselves are defined
in the docstring of :mod:`shared.tax.engine`. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shared.tax import place_of_supply
from shared.tax.catalog import RateCatalog
from shared.tax.document import DocumentLine, TaxDocument
from shared.tax.model import DocumentType, RoundingScope, invalid, refused
from shared.tax.place_of_supply import Parties, PlaceDecision, PlaceSource, SupplyType
from shared.tax.rounding import allocate, round_amount

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class LineAmounts:
    extension: Decimal  # printed: rounded
    discount: Decimal  # printed: rounded
    amount: Decimal  # printed: net when prices are exclusive, gross when inclusive
    exact: Decimal  # what taxes are computed on: ``amount`` unless rounded per document


@dataclass(frozen=True, slots=True)
class PricedLine:
    index: int
    line: DocumentLine
    supply_type: SupplyType
    decision: PlaceDecision
    place_field: str
    tax_date: date
    amounts: LineAmounts

    @property
    def place(self) -> str:
        return self.decision.place

    @property
    def amount(self) -> Decimal:
        return self.amounts.amount


# -- line amounts -----------------------------------------------------------------


def line_amounts(document: TaxDocument) -> list[LineAmounts]:
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
            extension = round_to_currency(document, extension)
        exact.append((extension, _discount(document, line, extension, path)))
    if document.line_amount_rounding is RoundingScope.LINE:
        return [LineAmounts(e, d, e - d, e - d) for e, d in exact]
    totals = [e - d for e, d in exact]
    shares = allocate(
        totals,
        round_to_currency(document, sum(totals, _ZERO)),
        document.currency,
        document.rounding,
    )
    amounts = []
    for (_, discount), total, share in zip(exact, totals, shares, strict=True):
        printed_discount = round_to_currency(document, discount)
        amounts.append(LineAmounts(share + printed_discount, printed_discount, share, total))
    return amounts


def _discount(document: TaxDocument, line: DocumentLine, extension: Decimal, path: str) -> Decimal:
    """The line's discount: rounded when line amounts are, exact otherwise."""
    per_line = document.line_amount_rounding is RoundingScope.LINE
    if line.discount_percent is not None:
        discount = extension * line.discount_percent / 100
        return round_to_currency(document, discount) if per_line else discount
    if line.discount_amount is None:
        return round_to_currency(document, _ZERO)
    if line.discount_amount > abs(extension):
        raise refused(
            f"{path}.discount_amount.amount",
            f"discount {line.discount_amount} exceeds the line amount {abs(extension)}",
            "discount_exceeds_line_amount",
        )
    return -line.discount_amount if extension < 0 else line.discount_amount


# -- where, and when ------------------------------------------------------------------


def locate(
    document: TaxDocument,
    catalog: RateCatalog,
    parties: Parties,
    line: DocumentLine,
    index: int,
    amounts: LineAmounts,
) -> PricedLine:
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
    return PricedLine(
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


def round_to_currency(document: TaxDocument, amount: Decimal) -> Decimal:
    """``amount`` to the currency's minor unit with the document's rounding mode."""
    return round_amount(amount, document.currency, document.rounding)
