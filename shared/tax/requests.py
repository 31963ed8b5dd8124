"""Request models of the tax API, and their conversion into a :class:`TaxDocument`.

The models are pydantic v2, strict, with unknown fields forbidden; the HTTP
layer validates request bodies against them directly (JSON mode, so dates are
ISO strings). They check shapes only. :meth:`TaxCalculationRequest.to_document`
then checks meaning and raises :class:`shared.errors.ValidationError` with a
stable code and a dotted field path:

=======================  =================================================
code                     field (example)
=======================  =================================================
unknown_currency         ``currency``
currency_mismatch        ``lines.0.unit_price.currency``
too_many_decimals        ``lines.0.unit_price.amount``
negative_amount          ``lines.0.discount_amount.amount``
invalid_amount           ``lines.0.unit_price.amount``
invalid_quantity         ``lines.0.quantity``
invalid_discount_percent ``lines.0.discount_percent``
conflicting_discounts    ``lines.0.discount_percent``
invalid_interval         ``buyer.exemption_certificates.0.valid_to``
invalid_tax_id           ``buyer.tax_id`` (control or invisible characters)
invalid_unit_price_decimals ``unit_price_decimals`` (fewer than the currency's)
=======================  =================================================

A blank or unverifiable VAT id is no error: the buyer is then a consumer (see
:mod:`shared.tax.vat_ids`).

Catalog-dependent and business rules (unknown jurisdiction or category, no
rate in force, negative quantity outside a credit note, discount larger than
the line) are checked by the engine, which raises with the same field paths.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, localcontext
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from shared.http.examples import body_examples
from shared.money import MoneyError, minor_unit, normalize_currency, parse_amount, quantum
from shared.tax.document import Buyer, DocumentLine, ExemptionCertificate, Seller, TaxDocument
from shared.tax.model import (
    DECIMAL_CONTEXT,
    DocumentType,
    PriceMode,
    RoundingScope,
    TaxRounding,
    invalid,
)
from shared.tax.place_of_supply import SupplyType
from shared.tax.rate_checks import UNIT_PATTERN

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)
_JURISDICTION = r"^[A-Z]{2}(-[A-Z0-9]{1,3})?(/[A-Z0-9][A-Z0-9_-]{0,63})?$"
_CATEGORY = r"^[a-z][a-z0-9_]{0,63}$"
_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_QUANTITY = re.compile(r"^-?(0|[1-9][0-9]{0,8})(\.[0-9]{1,6})?$")
_PERCENT = re.compile(r"^(0|[1-9][0-9]{0,2})(\.[0-9]{1,4})?$")
MAX_UNIT_PRICE_DECIMALS = 8
_FINE_AMOUNT = re.compile(rf"^(0|[1-9][0-9]{{0,17}})(\.[0-9]{{1,{MAX_UNIT_PRICE_DECIMALS}}})?$")
MAX_LINES = 500
MAX_CERTIFICATES = 50
MAX_CITED_CERTIFICATES = 10
# A stored exemption certificate's id, as POST /v1/tax/exemption-certificates gave it.
CERTIFICATE_ID_PATTERN = r"^[0-9a-f]{32}$"
# Control characters, invisible format characters (zero-width space, bidi marks) and line
# separators: nothing a VAT id printed on an invoice can hold.
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_TAX_ID_DESCRIPTION = (
    "VAT or tax identification number; a blank or invalid one makes the buyer a consumer"
)


# The shapes the parsers below take, for the JSON Schema only: a pattern on the field
# would refuse with a bare bad_format what they refuse with their own codes (a sign,
# decimals past the currency's or the unit price's, a percentage over 100 are rules).
_AMOUNT_SCHEMA: JsonDict = {"pattern": r"^(0|[1-9][0-9]{0,17})(\.[0-9]+)?$"}
_QUANTITY_SCHEMA: JsonDict = {"pattern": _QUANTITY.pattern}
_PERCENT_SCHEMA: JsonDict = {"pattern": _PERCENT.pattern}


class MoneyIn(BaseModel):
    """An amount as a decimal string in major units, with its ISO 4217 currency."""

    model_config = _STRICT
    amount: str = Field(
        min_length=1, max_length=40, examples=["12.34"], json_schema_extra=_AMOUNT_SCHEMA
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])


class ExemptionCertificateIn(BaseModel):
    model_config = _STRICT
    id: str = Field(min_length=1, max_length=64)
    jurisdiction: str = Field(pattern=_JURISDICTION, examples=["US-CA"])
    tax: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]{0,15}$")
    valid_from: date
    valid_to: date | None = Field(default=None, description="exclusive: expired on this day")


class SellerIn(BaseModel):
    model_config = _STRICT
    country: str = Field(pattern=r"^[A-Z]{2}$", examples=["DE"])
    tax_id: str | None = Field(default=None, max_length=32, examples=["DE136695976"])


class BuyerIn(BaseModel):
    model_config = _STRICT
    country: str = Field(pattern=r"^[A-Z]{2}$", examples=["FR"])
    tax_id: str | None = Field(
        default=None, max_length=32, examples=["FR40303265045"], description=_TAX_ID_DESCRIPTION
    )
    exemption_certificates: list[ExemptionCertificateIn] = Field(
        default_factory=list, max_length=MAX_CERTIFICATES
    )
    exemption_certificate_ids: list[Annotated[str, Field(pattern=CERTIFICATE_ID_PATTERN)]] = Field(
        default_factory=list,
        max_length=MAX_CITED_CERTIFICATES,
        examples=[["3f0c2a9e5b7d4c1fa2e8b6d0c4a19e57"]],
        description="stored exemption certificates of this buyer: they exempt the lines "
        "whose jurisdiction and category they cover, on a tax date they are valid",
    )


class LineIn(BaseModel):
    model_config = _STRICT
    id: str | None = Field(default=None, min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=500)
    quantity: str = Field(
        min_length=1, max_length=20, examples=["2", "1.5", "-1"], json_schema_extra=_QUANTITY_SCHEMA
    )
    unit: str | None = Field(
        default=None,
        pattern=UNIT_PATTERN,
        examples=["l", "kg", "item"],
        description="what the quantity counts; a rate per litre needs l (item if absent)",
    )
    unit_price: MoneyIn
    discount_amount: MoneyIn | None = None
    discount_percent: str | None = Field(
        default=None, max_length=10, examples=["10", "12.5"], json_schema_extra=_PERCENT_SCHEMA
    )
    tax_category: str = Field(default="standard", pattern=_CATEGORY)
    place_of_supply: str | None = Field(default=None, pattern=_JURISDICTION)
    supply_type: SupplyType | None = Field(default=None, description="the document's if absent")
    location: str | None = Field(
        default=None,
        pattern=_JURISDICTION,
        examples=["DE"],
        description="where the property is, or the transport, event or meal takes place",
    )
    withholding_category: str | None = Field(
        default=None, pattern=_CATEGORY, examples=["professional"]
    )


class TaxCalculationRequest(BaseModel):
    """Body of a tax calculation: an invoice or credit note, its parties and lines."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {
                "document_date": "2026-03-02",
                "currency": "EUR",
                "place_of_supply": "DE",
                "seller": {"country": "DE", "tax_id": "DE136695976"},
                "buyer": {"country": "DE"},
                "lines": [
                    {
                        "id": "1",
                        "description": "Consulting, 3 hours",
                        "quantity": "3",
                        "unit_price": {"amount": "120.00", "currency": "EUR"},
                    },
                    {
                        "id": "2",
                        "description": "Printed manual",
                        "quantity": "1",
                        "unit_price": {"amount": "25.00", "currency": "EUR"},
                        "tax_category": "reduced",
                    },
                ],
            },
            {
                "document_date": "2026-03-02",
                "currency": "USD",
                "place_of_supply": "US-CA",
                "price_mode": "exclusive",
                "seller": {"country": "US"},
                "lines": [
                    {
                        "quantity": "2",
                        "unit_price": {"amount": "19.99", "currency": "USD"},
                        "discount_percent": "10",
                    }
                ],
            },
        ),
    )
    document_type: DocumentType = DocumentType.INVOICE
    document_date: date
    # The engine resolves it to a local date and answers invalid_tax_point for an
    # instant outside the representable range.
    tax_point: AwareDatetime | None = Field(
        default=None,
        examples=["2020-07-01T00:30:00+02:00"],
        description="moment of supply with its UTC offset; rates of its local date apply",
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])
    price_mode: PriceMode = PriceMode.EXCLUSIVE
    rounding: TaxRounding = TaxRounding.HALF_UP
    rounding_scope: RoundingScope = RoundingScope.LINE
    line_amount_rounding: RoundingScope = Field(
        default=RoundingScope.LINE,
        description="round quantity * unit price on each line, or once for the document",
    )
    unit_price_decimals: int | None = Field(
        default=None,
        ge=0,
        le=MAX_UNIT_PRICE_DECIMALS,
        description="decimals allowed in unit prices; the currency's minor unit if absent",
    )
    place_of_supply: str = Field(pattern=_JURISDICTION, examples=["DE", "US-CA", "CA-QC"])
    supply_type: SupplyType = SupplyType.GENERAL
    withholding_category: str | None = Field(
        default=None, pattern=_CATEGORY, description="applied to every line that names none"
    )
    seller: SellerIn
    buyer: BuyerIn | None = None
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)

    def to_document(self) -> TaxDocument:
        """Exact values from the strings, or a ``ValidationError`` naming the field."""
        with localcontext(DECIMAL_CONTEXT):
            return self._to_document()

    def _to_document(self) -> TaxDocument:
        currency = _currency(self.currency)
        price_decimals = _unit_price_decimals(self.unit_price_decimals, currency)
        return TaxDocument(
            document_type=self.document_type,
            document_date=self.document_date,
            tax_point=self.tax_point,
            currency=currency,
            price_mode=self.price_mode,
            rounding=self.rounding,
            rounding_scope=self.rounding_scope,
            line_amount_rounding=self.line_amount_rounding,
            place_of_supply=self.place_of_supply,
            supply_type=self.supply_type,
            withholding_category=self.withholding_category,
            seller=Seller(
                country=self.seller.country, tax_id=_tax_id(self.seller.tax_id, "seller.tax_id")
            ),
            buyer=_buyer(self.buyer) if self.buyer else None,
            lines=tuple(
                _line(line, currency, price_decimals, f"lines.{i}")
                for i, line in enumerate(self.lines)
            ),
        )


def _currency(code: str) -> str:
    try:
        return normalize_currency(code)
    except MoneyError as exc:
        raise invalid("currency", str(exc), "unknown_currency") from None


def _unit_price_decimals(decimals: int | None, currency: str) -> int | None:
    if decimals is not None and decimals < minor_unit(currency):
        raise invalid(
            "unit_price_decimals",
            f"{currency} amounts have {minor_unit(currency)} decimals; unit prices cannot have "
            f"fewer ({decimals})",
            "invalid_unit_price_decimals",
        )
    return decimals


def _tax_id(tax_id: str | None, path: str) -> str | None:
    if tax_id is not None and any(
        unicodedata.category(character) in _UNPRINTABLE_CATEGORIES for character in tax_id
    ):
        raise invalid(
            path, "a tax id must not contain control or invisible characters", "invalid_tax_id"
        )
    return tax_id


def _buyer(buyer: BuyerIn) -> Buyer:
    certificates = []
    for i, certificate in enumerate(buyer.exemption_certificates):
        if certificate.valid_to is not None and certificate.valid_to <= certificate.valid_from:
            raise invalid(
                f"buyer.exemption_certificates.{i}.valid_to",
                "valid_to must be after valid_from",
                "invalid_interval",
            )
        certificates.append(
            ExemptionCertificate(
                certificate_id=certificate.id,
                jurisdiction=certificate.jurisdiction,
                tax=certificate.tax,
                valid_from=certificate.valid_from,
                valid_to=certificate.valid_to,
            )
        )
    return Buyer(buyer.country, _tax_id(buyer.tax_id, "buyer.tax_id"), tuple(certificates))


def _line(line: LineIn, currency: str, price_decimals: int | None, path: str) -> DocumentLine:
    if line.discount_amount is not None and line.discount_percent is not None:
        raise invalid(
            f"{path}.discount_percent",
            "give discount_amount or discount_percent, not both",
            "conflicting_discounts",
        )
    return DocumentLine(
        line_id=line.id,
        description=line.description,
        quantity=_quantity(line.quantity, f"{path}.quantity"),
        unit_price=(
            _money(line.unit_price, currency, f"{path}.unit_price")
            if price_decimals is None
            else _fine_price(line.unit_price, currency, price_decimals, f"{path}.unit_price")
        ),
        discount_amount=(
            _money(line.discount_amount, currency, f"{path}.discount_amount")
            if line.discount_amount is not None
            else None
        ),
        discount_percent=(
            _percent(line.discount_percent, f"{path}.discount_percent")
            if line.discount_percent is not None
            else None
        ),
        tax_category=line.tax_category,
        place_of_supply=line.place_of_supply,
        supply_type=line.supply_type,
        location=line.location,
        withholding_category=line.withholding_category,
        unit=line.unit,
    )


def _money(money: MoneyIn, currency: str, path: str) -> Decimal:
    if money.currency != currency:
        raise invalid(
            f"{path}.currency",
            f"{money.currency} does not match the document currency {currency}",
            "currency_mismatch",
        )
    try:
        return parse_amount(money.amount, currency)
    except MoneyError as exc:
        raise invalid(
            f"{path}.amount", str(exc), _amount_error_code(money.amount, currency)
        ) from None


def _fine_price(money: MoneyIn, currency: str, decimals: int, path: str) -> Decimal:
    """A unit price with up to ``decimals`` decimals, kept exact (0.0125 EUR)."""
    if money.currency != currency:
        raise invalid(
            f"{path}.currency",
            f"{money.currency} does not match the document currency {currency}",
            "currency_mismatch",
        )
    text = money.amount
    if text.startswith("-"):
        raise invalid(f"{path}.amount", "amount must not be negative", "negative_amount")
    if _DECIMAL.match(text) and len(text.partition(".")[2]) > decimals:
        raise invalid(
            f"{path}.amount",
            f"unit prices of this document have at most {decimals} decimals, got {text!r}",
            "too_many_decimals",
        )
    if not _FINE_AMOUNT.match(text):
        message = f"amount must be a plain decimal string, got {text!r}"
        raise invalid(f"{path}.amount", message, "invalid_amount")
    amount = Decimal(text)
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # finite by the pattern above
    # At least the currency's decimals, so that "2" prints as "2.00" like any other amount.
    return amount if -exponent >= minor_unit(currency) else amount.quantize(quantum(currency))


def _amount_error_code(text: str, currency: str) -> str:
    if text.startswith("-"):
        return "negative_amount"
    if _DECIMAL.match(text) and len(text.partition(".")[2]) > minor_unit(currency):
        return "too_many_decimals"
    return "invalid_amount"


def _quantity(text: str, path: str) -> Decimal:
    if not _QUANTITY.match(text):
        raise invalid(
            path,
            f"quantity must be a decimal string with at most 6 decimals, got {text!r}",
            "invalid_quantity",
        )
    return Decimal(text)


def _percent(text: str, path: str) -> Decimal:
    if not _PERCENT.match(text) or Decimal(text) > 100:
        raise invalid(
            path,
            f"a percentage from 0 to 100 with at most 4 decimals, got {text!r}",
            "invalid_discount_percent",
        )
    return Decimal(text)
