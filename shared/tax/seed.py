"""The seed rate file (``seed_rates.json``) and its loader.

The file nests jurisdictions > taxes > categories > rates, each rate with the
date it applies from and its source (publication, https URL, note). JSON
rather than YAML so that reading it needs nothing beyond the standard library
at run time. :func:`catalog_from_seed` is pure (text in, catalog out);
:func:`load_seed_catalog` reads the packaged file. A mistake in the file is a
:class:`shared.errors.ValidationError` whose field is the nested path in the
file (``jurisdictions.2.taxes.0.categories.1.rates.0.valid_from``), or a
pydantic error for a malformed document.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import FieldError, ValidationError
from shared.tax.catalog import RateCatalog
from shared.tax.model import (
    CategoryKind,
    Jurisdiction,
    Source,
    TaxCategory,
    TaxDefinition,
    TaxRate,
    invalid,
)
from shared.tax.rate_checks import UNIT_PATTERN
from shared.tax.rate_kinds import Comparison, PerUnitAmount, PriceThreshold, RateCap

SEED_PATH = Path(__file__).with_name("seed_rates.json")
_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)
# A per-unit amount or a cap: up to 8 decimals (0.6545 EUR per litre), no sign.
TERM_AMOUNT_PATTERN = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,8})?$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"


class SeedSource(BaseModel):
    model_config = _STRICT
    publication: str = Field(min_length=1)
    url: str = Field(pattern=r"^https://\S+$")
    note: str = ""


class SeedPerUnit(BaseModel):
    """An amount per unit of quantity: {"amount": "0.6545", "currency": "EUR", "unit": "l"}."""

    model_config = _STRICT
    amount: str = Field(pattern=TERM_AMOUNT_PATTERN, examples=["0.6545"])
    currency: str = Field(pattern=CURRENCY_PATTERN, examples=["EUR"])
    unit: str = Field(pattern=UNIT_PATTERN, examples=["l", "kg", "item"])


class SeedCap(BaseModel):
    """Per unit of quantity: at most this base (taxable_per_unit) or this tax (tax_per_unit)."""

    model_config = _STRICT
    currency: str = Field(pattern=CURRENCY_PATTERN, examples=["USD"])
    taxable_per_unit: str | None = Field(
        default=None, pattern=TERM_AMOUNT_PATTERN, examples=["1600.00"]
    )
    tax_per_unit: str | None = Field(default=None, pattern=TERM_AMOUNT_PATTERN)


class SeedThreshold(BaseModel):
    """Exempt when the price per unit is ``exempt_when`` ``amount`` (below: strictly less)."""

    model_config = _STRICT
    exempt_when: Comparison
    amount: str = Field(pattern=TERM_AMOUNT_PATTERN, examples=["110.00"])
    currency: str = Field(pattern=CURRENCY_PATTERN, examples=["USD"])
    valid_from: date
    valid_to: date | None = None
    source: SeedSource | None = None


class SeedRate(BaseModel):
    """A percentage (``rate``) or an amount per unit (``per_unit``): exactly one of them."""

    model_config = _STRICT
    rate: str | None = Field(default=None, pattern=r"^(0|[1-9][0-9]?|100)(\.[0-9]{1,4})?$")
    per_unit: SeedPerUnit | None = None
    cap: SeedCap | None = None
    valid_from: date
    valid_to: date | None = None
    compound: bool = False
    source: SeedSource


class SeedCategory(BaseModel):
    model_config = _STRICT
    code: str
    kind: CategoryKind
    description: str = ""
    price_threshold: SeedThreshold | None = None
    rates: list[SeedRate] = Field(default_factory=list)


class SeedTax(BaseModel):
    model_config = _STRICT
    code: str
    name: str
    order: int
    replaces: list[str] = Field(default_factory=list)
    in_force_from: date | None = None
    in_force_to: date | None = None
    withholding: bool = False
    selective: bool = False
    categories: list[SeedCategory]


class SeedJurisdiction(BaseModel):
    model_config = _STRICT
    code: str
    name: str
    time_zone: str | None = None
    source: SeedSource | None = None
    taxes: list[SeedTax] = Field(default_factory=list)


class SeedFile(BaseModel):
    model_config = _STRICT
    schema_version: Literal[1]
    description: str = ""
    jurisdictions: list[SeedJurisdiction]


def load_seed_catalog(path: Path = SEED_PATH) -> RateCatalog:
    """The catalog of the packaged seed file (or another file of the same shape)."""
    return catalog_from_seed(path.read_bytes())


def parse_seed(raw: bytes | str) -> SeedFile:
    return SeedFile.model_validate_json(raw, strict=True)


def catalog_from_seed(raw: bytes | str) -> RateCatalog:
    seed = parse_seed(raw)
    jurisdictions: list[Jurisdiction] = []
    taxes: list[TaxDefinition] = []
    categories: list[TaxCategory] = []
    rates: list[TaxRate] = []
    # Where each flattened entry sits in the file, to name it in errors.
    paths: dict[str, list[str]] = {"jurisdictions": [], "taxes": [], "categories": [], "rates": []}
    for j, place in enumerate(seed.jurisdictions):
        place_path = f"jurisdictions.{j}"
        if not place.taxes and place.source is None:
            raise invalid(
                f"{place_path}.source",
                f"{place.code} levies no tax: say so with a source",
                "missing_source",
            )
        jurisdictions.append(Jurisdiction(place.code, place.name, place.time_zone))
        paths["jurisdictions"].append(place_path)
        for t, tax in enumerate(place.taxes):
            tax_path = f"{place_path}.taxes.{t}"
            taxes.append(
                TaxDefinition(
                    place.code,
                    tax.code,
                    tax.name,
                    tax.order,
                    tuple(tax.replaces),
                    in_force_from=tax.in_force_from,
                    in_force_to=tax.in_force_to,
                    withholding=tax.withholding,
                    selective=tax.selective,
                )
            )
            paths["taxes"].append(tax_path)
            for c, category in enumerate(tax.categories):
                category_path = f"{tax_path}.categories.{c}"
                categories.append(
                    TaxCategory(
                        place.code,
                        tax.code,
                        category.code,
                        category.kind,
                        category.description,
                        _threshold(category.price_threshold),
                    )
                )
                paths["categories"].append(category_path)
                for r, entry in enumerate(category.rates):
                    if (entry.rate is None) == (entry.per_unit is None):
                        raise invalid(
                            f"{category_path}.rates.{r}.rate",
                            "give rate (a percentage) or per_unit (an amount per unit), "
                            "exactly one",
                            "invalid_rate",
                        )
                    rates.append(_rate(place.code, tax.code, category.code, entry))
                    paths["rates"].append(f"{category_path}.rates.{r}")
    try:
        return RateCatalog(jurisdictions, taxes, categories, rates)
    except ValidationError as exc:
        raise _located(exc, paths) from None


def _rate(jurisdiction: str, tax: str, category: str, entry: SeedRate) -> TaxRate:
    return TaxRate(
        jurisdiction=jurisdiction,
        tax=tax,
        category=category,
        percent=Decimal(entry.rate) if entry.rate is not None else Decimal(0),
        valid_from=entry.valid_from,
        valid_to=entry.valid_to,
        compound=entry.compound,
        source=Source(entry.source.publication, entry.source.url, entry.source.note),
        per_unit=(
            PerUnitAmount(
                Decimal(entry.per_unit.amount), entry.per_unit.currency, entry.per_unit.unit
            )
            if entry.per_unit is not None
            else None
        ),
        cap=(
            RateCap(
                entry.cap.currency,
                _decimal(entry.cap.taxable_per_unit),
                _decimal(entry.cap.tax_per_unit),
            )
            if entry.cap is not None
            else None
        ),
    )


def _threshold(entry: SeedThreshold | None) -> PriceThreshold | None:
    if entry is None:
        return None
    return PriceThreshold(
        entry.exempt_when, Decimal(entry.amount), entry.currency, entry.valid_from, entry.valid_to
    )


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _located(error: ValidationError, paths: dict[str, list[str]]) -> ValidationError:
    """The catalog names flat entries (``rates.7.valid_from``); name them as in the file."""
    located = []
    for field_error in error.errors:
        kind, _, rest = field_error.field.partition(".")
        index, _, leaf = rest.partition(".")
        if kind in paths and index.isdigit() and int(index) < len(paths[kind]):
            field = paths[kind][int(index)] + (f".{leaf}" if leaf else "")
        else:
            field = field_error.field
        located.append(FieldError(field, field_error.message, field_error.code))
    detail = "; ".join(f"{e.field}: {e.message}" for e in located)
    return ValidationError(f"seed rate file: {detail}", code=error.code, errors=located)
