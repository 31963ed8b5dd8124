"""Response models of the tax routes: the shapes the tax function's handlers answer with.

They document the API (the router builds the function's OpenAPI document from them):
calculations (``StoredCalculation.to_json()``), the rate catalog's jurisdictions,
categories and rates, exemption certificates, and a jurisdiction's return. Money is a
decimal string in major units, never a number.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ExemptionCertificateOut(BaseModel):
    id: str
    number: str
    buyer_name: str
    buyer_tax_id: str | None
    jurisdictions: list[str]
    categories: list[str]
    taxes: list[str]
    valid_from: str
    valid_to: str | None
    created_by: str
    created_at: str


class TotalsOut(BaseModel):
    net: str
    tax: str
    gross: str


class JurisdictionTotalOut(BaseModel):
    jurisdiction: str
    tax_amount: str


class CalculationSummaryOut(BaseModel):
    id: str
    document_type: str
    document_date: str
    currency: str
    totals: TotalsOut
    jurisdiction_totals: list[JurisdictionTotalOut]
    catalog_version: int
    created_at: str
    created_by: str


class CalculationOut(CalculationSummaryOut):
    request: dict[str, Any] = Field(description="the request as received, defaults filled in")
    result: dict[str, Any] = Field(description="lines, breakdown, totals, reverse charge")


class SourceOut(BaseModel):
    publication: str
    url: str
    note: str


class RateOut(BaseModel):
    jurisdiction: str
    tax: str
    category: str
    id: str
    rate: str | None
    per_unit: dict[str, str] | None
    cap: dict[str, str | None] | None
    valid_from: str
    valid_to: str | None
    compound: bool
    source: SourceOut


class CategoryOut(BaseModel):
    jurisdiction: str
    tax: str
    code: str
    kind: str
    description: str
    rates: list[dict[str, Any]]


class JurisdictionOut(BaseModel):
    code: str
    name: str
    source: SourceOut | None
    taxes: list[dict[str, Any]]


class TaxReturnOut(BaseModel):
    jurisdiction: str
    currency: str
    from_: str = Field(alias="from")
    to: str
    taxable_sales: str = Field(description="net revenue of the sales that carry the tax")
    tax_collected: str
    tax_refunded: str
    net_tax: str = Field(description="collected less refunded: what is owed for the period")
    withheld_by_customers: str = Field(
        description="tax buyers withheld and paid to the jurisdiction for the tenant"
    )
    entries: int
    final: bool = Field(description="the period is inside the ledger's closed period")
