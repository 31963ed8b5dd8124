"""Exemption certificates over Firestore: record, read, list, resolve the cited ones.

Layout, per tenant::

    tenants/{tid}/tax_exemption_certificates/{id}   one certificate (id: 32 hex digits)

A certificate is checked against the tenant's catalog when it is recorded: every
jurisdiction exists, every category exists under a tax of one of them, every tax is
levied by one of them. It is stored in one transaction with its audit event (outbox). The
rule that decides which lines it exempts is :mod:`shared.tax.certificates`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field

from shared.errors import NotFoundError
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.outbox import add_to_outbox
from shared.events.transact import transact
from shared.identity.actor import Actor
from shared.pagination import DOCUMENT_ID, KeyPosition, Page, keyset_page
from shared.tax import store
from shared.tax.catalog import RateCatalog
from shared.tax.certificates import LimitedCertificate, check_cited
from shared.tax.model import TaxDefinition, invalid, refused
from shared.tax.requests_certificates import NewExemptionCertificateRequest
from shared.tax.store import CatalogCache

if TYPE_CHECKING:
    from google.cloud import firestore

CERTIFICATES_COLLECTION = "tax_exemption_certificates"
_CERTIFICATE_ID = re.compile(r"^[0-9a-f]{32}$")
_CURSOR_SCOPE = "tax.exemption_certificates"
_AUDIT_SOURCE = "tax"


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    """A certificate as the API shows it."""

    id: str
    document: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        created_at = self.document["created_at"]
        return {
            "id": self.id,
            **{k: v for k, v in self.document.items() if k != "created_at"},
            "created_at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        }


def certificates_collection(db: firestore.Client, tenant_id: str) -> Any:
    return (
        db.collection(store.TENANTS_COLLECTION)
        .document(tenant_id)
        .collection(CERTIFICATES_COLLECTION)
    )


def check_against_catalog(request: NewExemptionCertificateRequest, catalog: RateCatalog) -> None:
    """Refuse an interval that ends before it starts, or codes the tenant's catalog lacks."""
    if request.valid_to is not None and request.valid_to <= request.valid_from:
        raise invalid("valid_to", "valid_to must be after valid_from", "invalid_interval")
    taxes: list[TaxDefinition] = []
    for i, code in enumerate(request.jurisdictions):
        catalog.jurisdiction(code, field=f"jurisdictions.{i}")
        taxes.extend(catalog.taxes_levied_by(code))
    for i, code in enumerate(request.taxes):
        if not any(tax.code == code for tax in taxes):
            raise invalid(
                f"taxes.{i}",
                f"none of {', '.join(request.jurisdictions)} levies a tax {code!r}",
                "unknown_tax",
            )
    named = [tax for tax in taxes if not request.taxes or tax.code in request.taxes]
    for i, code in enumerate(request.categories):
        if not any(catalog.has_category(tax.jurisdiction, tax.code, code) for tax in named):
            raise invalid(
                f"categories.{i}",
                f"no tax of {', '.join(request.jurisdictions)} has a category {code!r}",
                "unknown_tax_category",
            )


def create_certificate(
    db: firestore.Client,
    tenant_id: str,
    request: NewExemptionCertificateRequest,
    *,
    actor: Actor,
    correlation_id: str | None = None,
    cache: CatalogCache | None = None,
) -> StoredCertificate:
    """Record a certificate with its audit event; a refusal writes nothing."""
    snapshot = (cache or store.default_cache()).get(db, tenant_id)
    check_against_catalog(request, snapshot.catalog)
    certificate_id = uuid.uuid4().hex
    document: dict[str, Any] = {
        "number": request.number,
        "buyer_name": request.buyer_name,
        "buyer_tax_id": request.buyer_tax_id,
        "jurisdictions": list(dict.fromkeys(request.jurisdictions)),
        "categories": list(dict.fromkeys(request.categories)),
        "taxes": list(dict.fromkeys(request.taxes)),
        "valid_from": request.valid_from.isoformat(),
        "valid_to": request.valid_to.isoformat() if request.valid_to else None,
        "created_by": actor.user_id,
        "created_at": datetime.now(UTC),
    }
    event = audit_event(
        "tax.exemption_certificate.created",
        tenant_id=tenant_id,
        actor=actor.to_audit(),
        resource_type="tax_exemption_certificate",
        resource_id=certificate_id,
        details={k: v for k, v in document.items() if k != "created_at"},
        source=_AUDIT_SOURCE,
        correlation_id=correlation_id,
    )
    ref = certificates_collection(db, tenant_id).document(certificate_id)

    def record(transaction: Any) -> None:
        # A retry after a commit whose answer was lost finds the certificate recorded.
        if ref.get(transaction=transaction).exists:
            return
        transaction.create(ref, document)
        add_to_outbox(transaction, db, AUDIT_TOPIC, event)

    transact(db, record, name="tax.create_exemption_certificate")
    return StoredCertificate(certificate_id, document)


def get_certificate(db: firestore.Client, tenant_id: str, certificate_id: str) -> StoredCertificate:
    """One certificate of the tenant; another tenant's is a 404 like a missing one."""
    document = _read(db, tenant_id, certificate_id)
    if document is None:
        raise NotFoundError(
            f"exemption certificate {certificate_id} not found",
            code="exemption_certificate_not_found",
        )
    return StoredCertificate(certificate_id, document)


def _certificate_id(value: str) -> str:
    if not _CERTIFICATE_ID.match(value):
        raise ValueError("is not a certificate id")
    return value


class _CertificatePosition(KeyPosition):
    """The last certificate of a page, by id: a cursor naming no certificate id is refused."""

    key: Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_certificate_id)]


def list_certificates(
    db: firestore.Client, tenant_id: str, *, limit: int, cursor: str | None
) -> Page[StoredCertificate]:
    """The tenant's certificates, by id."""
    collection = certificates_collection(db, tenant_id)
    return keyset_page(
        collection,
        order=(DOCUMENT_ID,),
        position=_CertificatePosition,
        scope=_CURSOR_SCOPE,
        cursor=cursor,
        limit=limit,
        to_item=lambda s: StoredCertificate(s.id, s.to_dict() or {}),
        start_after=lambda p: (collection.document(p.key),),
        position_of=lambda certificate: _CertificatePosition(key=certificate.id),
    )


def resolve_cited(
    db: firestore.Client, tenant_id: str, certificate_ids: Sequence[str], document_date: date
) -> tuple[LimitedCertificate, ...]:
    """The certificates a calculation cites, each in force on the document date.

    An id the tenant does not hold (unknown, or another tenant's) is a 422
    ``unknown_exemption_certificate`` on ``buyer.exemption_certificate_ids.N``.
    """
    resolved = []
    for i, certificate_id in enumerate(certificate_ids):
        field = f"buyer.exemption_certificate_ids.{i}"
        document = _read(db, tenant_id, certificate_id)
        if document is None:
            raise refused(
                field,
                f"no exemption certificate {certificate_id} is recorded for this tenant",
                "unknown_exemption_certificate",
            )
        certificate = LimitedCertificate.from_document(certificate_id, document)
        check_cited(certificate, document_date, field)
        resolved.append(certificate)
    return tuple(resolved)


def _read(db: firestore.Client, tenant_id: str, certificate_id: str) -> dict[str, Any] | None:
    if not _CERTIFICATE_ID.match(certificate_id):
        return None
    snapshot = certificates_collection(db, tenant_id).document(certificate_id).get()
    return (snapshot.to_dict() or {}) if snapshot.exists else None
