"""Tax calculations and each tenant's catalog of jurisdictions, categories and rates."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from shared.client._core import ClientCore
from shared.client._pagination import JSONObject, Page, iterate


class TaxMethods(ClientCore):
    def create_tax_calculation(
        self, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> JSONObject:
        return self._object("create_tax_calculation", body=body, idempotency_key=idempotency_key)

    def list_tax_calculations(self, *, limit: int | None = None, cursor: str | None = None) -> Page:
        return self._page("list_tax_calculations", query={"limit": limit, "cursor": cursor})

    def iter_tax_calculations(self, *, page_size: int | None = None) -> Iterator[JSONObject]:
        return iterate(lambda cursor: self.list_tax_calculations(limit=page_size, cursor=cursor))

    def get_tax_calculation(self, calculation_id: str) -> JSONObject:
        return self._object("get_tax_calculation", path={"calculation_id": calculation_id})

    def get_tax_return(
        self, jurisdiction: str, currency: str, from_: date | str, to: date | str
    ) -> JSONObject:
        """A jurisdiction's return for the days ``from_`` to ``to`` (inclusive)."""
        return self._object(
            "get_tax_return",
            query={"jurisdiction": jurisdiction, "currency": currency, "from": from_, "to": to},
        )

    def export_tax_return(
        self, jurisdiction: str, currency: str, from_: date | str, to: date | str
    ) -> str:
        """The same return as CSV, one row per box."""
        return self._text(
            "export_tax_return",
            query={"jurisdiction": jurisdiction, "currency": currency, "from": from_, "to": to},
        )

    def list_jurisdictions(self, *, limit: int | None = None, cursor: str | None = None) -> Page:
        return self._page("list_jurisdictions", query={"limit": limit, "cursor": cursor})

    def iter_jurisdictions(self, *, page_size: int | None = None) -> Iterator[JSONObject]:
        return iterate(lambda cursor: self.list_jurisdictions(limit=page_size, cursor=cursor))

    def create_jurisdiction(self, body: Mapping[str, Any]) -> JSONObject:
        return self._object("create_jurisdiction", body=body)

    def get_jurisdiction(self, code: str) -> JSONObject:
        return self._object("get_jurisdiction", path={"code": code})

    def add_tax_category(self, code: str, body: Mapping[str, Any]) -> JSONObject:
        return self._object("add_tax_category", path={"code": code}, body=body)

    def add_tax_rate(self, code: str, body: Mapping[str, Any]) -> JSONObject:
        return self._object("add_tax_rate", path={"code": code}, body=body)

    def update_tax_rate(self, code: str, rate_id: str, body: Mapping[str, Any]) -> JSONObject:
        return self._object("update_tax_rate", path={"code": code, "rate_id": rate_id}, body=body)

    def create_exemption_certificate(
        self, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> JSONObject:
        return self._object(
            "create_exemption_certificate", body=body, idempotency_key=idempotency_key
        )

    def list_exemption_certificates(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        return self._page("list_exemption_certificates", query={"limit": limit, "cursor": cursor})

    def iter_exemption_certificates(self, *, page_size: int | None = None) -> Iterator[JSONObject]:
        return iterate(
            lambda cursor: self.list_exemption_certificates(limit=page_size, cursor=cursor)
        )

    def get_exemption_certificate(self, certificate_id: str) -> JSONObject:
        return self._object("get_exemption_certificate", path={"certificate_id": certificate_id})
