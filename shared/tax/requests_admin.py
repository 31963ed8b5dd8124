"""Request models of the catalog's admin API: new jurisdictions, rates and categories.

Strict pydantic models with unknown fields forbidden, like :mod:`shared.tax.requests`;
:mod:`shared.tax.catalog_admin` applies them to the tenant's catalog.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from shared.http.examples import body_examples
from shared.tax.model import CATEGORY_CODE, JURISDICTION_CODE, TAX_CODE, CategoryKind
from shared.tax.rate_checks import UNIT_PATTERN
from shared.tax.rate_kinds import Comparison
from shared.tax.seed import CURRENCY_PATTERN, TERM_AMOUNT_PATTERN

# The seed file's rate pattern (at most 4 decimals, as Quebec's 9.975 %): every stored rate
# must read back as a seed rate.
RATE_PATTERN = r"^(0|[1-9][0-9]?|100)(\.[0-9]{1,4})?$"
_REPLACED_TAX = JURISDICTION_CODE.pattern.removesuffix("$") + ":" + TAX_CODE.pattern[1:]

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


# An https URL without whitespace. Spelt out because "\S" is not one class: the JSON
# Schema's (ECMA-262) counts U+FEFF as space and U+0085 not, pydantic's (Rust) the other
# way round, so the server refused URLs its own schema allows.
_WHITESPACE = r"\x09-\x0d\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
SOURCE_URL_PATTERN = rf"^https://[^{_WHITESPACE}]+$"


class SourceIn(BaseModel):
    """Where a rate is published: a rate without a source is not accepted."""

    model_config = _STRICT
    publication: str = Field(min_length=1, max_length=500, examples=["Umsatzsteuergesetz § 12"])
    url: str = Field(pattern=SOURCE_URL_PATTERN, max_length=2000)
    note: str = Field(default="", max_length=1000)


class PerUnitIn(BaseModel):
    """An amount per unit of quantity (an excise duty): 0.6545 EUR per litre."""

    model_config = _STRICT
    amount: str = Field(pattern=TERM_AMOUNT_PATTERN, examples=["0.6545"])
    currency: str = Field(pattern=CURRENCY_PATTERN, examples=["EUR"])
    unit: str = Field(pattern=UNIT_PATTERN, examples=["l"])


class CapIn(BaseModel):
    """Per unit of quantity, at most this base (taxable_per_unit) and/or this tax."""

    model_config = _STRICT
    currency: str = Field(pattern=CURRENCY_PATTERN, examples=["USD"])
    taxable_per_unit: str | None = Field(
        default=None, pattern=TERM_AMOUNT_PATTERN, examples=["1600.00"]
    )
    tax_per_unit: str | None = Field(default=None, pattern=TERM_AMOUNT_PATTERN)


class PriceThresholdIn(BaseModel):
    """The category is exempt when the price per unit is ``exempt_when`` ``amount``."""

    model_config = _STRICT
    exempt_when: Comparison = Field(description="below: <, at_or_below: <=, above: >, ...")
    amount: str = Field(pattern=TERM_AMOUNT_PATTERN, examples=["110.00"])
    currency: str = Field(pattern=CURRENCY_PATTERN, examples=["USD"])
    valid_from: date
    valid_to: date | None = Field(default=None, description="exclusive; null: open-ended")
    source: SourceIn | None = None


class RateIn(BaseModel):
    """A percentage (or an amount per unit) in force on [valid_from, valid_to)."""

    model_config = _STRICT
    rate: str | None = Field(
        default=None,
        pattern=RATE_PATTERN,
        examples=["19", "9.975"],
        description="percent; give rate or per_unit",
    )
    per_unit: PerUnitIn | None = None
    cap: CapIn | None = None
    valid_from: date
    valid_to: date | None = Field(default=None, description="exclusive; null: open-ended")
    compound: bool = False
    source: SourceIn


class CategoryIn(BaseModel):
    model_config = _STRICT
    code: str = Field(pattern=CATEGORY_CODE.pattern, examples=["ebooks"])
    kind: CategoryKind
    description: str = Field(default="", max_length=500)
    price_threshold: PriceThresholdIn | None = None
    rates: list[RateIn] = Field(default_factory=list, max_length=100)


class TaxIn(BaseModel):
    model_config = _STRICT
    code: str = Field(pattern=TAX_CODE.pattern, examples=["VAT"])
    name: str = Field(min_length=1, max_length=200)
    order: int = Field(ge=0, le=1000, description="levy order on a line")
    replaces: list[Annotated[str, Field(pattern=_REPLACED_TAX)]] = Field(
        default_factory=list,
        max_length=8,
        examples=[["CA:GST"]],
        description="taxes of this or an enclosing jurisdiction it stands in for while in force",
    )
    in_force_from: date | None = Field(default=None, description="the day the tax was introduced")
    in_force_to: date | None = Field(default=None, description="exclusive: abolished on this day")
    withholding: bool = Field(
        default=False, description="kept back by the buyer (IRPF); applied only when a line asks"
    )
    selective: bool = Field(
        default=False, description="levied only on the categories it lists (an excise duty)"
    )
    categories: list[CategoryIn] = Field(min_length=1, max_length=64)


class NewJurisdictionRequest(BaseModel):
    """A jurisdiction with its taxes, categories and rates (the seed file's shape)."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {
                "code": "DE/HELGOLAND",
                "name": "Heligoland",
                "time_zone": "Europe/Berlin",
                "source": {
                    "publication": "Umsatzsteuergesetz (UStG) § 1 Abs. 2",
                    "url": "https://www.gesetze-im-internet.de/ustg_1980/__1.html",
                },
            },
        ),
    )
    code: str = Field(pattern=JURISDICTION_CODE.pattern, examples=["US-CA/SF", "PT"])
    name: str = Field(min_length=1, max_length=200)
    time_zone: str | None = Field(
        default=None,
        max_length=64,
        examples=["Europe/Lisbon"],
        description="IANA zone for timestamped tax points; else the enclosing jurisdiction's",
    )
    source: SourceIn | None = Field(default=None, description="required when it levies no tax")
    taxes: list[TaxIn] = Field(default_factory=list, max_length=16)


class NewRateRequest(BaseModel):
    """A rate for an existing tax and category of the jurisdiction."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {
                "tax": "VAT",
                "category": "standard",
                "rate": "21",
                "valid_from": "2031-01-01",
                "source": {
                    "publication": "Umsatzsteuergesetz (UStG) § 12",
                    "url": "https://www.gesetze-im-internet.de/ustg_1980/__12.html",
                    "note": "illustrative: how an announced rate change is entered",
                },
                "supersede_open_rate": True,
            },
        ),
    )
    tax: str = Field(pattern=TAX_CODE.pattern, examples=["VAT"])
    category: str = Field(pattern=CATEGORY_CODE.pattern, examples=["standard"])
    rate: str | None = Field(
        default=None, pattern=RATE_PATTERN, examples=["21"], description="percent; or per_unit"
    )
    per_unit: PerUnitIn | None = None
    cap: CapIn | None = None
    valid_from: date
    valid_to: date | None = Field(default=None, description="exclusive; null: open-ended")
    compound: bool = False
    source: SourceIn
    supersede_open_rate: bool = Field(
        default=False,
        description="close the open-ended rate of this tax and category on valid_from",
    )


def _rate_update_schema(schema: dict[str, Any]) -> None:
    """What update_rate enforces: a field at least (nothing_to_update), and a source,
    when given, is one (null is source_required); a null valid_to reopens the rate."""
    schema["minProperties"] = 1
    source = schema["properties"]["source"]
    source.pop("default", None)
    (kept,) = [variant for variant in source.pop("anyOf") if variant != {"type": "null"}]
    source.update(kept)


class RateUpdateRequest(BaseModel):
    """Close (or reopen, with null) a rate, or correct its source; its percent never changes."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {"valid_to": "2032-01-01"},
            {
                "source": {
                    "publication": "Umsatzsteuergesetz (UStG) § 12",
                    "url": "https://www.gesetze-im-internet.de/ustg_1980/__12.html",
                }
            },
            then=_rate_update_schema,
        ),
    )
    valid_to: date | None = None
    source: SourceIn | None = None


class NewCategoryRequest(BaseModel):
    """A tenant's own category under one of the jurisdiction's taxes."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {
                "tax": "VAT",
                "code": "ebooks",
                "kind": "reduced",
                "description": "Electronic books",
                "rates": [
                    {
                        "rate": "7",
                        "valid_from": "2021-01-01",
                        "source": {
                            "publication": "Umsatzsteuergesetz (UStG) § 12",
                            "url": "https://www.gesetze-im-internet.de/ustg_1980/__12.html",
                        },
                    }
                ],
            },
        ),
    )
    tax: str = Field(pattern=TAX_CODE.pattern, examples=["VAT"])
    code: str = Field(pattern=CATEGORY_CODE.pattern, examples=["ebooks"])
    kind: CategoryKind
    description: str = Field(default="", max_length=500)
    price_threshold: PriceThresholdIn | None = None
    rates: list[RateIn] = Field(default_factory=list, max_length=100)
