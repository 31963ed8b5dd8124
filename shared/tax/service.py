"""Tax use cases over Firestore: calculations and reading the tenant's rate catalog.

Every use case takes the Firestore client as its first argument and the tenant
as the second; the catalog comes from :mod:`shared.tax.store` (seeded on first
use, cached per instance). Changes of the catalog are in :mod:`shared.tax.catalog_admin`.

For the payments and ledger side: :func:`get_calculation` returns a stored
calculation with its tax per jurisdiction as ``Decimal``, and
:func:`shared.tax.apportion.proportional_tax` splits a partial refund's tax over
those jurisdictions.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from pydantic import AfterValidator, Field

from shared.errors import NotFoundError, PayloadTooLargeError
from shared.pagination import DOCUMENT_ID, KeyPosition, Page, TimeOrderedPosition, keyset_page
from shared.tax import exemption_certificates, store
from shared.tax.catalog_admin import jurisdiction_not_found
from shared.tax.engine import calculate
from shared.tax.model import JURISDICTION_CODE, CalculationSummary, StoredCalculation
from shared.tax.requests import TaxCalculationRequest
from shared.tax.store import CatalogCache, CatalogSnapshot, JurisdictionDocument
from shared.tax.vat_ids import VatNumberChecker

if TYPE_CHECKING:
    from google.cloud import firestore

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
_CALCULATION_ID = re.compile(r"^[0-9a-f]{32}$")
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
    The exemption certificates the buyer cites are read from the tenant's store.
    """
    snapshot = catalog_for(db, tenant_id, cache=cache)
    tax_document = request.to_document()
    cited = request.buyer.exemption_certificate_ids if request.buyer else []
    if cited:
        tax_document = tax_document.with_certificates(
            exemption_certificates.resolve_cited(db, tenant_id, cited, tax_document.document_date)
        )
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
) -> Page[CalculationSummary]:
    """The tenant's calculations, newest first, without their request and result."""
    collection = store.calculations_collection(db, tenant_id)
    page = keyset_page(
        # A list needs no request and result bodies: only these fields are read.
        collection.select(list(_LIST_FIELDS)),
        order=("created_at", DOCUMENT_ID),
        descending=True,
        position=TimeOrderedPosition,
        scope="tax.calculations",
        cursor=cursor,
        limit=limit,
        to_item=lambda s: StoredCalculation.from_document(s.id, s.to_dict() or {}),
        start_after=lambda p: (p.at, collection.document(p.id)),
        position_of=lambda item: TimeOrderedPosition(at=item.created_at, id=item.id),
    )
    return page.with_items([CalculationSummary(item) for item in page.items])


# -- the catalog: reading ---------------------------------------------------------------------


def jurisdiction_code_from_path(segment: str) -> str:
    """``US-CA~SF`` (a URL path segment) -> ``US-CA/SF``; anything else is a 404."""
    if not JURISDICTION_IN_PATH.match(segment):
        raise NotFoundError(f"jurisdiction {segment} not found", code="jurisdiction_not_found")
    return store.jurisdiction_code(segment)


def _jurisdiction_code(value: str) -> str:
    if not JURISDICTION_CODE.match(value):
        raise ValueError("is not a jurisdiction code")
    return value


class _JurisdictionPosition(KeyPosition):
    """The last jurisdiction of a page, by code: a cursor naming no code is refused."""

    key: Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_jurisdiction_code)]


def list_jurisdictions(
    db: firestore.Client, tenant_id: str, *, limit: int, cursor: str | None
) -> Page[JurisdictionDocument]:
    """The tenant's jurisdictions with their taxes, categories and rates, by code."""
    store.ensure_seeded(db, tenant_id)
    collection = store.catalog_collection(db, tenant_id)

    def read(snapshot: Any) -> JurisdictionDocument:
        return store.canonical(snapshot.to_dict() or {})

    return keyset_page(
        collection,
        order=(DOCUMENT_ID,),
        position=_JurisdictionPosition,
        scope="tax.jurisdictions",
        cursor=cursor,
        limit=limit,
        to_item=read,
        start_after=lambda p: (collection.document(store.jurisdiction_document_id(p.key)),),
        position_of=lambda item: _JurisdictionPosition(key=item["code"]),
    )


def get_jurisdiction(db: firestore.Client, tenant_id: str, code: str) -> JurisdictionDocument:
    store.ensure_seeded(db, tenant_id)
    found = store.read_jurisdiction(db, tenant_id, code)
    if found is None:
        raise jurisdiction_not_found(code)
    return found
