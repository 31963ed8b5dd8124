"""Tax use cases over Firestore: calculations, the tenant's rate catalog, refund allocation.

Every use case takes the Firestore client as its first argument and the tenant
as the second; the catalog comes from :mod:`shared.tax.store` (seeded on first
use, cached per instance). Admin changes re-validate the tenant's whole catalog
with :class:`RateCatalog` before anything is written, so a refused change leaves
the catalog as it was, and every accepted change commits with its audit event.

For the payments and ledger side: :func:`get_calculation` returns a stored
calculation with its tax per jurisdiction as ``Decimal``, and
:func:`proportional_tax` splits a partial refund's tax over those jurisdictions.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

from shared.errors import (
    ConflictError,
    FieldError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from shared.events.audit import audit_event
from shared.events.envelope import EventEnvelope
from shared.http.examples import body_examples
from shared.http.pagination import (
    KeyPosition,
    Page,
    TimeOrderedPosition,
    decode_cursor,
    encode_cursor,
    invalid_cursor,
)
from shared.money import (
    MoneyError,
    Rounding,
    from_minor_units,
    round_to_currency,
    to_minor_units,
)
from shared.tax import store
from shared.tax.catalog import RateCatalog
from shared.tax.engine import calculate
from shared.tax.model import (
    CATEGORY_CODE,
    DECIMAL_CONTEXT,
    JURISDICTION_CODE,
    TAX_CODE,
    CategoryKind,
    invalid,
)
from shared.tax.requests import TaxCalculationRequest
from shared.tax.rounding import allocate, apportion
from shared.tax.store import CatalogCache, CatalogChange, CatalogSnapshot, JurisdictionDocument
from shared.tax.vat_ids import VatNumberChecker

if TYPE_CHECKING:
    from google.cloud import firestore

T = TypeVar("T")
AUDIT_SOURCE = "tax"
# Below Firestore's 1 MiB document limit, with room for its per-field overhead.
MAX_STORED_CALCULATION_BYTES = 900_000
# The seed file's rate pattern (at most 4 decimals, as Quebec's 9.975 %): every stored rate
# must read back as a seed rate.
RATE_PATTERN = r"^(0|[1-9][0-9]?|100)(\.[0-9]{1,4})?$"
JURISDICTION_IN_PATH = re.compile(
    JURISDICTION_CODE.pattern.replace(
        "(" + store.LOCALITY_SEPARATOR, "(" + store.LOCALITY_SEPARATOR_IN_ID
    )
)
_REPLACED_TAX = JURISDICTION_CODE.pattern.removesuffix("$") + ":" + TAX_CODE.pattern[1:]
_CALCULATION_ID = re.compile(r"^[0-9a-f]{32}$")
_RATE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_LIST_FIELDS = (
    "document_type",
    "document_date",
    "currency",
    "totals",
    "jurisdiction_totals",
    "catalog_version",
    "created_at",
    "created_by",
)

# -- request models of the admin API ------------------------------------------------------

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


class RateIn(BaseModel):
    """A percentage in force on [valid_from, valid_to); valid_to is the next rate's first day."""

    model_config = _STRICT
    rate: str = Field(pattern=RATE_PATTERN, examples=["19", "9.975"], description="percent")
    valid_from: date
    valid_to: date | None = Field(default=None, description="exclusive; null: open-ended")
    compound: bool = False
    source: SourceIn


class CategoryIn(BaseModel):
    model_config = _STRICT
    code: str = Field(pattern=CATEGORY_CODE.pattern, examples=["ebooks"])
    kind: CategoryKind
    description: str = Field(default="", max_length=500)
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
    rate: str = Field(pattern=RATE_PATTERN, examples=["21"], description="percent")
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
    rates: list[RateIn] = Field(default_factory=list, max_length=100)


# -- results ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change, as audit events record it."""

    user_id: str
    role: str

    def to_json(self) -> dict[str, str]:
        return {"user_id": self.user_id, "role": self.role}


@dataclass(frozen=True, slots=True)
class CatalogUpdate(Generic[T]):
    """What an admin change returns, and the catalog version it produced."""

    value: T
    catalog_version: int


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


# -- calculations ---------------------------------------------------------------------------


def catalog_for(
    db: firestore.Client, tenant_id: str, *, cache: CatalogCache | None = None
) -> CatalogSnapshot:
    """The tenant's catalog, from this instance's cache when it is fresh enough."""
    return (cache or store.default_cache()).get(db, tenant_id)


def create_calculation(
    db: firestore.Client,
    tenant_id: str,
    request: TaxCalculationRequest,
    *,
    created_by: str,
    cache: CatalogCache | None = None,
    vat_checker: VatNumberChecker | None = None,
) -> StoredCalculation:
    """Calculate with the tenant's catalog and store the result; a refusal stores nothing.

    The buyer's VAT id is checked offline by the engine unless ``vat_checker``
    (an online VIES adapter) is given; its result is recorded on the calculation.
    """
    snapshot = catalog_for(db, tenant_id, cache=cache)
    tax_document = request.to_document()
    buyer = tax_document.buyer
    if vat_checker is not None and buyer is not None and buyer.tax_id:
        tax_document = tax_document.with_buyer_tax_id_check(
            vat_checker.check(buyer.tax_id, buyer.country)
        )
    result = calculate(tax_document, snapshot.catalog).to_json()
    document = {
        "document_type": result["document_type"],
        "document_date": result["document_date"],
        "currency": result["currency"],
        "totals": result["totals"],
        "jurisdiction_totals": result["jurisdictions"],
        "catalog_version": snapshot.version,
        "created_at": datetime.now(UTC),
        "created_by": created_by,
        "request": request.model_dump(mode="json"),
        "result": result,
    }
    if len(orjson.dumps(document)) > MAX_STORED_CALCULATION_BYTES:
        # Firestore refuses documents over 1 MiB; say so rather than fail on the write.
        raise PayloadTooLargeError(
            "this calculation is too large to store; split the document into several",
            code="tax_calculation_too_large",
            extra={"max_bytes": MAX_STORED_CALCULATION_BYTES},
        )
    calculation_id = uuid.uuid4().hex
    store.insert_calculation(db, tenant_id, calculation_id, document)
    return StoredCalculation.from_document(calculation_id, document)


def get_calculation(db: firestore.Client, tenant_id: str, calculation_id: str) -> StoredCalculation:
    """A stored calculation of the tenant; another tenant's is a 404 like a missing one."""
    document = (
        store.read_calculation(db, tenant_id, calculation_id)
        if _CALCULATION_ID.match(calculation_id)
        else None
    )
    if document is None:
        raise NotFoundError(
            f"tax calculation {calculation_id} not found", code="tax_calculation_not_found"
        )
    return StoredCalculation.from_document(calculation_id, document)


def list_calculations(
    db: firestore.Client, tenant_id: str, *, limit: int, cursor: str | None
) -> Page:
    """The tenant's calculations, newest first, without their request and result."""
    after = None
    if cursor:
        position = decode_cursor(cursor, TimeOrderedPosition, scope="tax.calculations")
        after = (position.at, position.id)
    rows = store.page_calculations(db, tenant_id, limit=limit + 1, after=after, fields=_LIST_FIELDS)
    items = [StoredCalculation.from_document(i, d) for i, d in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(
            TimeOrderedPosition(at=last.created_at, id=last.id), scope="tax.calculations"
        )
    return Page(items=[CalculationSummary(item) for item in items], next_cursor=next_cursor)


# -- refunds ----------------------------------------------------------------------------------


def proportional_tax(
    calc_totals: Mapping[str, Decimal],
    refunded_amount: Decimal,
    gross_total: Decimal,
    *,
    currency: str,
    rounding: Rounding = Rounding.HALF_UP,
    already_refunded: Decimal = Decimal(0),
) -> dict[str, Decimal]:
    """The tax inside a refund of ``refunded_amount`` out of ``gross_total``, per jurisdiction.

    The refund's tax is ``total tax * refunded / gross``, rounded once in the
    currency; it is split over the jurisdictions in proportion to their tax
    with :func:`shared.tax.allocate`, so the parts sum to it exactly.

    Successive partial refunds pass what was refunded before as
    ``already_refunded``: the answer is then the allocation of the cumulative
    refund minus that of the earlier ones, so refunding the whole gross in any
    number of steps returns each jurisdiction's tax exactly, never a minor
    unit more or less.
    """
    for name, amount in (
        ("refunded_amount", refunded_amount),
        ("gross_total", gross_total),
        ("already_refunded", already_refunded),
    ):
        _check_exact(name, amount, currency)
    if gross_total <= 0:
        raise invalid("gross_total", "a refund needs a positive gross total", "invalid_amount")
    if refunded_amount < 0:
        raise invalid("refunded_amount", "a refund amount is not negative", "negative_amount")
    if already_refunded < 0:
        raise invalid("already_refunded", "must not be negative", "negative_amount")
    if already_refunded + refunded_amount > gross_total:
        raise invalid(
            "refunded_amount",
            f"refunds of {already_refunded + refunded_amount} would exceed the gross {gross_total}",
            "refund_exceeds_gross",
        )
    for code, amount in calc_totals.items():
        _check_exact(f"calc_totals.{code}", amount, currency)
    before = _allocated_share(calc_totals, already_refunded, gross_total, currency, rounding)
    through = _allocated_share(
        calc_totals, already_refunded + refunded_amount, gross_total, currency, rounding
    )
    return {code: through[code] - before[code] for code in calc_totals}


def _allocated_share(
    totals: Mapping[str, Decimal],
    refunded: Decimal,
    gross: Decimal,
    currency: str,
    rounding: Rounding,
) -> dict[str, Decimal]:
    codes = list(totals)
    if not codes:
        return {}
    with localcontext(DECIMAL_CONTEXT):
        exact = [totals[code] * refunded / gross for code in codes]
        total = round_to_currency(sum(exact, Decimal(0)), currency, rounding)
        weights = [to_minor_units(totals[code], currency) for code in codes]
        sign = -1 if any(w < 0 for w in weights) else 1
        if all(sign * w >= 0 for w in weights):
            # Apportioned by highest averages, not allocate(): a later cumulative share
            # must never be below an earlier one, or a small refund would reverse
            # negative tax in one jurisdiction (and more in another).
            units = apportion([sign * w for w in weights], sign * to_minor_units(total, currency))
            shares = [from_minor_units(sign * u, currency) for u in units]
        else:
            shares = allocate(exact, total, currency, rounding)
    return dict(zip(codes, shares, strict=True))


def _check_exact(field: str, amount: Decimal, currency: str) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise invalid(field, "must be a finite Decimal", "invalid_amount")
    try:
        to_minor_units(amount, currency)
    except MoneyError as exc:
        raise invalid(field, str(exc), "too_many_decimals") from None


# -- the catalog: reading ---------------------------------------------------------------------


def jurisdiction_code_from_path(segment: str) -> str:
    """``US-CA~SF`` (a URL path segment) -> ``US-CA/SF``; anything else is a 404."""
    if not JURISDICTION_IN_PATH.match(segment):
        raise NotFoundError(f"jurisdiction {segment} not found", code="jurisdiction_not_found")
    return store.jurisdiction_code(segment)


def list_jurisdictions(
    db: firestore.Client, tenant_id: str, *, limit: int, cursor: str | None
) -> Page:
    """The tenant's jurisdictions with their taxes, categories and rates, by code."""
    store.ensure_seeded(db, tenant_id)
    after = None
    if cursor:
        after = decode_cursor(cursor, KeyPosition, scope="tax.jurisdictions").key
        if not JURISDICTION_CODE.match(after):
            raise invalid_cursor()
    rows = store.page_jurisdictions(db, tenant_id, limit=limit + 1, after_code=after)
    items = rows[:limit]
    next_cursor = (
        encode_cursor(KeyPosition(key=items[-1]["code"]), scope="tax.jurisdictions")
        if len(rows) > limit
        else None
    )
    return Page(items=items, next_cursor=next_cursor)


def get_jurisdiction(db: firestore.Client, tenant_id: str, code: str) -> JurisdictionDocument:
    store.ensure_seeded(db, tenant_id)
    found = store.read_jurisdiction(db, tenant_id, code)
    if found is None:
        raise _jurisdiction_not_found(code)
    return found


# -- the catalog: admin changes ---------------------------------------------------------------


def create_jurisdiction(
    db: firestore.Client,
    tenant_id: str,
    request: NewJurisdictionRequest,
    *,
    actor: Actor,
    cache: CatalogCache | None = None,
) -> CatalogUpdate[JurisdictionDocument]:
    """Add a jurisdiction (with its taxes, categories and rates) to the tenant's catalog."""

    def decide(
        version: int, documents: list[JurisdictionDocument]
    ) -> CatalogChange[JurisdictionDocument]:
        if any(d["code"] == request.code for d in documents):
            raise ConflictError(
                f"jurisdiction {request.code} already exists", code="jurisdiction_exists"
            )
        created = store.canonical(store.with_rate_ids(request.model_dump(mode="json")))
        catalog = _validated(
            [*documents, created], prefix=f"jurisdictions.{len(documents)}", overlap_field=None
        )
        event = _audit(
            "tax.jurisdiction.created",
            tenant_id,
            actor,
            "tax_jurisdiction",
            request.code,
            {"jurisdiction": created, "catalog_version": version + 1},
        )
        return CatalogChange([created], catalog, created, [event])

    return _commit(db, tenant_id, decide, cache)


def add_rate(
    db: firestore.Client,
    tenant_id: str,
    code: str,
    request: NewRateRequest,
    *,
    actor: Actor,
    cache: CatalogCache | None = None,
) -> CatalogUpdate[dict[str, Any]]:
    """Add a rate to a tax and category; overlapping an existing rate is a 422 on the field."""

    def decide(
        version: int, documents: list[JurisdictionDocument]
    ) -> CatalogChange[dict[str, Any]]:
        j, changed = _jurisdiction_at(documents, code)
        t, tax = _tax_in(changed, request.tax)
        c, category = _category_in(tax, request.category, field="category")
        valid_from = request.valid_from.isoformat()
        rate = {
            "id": store.rate_id(request.tax, request.category, valid_from),
            "rate": request.rate,
            "valid_from": valid_from,
            "valid_to": request.valid_to.isoformat() if request.valid_to else None,
            "compound": request.compound,
            "source": request.source.model_dump(mode="json"),
        }
        closed = None
        if request.supersede_open_rate:
            closed = next(
                (
                    r
                    for r in category["rates"]
                    if r["valid_to"] is None and r["valid_from"] < valid_from
                ),
                None,
            )
            if closed is None:
                raise invalid(
                    "supersede_open_rate",
                    f"no open-ended {request.tax} {request.category} rate starts before "
                    f"{valid_from}",
                    "no_open_rate",
                )
            closed["valid_to"] = valid_from
        category["rates"].append(rate)
        category["rates"].sort(key=lambda r: r["valid_from"])
        r = next(i for i, existing in enumerate(category["rates"]) if existing is rate)
        catalog = _validated(
            _replaced(documents, j, changed),
            prefix=f"jurisdictions.{j}.taxes.{t}.categories.{c}.rates.{r}",
            overlap_field="valid_to",
        )
        value = _rate_view(code, request.tax, request.category, rate)
        event = _audit(
            "tax.rate.added",
            tenant_id,
            actor,
            "tax_rate",
            f"{code}:{rate['id']}",
            {
                "rate": value,
                "closed_rate_id": closed["id"] if closed else None,
                "catalog_version": version + 1,
            },
        )
        return CatalogChange([changed], catalog, value, [event])

    return _commit(db, tenant_id, decide, cache)


def update_rate(
    db: firestore.Client,
    tenant_id: str,
    code: str,
    rate_id: str,
    request: RateUpdateRequest,
    *,
    actor: Actor,
    cache: CatalogCache | None = None,
) -> CatalogUpdate[dict[str, Any]]:
    """Change a rate's ``valid_to`` (close or reopen it) or its source."""
    if not request.model_fields_set:
        raise ValidationError.for_field("body", "give valid_to or source", "nothing_to_update")
    if "source" in request.model_fields_set and request.source is None:
        raise invalid("source", "a rate keeps a source; give the corrected one", "source_required")

    def decide(
        version: int, documents: list[JurisdictionDocument]
    ) -> CatalogChange[dict[str, Any]]:
        j, changed = _jurisdiction_at(documents, code)
        found = _rate_in(changed, rate_id)
        if found is None:
            raise NotFoundError(
                f"rate {rate_id} of jurisdiction {code} not found", code="tax_rate_not_found"
            )
        (t, tax), (c, category), (r, rate) = found
        before = copy.deepcopy(rate)
        if "valid_to" in request.model_fields_set:
            rate["valid_to"] = request.valid_to.isoformat() if request.valid_to else None
        if request.source is not None:
            rate["source"] = request.source.model_dump(mode="json")
        catalog = _validated(
            _replaced(documents, j, changed),
            prefix=f"jurisdictions.{j}.taxes.{t}.categories.{c}.rates.{r}",
            overlap_field="valid_to",
        )
        value = _rate_view(code, tax["code"], category["code"], rate)
        event = _audit(
            "tax.rate.updated",
            tenant_id,
            actor,
            "tax_rate",
            f"{code}:{rate_id}",
            {
                "before": _rate_view(code, tax["code"], category["code"], before),
                "after": value,
                "catalog_version": version + 1,
            },
        )
        return CatalogChange([changed], catalog, value, [event])

    return _commit(db, tenant_id, decide, cache)


def add_category(
    db: firestore.Client,
    tenant_id: str,
    code: str,
    request: NewCategoryRequest,
    *,
    actor: Actor,
    cache: CatalogCache | None = None,
) -> CatalogUpdate[dict[str, Any]]:
    """Add a tenant's own category (with its rates, if its kind takes one) under a tax."""

    def decide(
        version: int, documents: list[JurisdictionDocument]
    ) -> CatalogChange[dict[str, Any]]:
        j, changed = _jurisdiction_at(documents, code)
        t, tax = _tax_in(changed, request.tax)
        if any(existing["code"] == request.code for existing in tax["categories"]):
            raise ConflictError(
                f"{code} {request.tax} already has a category {request.code!r}",
                code="tax_category_exists",
            )
        category = store.category_with_rate_ids(
            request.tax, request.model_dump(mode="json", exclude={"tax"})
        )
        tax["categories"].append(category)
        catalog = _validated(
            _replaced(documents, j, changed),
            prefix=f"jurisdictions.{j}.taxes.{t}.categories.{len(tax['categories']) - 1}",
            overlap_field=None,
        )
        value = {"jurisdiction": code, "tax": request.tax, **category}
        event = _audit(
            "tax.category.added",
            tenant_id,
            actor,
            "tax_category",
            f"{code}:{request.tax}:{request.code}",
            {"category": value, "catalog_version": version + 1},
        )
        return CatalogChange([changed], catalog, value, [event])

    return _commit(db, tenant_id, decide, cache)


def _commit(
    db: firestore.Client,
    tenant_id: str,
    decide: Callable[[int, list[JurisdictionDocument]], CatalogChange[T]],
    cache: CatalogCache | None,
) -> CatalogUpdate[T]:
    snapshot, value = store.change_catalog(db, tenant_id, decide)
    (cache or store.default_cache()).install(db, snapshot)
    return CatalogUpdate(value, snapshot.version)


def _audit(
    action: str,
    tenant_id: str,
    actor: Actor,
    resource_type: str,
    resource_id: str,
    details: dict[str, Any],
) -> EventEnvelope:
    return audit_event(
        action,
        tenant_id=tenant_id,
        actor=actor.to_json(),
        resource_type=resource_type,
        resource_id=resource_id,
        details=details,
        source=AUDIT_SOURCE,
    )


def _jurisdiction_not_found(code: str) -> NotFoundError:
    return NotFoundError(f"jurisdiction {code} not found", code="jurisdiction_not_found")


def _jurisdiction_at(
    documents: Sequence[JurisdictionDocument], code: str
) -> tuple[int, JurisdictionDocument]:
    """The position of ``code`` and a copy of its document, to change freely."""
    for i, document in enumerate(documents):
        if document["code"] == code:
            return i, store.canonical(document)
    raise _jurisdiction_not_found(code)


def _tax_in(jurisdiction: JurisdictionDocument, code: str) -> tuple[int, dict[str, Any]]:
    for i, tax in enumerate(jurisdiction["taxes"]):
        if tax["code"] == code:
            return i, tax
    known = ", ".join(t["code"] for t in jurisdiction["taxes"]) or "none"
    raise invalid(
        "tax", f"{jurisdiction['code']} levies no tax {code!r} (known: {known})", "unknown_tax"
    )


def _category_in(tax: dict[str, Any], code: str, *, field: str) -> tuple[int, dict[str, Any]]:
    for i, category in enumerate(tax["categories"]):
        if category["code"] == code:
            return i, category
    known = ", ".join(c["code"] for c in tax["categories"])
    raise invalid(
        field,
        f"unknown tax category {code!r} for {tax['code']} (known: {known})",
        "unknown_tax_category",
    )


def _rate_in(
    jurisdiction: JurisdictionDocument, rate_id: str
) -> tuple[tuple[int, Any], tuple[int, Any], tuple[int, Any]] | None:
    if not _RATE_ID.match(rate_id):
        return None
    for t, tax in enumerate(jurisdiction["taxes"]):
        for c, category in enumerate(tax["categories"]):
            for r, rate in enumerate(category["rates"]):
                if rate["id"] == rate_id:
                    return (t, tax), (c, category), (r, rate)
    return None


def _replaced(
    documents: Sequence[JurisdictionDocument], index: int, document: JurisdictionDocument
) -> list[JurisdictionDocument]:
    return [document if i == index else d for i, d in enumerate(documents)]


def _rate_view(code: str, tax: str, category: str, rate: Mapping[str, Any]) -> dict[str, Any]:
    return {"jurisdiction": code, "tax": tax, "category": category, "id": rate["id"], **rate}


def _validated(
    documents: Sequence[JurisdictionDocument], *, prefix: str, overlap_field: str | None
) -> RateCatalog:
    """The catalog after a change, or its refusal named after the request's fields.

    The catalog names entries by their place in the whole catalog
    (``jurisdictions.4.taxes.0.categories.1.rates.2.valid_from``). An error inside
    the changed entry (``prefix``) is renamed to the request's field
    (``valid_from``; the catalog's ``percent`` is the request's ``rate``). A rate
    that the changed one overlaps from before is reported on the catalog entry
    after it: that is the changed rate's ``valid_to`` reaching too far.
    """
    try:
        return store.build_catalog(documents)
    except ValidationError as error:
        raise _relocated(error, prefix, overlap_field) from None


def _relocated(error: ValidationError, prefix: str, overlap_field: str | None) -> ValidationError:
    located = []
    for field_error in error.errors:
        field = field_error.field
        if field.startswith(prefix + "."):
            parts = field.removeprefix(prefix + ".").split(".")
            if parts[-1] == "percent":
                parts[-1] = "rate"
            field = ".".join(parts)
        elif overlap_field and field_error.code == "rate_interval_overlap":
            field = overlap_field
        located.append(FieldError(field, field_error.message, field_error.code))
    detail = "; ".join(f"{e.field}: {e.message}" for e in located)
    return ValidationError(detail, code=error.code, errors=located)
