"""The vocabulary of the tax engine: catalog entities, enums and error helpers.

Catalog entities (:class:`Jurisdiction`, :class:`TaxDefinition`,
:class:`TaxCategory`, :class:`TaxRate`) are plain frozen values; whoever
stores them (a seed file now, Firestore later) builds a
:class:`shared.tax.catalog.RateCatalog` from lists of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from enum import StrEnum
from typing import Any

from shared.errors import BusinessRuleError, FieldError, ValidationError
from shared.tax.rate_kinds import PerUnitAmount, PriceThreshold, RateCap, RateKind

# All tax arithmetic runs in this context (entered with decimal.localcontext), so that a
# caller's context cannot change a result; 50 digits hold any amount times any quantity.
DECIMAL_CONTEXT = Context(
    prec=50, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)

# ISO 3166-1 alpha-2 codes of the 27 EU member states (Greece is GR here even
# though its VAT numbers use the EL prefix).
EU_MEMBER_STATES: frozenset[str] = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)

# Country, optional ISO 3166-2 subdivision, optional locality: "US", "US-CA", "US-CA/SF".
JURISDICTION_CODE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?(/[A-Z0-9][A-Z0-9_-]{0,63})?$")
TAX_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")
CATEGORY_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class CategoryKind(StrEnum):
    """What a category means for the tax; custom category codes map onto one of these."""

    STANDARD = "standard"
    REDUCED = "reduced"
    SUPER_REDUCED = "super_reduced"
    ZERO_RATED = "zero_rated"
    EXEMPT = "exempt"

    @property
    def needs_rate(self) -> bool:
        """Zero-rated is 0 % by definition and exempt supplies carry no rate at all."""
        return self not in (CategoryKind.ZERO_RATED, CategoryKind.EXEMPT)


class Reason(StrEnum):
    """Why a line's tax is what it is; one per tax on the line."""

    STANDARD_RATED = "standard_rated"
    REDUCED_RATED = "reduced_rated"
    ZERO_RATED = "zero_rated"
    PRODUCT_EXEMPT = "product_exempt"
    CUSTOMER_EXEMPT = "customer_exempt"
    REVERSE_CHARGE = "reverse_charge"
    NOT_SUBJECT_TO_TAX = "not_subject_to_tax"
    NOT_YET_IN_FORCE = "not_yet_in_force"
    PRICE_THRESHOLD = "price_threshold"
    EXEMPTION_CERTIFICATE = "exemption_certificate"

    @property
    def charges_tax(self) -> bool:
        return self in (Reason.STANDARD_RATED, Reason.REDUCED_RATED)


class DocumentType(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class PriceMode(StrEnum):
    """Exclusive: prices are net and tax is added. Inclusive: prices contain the tax."""

    EXCLUSIVE = "exclusive"
    INCLUSIVE = "inclusive"


class RoundingScope(StrEnum):
    """Where tax is rounded to the minor unit; see :mod:`shared.tax.engine`."""

    LINE = "line"
    DOCUMENT = "document"


class TaxRounding(StrEnum):
    """How an amount is rounded to the currency's minor unit.

    ``down`` truncates toward zero: the fraction of a minor unit is dropped, as
    Japanese invoices commonly do with the consumption-tax fraction (端数切捨て).
    Toward zero rather than toward minus infinity, so that a credit note stays
    the exact negative of its invoice.
    """

    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    DOWN = "down"

    @property
    def decimal_mode(self) -> str:
        return _DECIMAL_MODES[self]


_DECIMAL_MODES = {
    TaxRounding.HALF_UP: ROUND_HALF_UP,
    TaxRounding.HALF_EVEN: ROUND_HALF_EVEN,
    TaxRounding.DOWN: ROUND_DOWN,
}


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """A place that levies taxes (or explicitly levies none, like US-OR).

    ``time_zone`` (IANA, ``Europe/Berlin``) turns a timestamped tax point into
    the local date whose rates apply; a place without one uses its enclosing
    jurisdiction's.
    """

    code: str
    name: str
    time_zone: str | None = None

    @property
    def country(self) -> str:
        return self.code[:2]

    @property
    def region(self) -> str | None:
        head = self.code.split("/", 1)[0]
        return head if "-" in head else None

    @property
    def locality(self) -> str | None:
        _, _, locality = self.code.partition("/")
        return locality or None

    @property
    def parent_codes(self) -> tuple[str, ...]:
        """Enclosing jurisdictions, outermost first: "US-CA/SF" -> ("US", "US-CA")."""
        parents = [self.country] if self.code != self.country else []
        region = self.region
        if self.locality and region:
            parents.append(region)
        return tuple(parents)


@dataclass(frozen=True, slots=True)
class TaxDefinition:
    """A tax levied by a jurisdiction.

    ``order`` fixes the sequence of taxes on a line (a compound tax is levied on
    the price plus every tax of a lower order). ``replaces`` names taxes of the
    same or an enclosing jurisdiction this one stands in for while it is in
    force, as ``"JURISDICTION:TAX"`` (Ontario's HST replaces Canada's GST; BC's
    2010-2013 HST replaced both GST and BC's PST).

    A tax exists on [``in_force_from``, ``in_force_to``); None is unbounded. A
    document dated before a tax was introduced is not subject to it (Oman's VAT
    from 2021-04-16), which is not the same as a catalog that lacks the rate.

    A ``withholding`` tax is never levied by itself: a line asks for it with a
    withholding category, and the amount is kept back by the buyer (Spain's
    IRPF) rather than added to the price.

    A ``selective`` tax (an excise duty) is levied only on the categories it lists:
    a line of another category is not subject to it and shows no entry for it.
    """

    jurisdiction: str
    code: str
    name: str
    order: int
    replaces: tuple[str, ...] = ()
    in_force_from: date | None = None
    in_force_to: date | None = None
    withholding: bool = False
    selective: bool = False

    @property
    def key(self) -> str:
        return f"{self.jurisdiction}:{self.code}"

    def in_force_on(self, day: date) -> bool:
        return (self.in_force_from is None or self.in_force_from <= day) and (
            self.in_force_to is None or day < self.in_force_to
        )


@dataclass(frozen=True, slots=True)
class TaxCategory:
    """A category of supply under one tax: a built-in code or a custom one with a kind."""

    jurisdiction: str
    tax: str
    code: str
    kind: CategoryKind
    description: str = ""
    price_threshold: PriceThreshold | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """Where a published figure comes from."""

    publication: str
    url: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class TaxRate:
    """A rate in percent, in force on [valid_from, valid_to); ``valid_to`` None is open.

    ``compound`` is dated with the rate because it changes with the law: Quebec's
    QST was levied on price plus GST until 2012 and on the price alone since 2013.
    A ``per_unit`` rate is an amount per unit of quantity instead (its ``percent``
    is 0); a ``cap`` limits the base or the tax per unit (see :mod:`shared.tax.levy`).
    """

    jurisdiction: str
    tax: str
    category: str
    percent: Decimal
    valid_from: date
    valid_to: date | None
    source: Source
    compound: bool = False
    per_unit: PerUnitAmount | None = None
    cap: RateCap | None = None

    def in_force_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    @property
    def kind(self) -> RateKind:
        return RateKind.PERCENTAGE if self.per_unit is None else RateKind.PER_UNIT

    @property
    def fraction(self) -> Decimal:
        return self.percent / 100


def invalid(field: str, message: str, code: str) -> ValidationError:
    """A 422 for malformed or unknown input, with the same code at top level and field."""
    return ValidationError(
        f"{field}: {message}", code=code, errors=[FieldError(field, message, code)]
    )


def refused(field: str, message: str, code: str) -> BusinessRuleError:
    """A 422 for well-formed input that a tax rule refuses."""
    return BusinessRuleError(
        f"{field}: {message}", code=code, errors=[FieldError(field, message, code)]
    )


def format_percent(percent: Decimal) -> str:
    """ "19", "5.5", "9.975": no exponent, no trailing zeros."""
    text = format(percent.normalize(), "f")
    return text if text != "-0" else "0"


# -- stored calculations ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CalculationTotals:
    net: Decimal
    tax: Decimal
    gross: Decimal


@dataclass(frozen=True, slots=True)
class StoredCalculation:
    """A calculation as stored: its request, the engine's result and the figures others need.

    ``jurisdiction_totals`` maps each jurisdiction to its tax, in the result's order.
    """

    id: str
    document_type: str
    document_date: date
    currency: str
    totals: CalculationTotals
    jurisdiction_totals: dict[str, Decimal]
    catalog_version: int
    created_at: datetime
    created_by: str
    request: dict[str, Any] | None
    result: dict[str, Any] | None

    @classmethod
    def from_document(cls, calculation_id: str, document: Mapping[str, Any]) -> StoredCalculation:
        totals = document["totals"]
        return cls(
            id=calculation_id,
            document_type=str(document["document_type"]),
            document_date=date.fromisoformat(document["document_date"]),
            currency=str(document["currency"]),
            totals=CalculationTotals(
                net=Decimal(totals["net"]),
                tax=Decimal(totals["tax"]),
                gross=Decimal(totals["gross"]),
            ),
            jurisdiction_totals={
                row["jurisdiction"]: Decimal(row["tax_amount"])
                for row in document["jurisdiction_totals"]
            },
            catalog_version=int(document["catalog_version"]),
            created_at=document["created_at"],
            created_by=str(document["created_by"]),
            request=document.get("request"),
            result=document.get("result"),
        )

    def summary_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "document_type": self.document_type,
            "document_date": self.document_date.isoformat(),
            "currency": self.currency,
            "totals": {
                "net": str(self.totals.net),
                "tax": str(self.totals.tax),
                "gross": str(self.totals.gross),
            },
            "jurisdiction_totals": [
                {"jurisdiction": code, "tax_amount": str(amount)}
                for code, amount in self.jurisdiction_totals.items()
            ],
            "catalog_version": self.catalog_version,
            "created_at": _timestamp(self.created_at),
            "created_by": self.created_by,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.summary_json(), "request": self.request, "result": self.result}


@dataclass(frozen=True, slots=True)
class CalculationSummary:
    """A list item: a stored calculation without its request and result."""

    calculation: StoredCalculation

    def to_json(self) -> dict[str, Any]:
        return self.calculation.summary_json()


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")
