"""Stored exemption certificates: a buyer's exemption limited to categories and jurisdictions.

A tenant records the certificates its buyers give it (``/v1/tax/exemption-certificates``);
a calculation cites them by id (``buyer.exemption_certificate_ids``). A certificate
covers a tax on a line when the tax is levied by one of its ``jurisdictions`` (exactly
that jurisdiction, not an enclosing or enclosed one), the line's category is one of its
``categories``, the tax is one of its ``taxes`` (any tax when it names none), and the
line's tax date lies in [valid_from, valid_to): on ``valid_to`` it has expired. Other
lines and taxes are taxed normally.

A cited certificate must be in force on the document date: before ``valid_from`` it is
refused as ``exemption_certificate_not_yet_valid``, from ``valid_to`` on as
``exemption_certificate_expired`` (a line whose tax point falls on another local day is
still judged on its own tax date).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.tax.model import refused


@dataclass(frozen=True, slots=True)
class LimitedCertificate:
    """An exemption certificate as a calculation uses it."""

    certificate_id: str
    jurisdictions: tuple[str, ...]
    categories: tuple[str, ...]
    valid_from: date
    valid_to: date | None = None
    taxes: tuple[str, ...] = ()

    def in_force_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    def covers(self, jurisdiction: str, tax: str, category: str, on: date) -> bool:
        return (
            jurisdiction in self.jurisdictions
            and category in self.categories
            and (not self.taxes or tax in self.taxes)
            and self.in_force_on(on)
        )

    @classmethod
    def from_document(cls, certificate_id: str, document: dict[str, Any]) -> LimitedCertificate:
        return cls(
            certificate_id=certificate_id,
            jurisdictions=tuple(document["jurisdictions"]),
            categories=tuple(document["categories"]),
            taxes=tuple(document.get("taxes") or ()),
            valid_from=date.fromisoformat(document["valid_from"]),
            valid_to=(
                date.fromisoformat(document["valid_to"]) if document.get("valid_to") else None
            ),
        )


def covering(
    certificates: Iterable[LimitedCertificate],
    jurisdiction: str,
    tax: str,
    category: str,
    on: date,
) -> LimitedCertificate | None:
    """The first cited certificate that exempts this tax on this line, if any."""
    return next((c for c in certificates if c.covers(jurisdiction, tax, category, on)), None)


def check_cited(certificate: LimitedCertificate, document_date: date, field: str) -> None:
    """Refuse a cited certificate that is not in force on the document date."""
    if document_date < certificate.valid_from:
        raise refused(
            field,
            f"exemption certificate {certificate.certificate_id} is valid from "
            f"{certificate.valid_from.isoformat()}, after the document date "
            f"{document_date.isoformat()}",
            "exemption_certificate_not_yet_valid",
        )
    if certificate.valid_to is not None and document_date >= certificate.valid_to:
        raise refused(
            field,
            f"exemption certificate {certificate.certificate_id} expired on "
            f"{certificate.valid_to.isoformat()}",
            "exemption_certificate_expired",
        )
