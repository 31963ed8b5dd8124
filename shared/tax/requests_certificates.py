"""Request model of the exemption certificates API (shapes only).

:mod:`shared.tax.exemption_certificates` checks meaning: the interval, and that the
jurisdictions, categories and taxes exist in the tenant's catalog.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shared.http.examples import body_examples
from shared.tax.model import CATEGORY_CODE, JURISDICTION_CODE, TAX_CODE
from shared.text import HumanName

MAX_CERTIFICATE_JURISDICTIONS = 20
MAX_CERTIFICATE_CATEGORIES = 50
MAX_CERTIFICATE_TAXES = 8


class NewExemptionCertificateRequest(BaseModel):
    """A buyer's exemption certificate, limited to categories and jurisdictions.

    It exempts a line's tax when the tax is levied by one of ``jurisdictions``, the
    line's category is one of ``categories``, the tax is one of ``taxes`` (any when
    empty), and the line's tax date is in [valid_from, valid_to).
    """

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {
                "number": "ST-120-2026-0042",
                "buyer_name": "Hudson Valley Schools Cooperative",
                "buyer_tax_id": "14-1234567",
                "jurisdictions": ["US-NY"],
                "categories": ["standard"],
                "valid_from": "2026-01-01",
                "valid_to": "2027-01-01",
            },
        ),
    )
    number: HumanName = Field(
        max_length=64, examples=["ST-120-2026-0042"], description="as printed on the certificate"
    )
    buyer_name: HumanName = Field(examples=["Hudson Valley Schools Cooperative"])
    buyer_tax_id: str | None = Field(
        default=None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9 ./-]+$"
    )
    jurisdictions: list[Annotated[str, Field(pattern=JURISDICTION_CODE.pattern)]] = Field(
        min_length=1,
        max_length=MAX_CERTIFICATE_JURISDICTIONS,
        examples=[["US-NY"]],
        description="the taxes of exactly these jurisdictions (not enclosing ones) are exempt",
    )
    categories: list[Annotated[str, Field(pattern=CATEGORY_CODE.pattern)]] = Field(
        min_length=1, max_length=MAX_CERTIFICATE_CATEGORIES, examples=[["standard"]]
    )
    taxes: list[Annotated[str, Field(pattern=TAX_CODE.pattern)]] = Field(
        default_factory=list,
        max_length=MAX_CERTIFICATE_TAXES,
        examples=[["SALES"]],
        description="only these taxes of the jurisdictions; every one when empty",
    )
    valid_from: date
    valid_to: date | None = Field(default=None, description="exclusive: expired on this day")
