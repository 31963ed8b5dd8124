"""Administration of a tenant's rate catalog: new jurisdictions, rates and categories; rate changes.

Each change is a pure ``decide(version, documents) -> CatalogChange``: the documents
after the change, the whole catalog re-validated with :class:`RateCatalog` (so a
refused change leaves the catalog as it was, and the refusal names the request's
field), the value to answer with and its audit event. :func:`shared.tax.store.change_catalog`
commits it in one transaction with the new catalog version, and the instance's cache
takes the new catalog at once.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from shared.errors import ConflictError, FieldError, NotFoundError, ValidationError
from shared.events.audit import audit_event
from shared.events.envelope import EventEnvelope
from shared.identity.actor import Actor
from shared.tax import store
from shared.tax.catalog import RateCatalog
from shared.tax.model import invalid
from shared.tax.requests_admin import (
    NewCategoryRequest,
    NewJurisdictionRequest,
    NewRateRequest,
    RateUpdateRequest,
)
from shared.tax.store import CatalogCache, CatalogChange, JurisdictionDocument

if TYPE_CHECKING:
    from google.cloud import firestore

T = TypeVar("T")
AUDIT_SOURCE = "tax"
_RATE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass(frozen=True, slots=True)
class CatalogUpdate(Generic[T]):
    """What an admin change returns, and the catalog version it produced."""

    value: T
    catalog_version: int


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
            "per_unit": request.per_unit.model_dump(mode="json") if request.per_unit else None,
            "cap": request.cap.model_dump(mode="json") if request.cap else None,
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
        actor=actor.to_audit(),
        resource_type=resource_type,
        resource_id=resource_id,
        details=details,
        source=AUDIT_SOURCE,
    )


def jurisdiction_not_found(code: str) -> NotFoundError:
    return NotFoundError(f"jurisdiction {code} not found", code="jurisdiction_not_found")


def _jurisdiction_at(
    documents: Sequence[JurisdictionDocument], code: str
) -> tuple[int, JurisdictionDocument]:
    """The position of ``code`` and a copy of its document, to change freely."""
    for i, document in enumerate(documents):
        if document["code"] == code:
            return i, store.canonical(document)
    raise jurisdiction_not_found(code)


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
