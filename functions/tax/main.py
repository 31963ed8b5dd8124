"""tax: calculations with the tenant's rate catalog, and the catalog's admin API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.clients import firestore_client
from shared.http import Page, PageQuery, Reply, RequestContext, Router, Stream, Streamed
from shared.identity.roles import Permission
from shared.ledger.export import csv_header, csv_rows
from shared.ledger.instance import ledger_service
from shared.payments import tax_returns
from shared.payments.tax_return import RETURN_COLUMNS, TaxReturn
from shared.payments.tax_returns import TaxReturnQuery
from shared.ratelimit import RateLimit, TokenBucketLimiter, limit_route
from shared.tax import TaxCalculationRequest, catalog_admin
from shared.tax import exemption_certificates as certificates
from shared.tax import service as tax
from shared.tax.exemption_certificates import StoredCertificate
from shared.tax.model import StoredCalculation
from shared.tax.requests_admin import (
    NewCategoryRequest,
    NewJurisdictionRequest,
    NewRateRequest,
    RateUpdateRequest,
)
from shared.tax.requests_certificates import NewExemptionCertificateRequest
from shared.tax.responses import (
    CalculationOut,
    CalculationSummaryOut,
    CategoryOut,
    ExemptionCertificateOut,
    JurisdictionOut,
    RateOut,
    TaxReturnOut,
)

router = Router("tax")
CALCULATE = Permission.TAX_CALCULATE.value
READ = Permission.TAX_READ.value
ADMIN = Permission.TAX_ADMIN.value


class JurisdictionPath(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(
        max_length=80, description="jurisdiction code, a locality's '/' written '~' (US-CA~SF)"
    )


class CertificatePath(BaseModel):
    model_config = ConfigDict(extra="forbid")
    certificate_id: str = Field(max_length=64, examples=["3f0c2a9e5b7d4c1fa2e8b6d0c4a19e57"])


class CalculationPath(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Unconstrained on purpose: an id that cannot exist is a 404 like a missing one.
    calculation_id: str = Field(examples=["9b2d4f6a8c0e1a3b5d7f9e1c3a5b7d9f"])


class RatePath(JurisdictionPath):
    rate_id: str = Field(max_length=128, examples=["VAT.standard.2021-01-01"])


def _code(ctx: RequestContext) -> str:
    return tax.jurisdiction_code_from_path(ctx.params.code)


def _changed(update: catalog_admin.CatalogUpdate[Any], status: int = 200) -> Reply:
    return Reply(update.value, status=status, meta={"catalog_version": update.catalog_version})


# Calculations are the expensive route: a per-instance burst guard per tenant keeps one
# tenant's batch job from starving the others on the same instance.
CALCULATION_BURST = TokenBucketLimiter(RateLimit(limit=50, window_seconds=1))


@router.post(
    "/v1/tax/calculations",
    body=TaxCalculationRequest,
    response=CalculationOut,
    status=201,
    permission=CALCULATE,
    idempotency="optional",
    before=[limit_route(CALCULATION_BURST, per="tenant")],
)
def create_calculation(ctx: RequestContext) -> Reply:
    """Calculate the tax of an invoice or credit note and store the calculation."""
    calculation = tax.create_calculation(
        firestore_client(), ctx.tenant_id, ctx.body, created_by=str(ctx.principal.user_id)
    )
    return Reply(
        calculation,
        status=201,
        headers={"Location": f"/v1/tax/calculations/{calculation.id}"},
    )


@router.get(
    "/v1/tax/calculations", permission=READ, query=PageQuery, response=[CalculationSummaryOut]
)
def list_calculations(ctx: RequestContext) -> Page:
    """The tenant's calculations, newest first (without request and result)."""
    return tax.list_calculations(
        firestore_client(), ctx.tenant_id, limit=ctx.query.limit, cursor=ctx.query.cursor
    )


@router.get(
    "/v1/tax/calculations/{calculation_id}",
    params=CalculationPath,
    permission=READ,
    response=CalculationOut,
)
def get_calculation(ctx: RequestContext) -> StoredCalculation:
    """One stored calculation with its request and result."""
    return tax.get_calculation(firestore_client(), ctx.tenant_id, ctx.params.calculation_id)


@router.get("/v1/tax/jurisdictions", permission=ADMIN, query=PageQuery, response=[JurisdictionOut])
def list_jurisdictions(ctx: RequestContext) -> Page:
    """The tenant's jurisdictions with their taxes, categories and rates."""
    return tax.list_jurisdictions(
        firestore_client(), ctx.tenant_id, limit=ctx.query.limit, cursor=ctx.query.cursor
    )


@router.post(
    "/v1/tax/jurisdictions",
    body=NewJurisdictionRequest,
    response=JurisdictionOut,
    status=201,
    permission=ADMIN,
)
def create_jurisdiction(ctx: RequestContext) -> Reply:
    """Add a jurisdiction with its taxes, categories and rates."""
    update = catalog_admin.create_jurisdiction(
        firestore_client(), ctx.tenant_id, ctx.body, actor=ctx.actor
    )
    return _changed(update, 201)


@router.get(
    "/v1/tax/jurisdictions/{code}",
    params=JurisdictionPath,
    permission=ADMIN,
    response=JurisdictionOut,
)
def get_jurisdiction(ctx: RequestContext) -> dict[str, Any]:
    """One jurisdiction with its taxes, categories and rates."""
    return tax.get_jurisdiction(firestore_client(), ctx.tenant_id, _code(ctx))


@router.post(
    "/v1/tax/jurisdictions/{code}/rates",
    params=JurisdictionPath,
    body=NewRateRequest,
    response=RateOut,
    status=201,
    permission=ADMIN,
)
def add_rate(ctx: RequestContext) -> Reply:
    """Add a rate; one that overlaps another of the same tax and category is refused."""
    update = catalog_admin.add_rate(
        firestore_client(), ctx.tenant_id, _code(ctx), ctx.body, actor=ctx.actor
    )
    return _changed(update, 201)


@router.patch(
    "/v1/tax/jurisdictions/{code}/rates/{rate_id}",
    params=RatePath,
    body=RateUpdateRequest,
    response=RateOut,
    permission=ADMIN,
)
def update_rate(ctx: RequestContext) -> Reply:
    """Close a rate (valid_to), reopen it (null) or correct its source."""
    update = catalog_admin.update_rate(
        firestore_client(),
        ctx.tenant_id,
        _code(ctx),
        ctx.params.rate_id,
        ctx.body,
        actor=ctx.actor,
    )
    return _changed(update)


@router.post(
    "/v1/tax/jurisdictions/{code}/categories",
    params=JurisdictionPath,
    body=NewCategoryRequest,
    response=CategoryOut,
    status=201,
    permission=ADMIN,
)
def add_category(ctx: RequestContext) -> Reply:
    """Add the tenant's own category under one of the jurisdiction's taxes."""
    update = catalog_admin.add_category(
        firestore_client(), ctx.tenant_id, _code(ctx), ctx.body, actor=ctx.actor
    )
    return _changed(update, 201)


@router.post(
    "/v1/tax/exemption-certificates",
    body=NewExemptionCertificateRequest,
    response=ExemptionCertificateOut,
    status=201,
    permission=CALCULATE,
    idempotency="optional",
)
def create_exemption_certificate(ctx: RequestContext) -> Reply:
    """Record a buyer's exemption certificate, limited to categories and jurisdictions."""
    certificate = certificates.create_certificate(
        firestore_client(),
        ctx.tenant_id,
        ctx.body,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )
    return Reply(
        certificate,
        status=201,
        headers={"Location": f"/v1/tax/exemption-certificates/{certificate.id}"},
    )


@router.get(
    "/v1/tax/exemption-certificates",
    permission=CALCULATE,
    query=PageQuery,
    response=[ExemptionCertificateOut],
)
def list_exemption_certificates(ctx: RequestContext) -> Page:
    """The tenant's exemption certificates, by id."""
    return certificates.list_certificates(
        firestore_client(), ctx.tenant_id, limit=ctx.query.limit, cursor=ctx.query.cursor
    )


@router.get(
    "/v1/tax/exemption-certificates/{certificate_id}",
    params=CertificatePath,
    permission=CALCULATE,
    response=ExemptionCertificateOut,
)
def get_exemption_certificate(ctx: RequestContext) -> StoredCertificate:
    """One exemption certificate of the tenant."""
    return certificates.get_certificate(
        firestore_client(), ctx.tenant_id, ctx.params.certificate_id
    )


# -- returns ----------------------------------------------------------------------------


_RETURN_CSV = Streamed({"text/csv": "one row per box: box, description, amount, currency"})


@router.get("/v1/tax/returns", permission=READ, query=TaxReturnQuery, response=TaxReturnOut)
def get_tax_return(ctx: RequestContext) -> TaxReturn:
    """A jurisdiction's return for a period, from the tax the ledger booked on settled
    payments (refunds netted)."""
    return tax_returns.tax_return(ledger_service(), ctx.tenant_id, ctx.query)


@router.get("/v1/tax/returns/export", permission=READ, query=TaxReturnQuery, response=_RETURN_CSV)
def export_tax_return(ctx: RequestContext) -> Stream:
    """The same return as CSV, one row per box."""
    query: TaxReturnQuery = ctx.query
    figures = tax_returns.tax_return(ledger_service(), ctx.tenant_id, query)
    body = csv_header(RETURN_COLUMNS) + csv_rows(figures.rows(), RETURN_COLUMNS)
    name = f"tax-return-{query.jurisdiction}-{query.date_from}-{query.date_to}.csv"
    return Stream([body], "text/csv; charset=utf-8", filename=name)


handle = router.handler
