"""Payments: created, captured, cancelled and refunded asynchronously (202)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Literal

from shared.client._core import ClientCore
from shared.client._pagination import JSONObject, Page, iterate

PaymentStatus = Literal[
    "requested",
    "authorized",
    "captured",
    "settled",
    "partially_refunded",
    "refunded",
    "failed",
    "cancelled",
]


class PaymentMethods(ClientCore):
    def create_payment(
        self, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> JSONObject:
        """A payment (``amount``, ``currency``, ``payer_ref``, ``payee_ref``,
        ``method_token``, ...); it is processed after the answer: read its status."""
        return self._object("create_payment", body=body, idempotency_key=idempotency_key)

    def list_payments(
        self,
        *,
        status: PaymentStatus | None = None,
        payer_ref: str | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        query = {
            "status": status,
            "payer_ref": payer_ref,
            "created_from": created_from,
            "created_to": created_to,
        }
        return self._page("list_payments", query={**query, "limit": limit, "cursor": cursor})

    def iter_payments(
        self,
        *,
        status: PaymentStatus | None = None,
        payer_ref: str | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
        page_size: int | None = None,
    ) -> Iterator[JSONObject]:
        return iterate(
            lambda cursor: self.list_payments(
                status=status,
                payer_ref=payer_ref,
                created_from=created_from,
                created_to=created_to,
                limit=page_size,
                cursor=cursor,
            )
        )

    def get_payment(self, payment_id: str) -> JSONObject:
        return self._object("get_payment", path={"payment_id": payment_id})

    def capture_payment(
        self,
        payment_id: str,
        body: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        if_match: str | None = None,
    ) -> JSONObject:
        """Capture an authorized payment (``If-Match``: the ETag version it was read at)."""
        return self._object(
            "capture_payment",
            path={"payment_id": payment_id},
            body=body,
            idempotency_key=idempotency_key,
            headers={"If-Match": if_match},
        )

    def cancel_payment(
        self,
        payment_id: str,
        body: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        if_match: str | None = None,
    ) -> JSONObject:
        return self._object(
            "cancel_payment",
            path={"payment_id": payment_id},
            body=body,
            idempotency_key=idempotency_key,
            headers={"If-Match": if_match},
        )

    def refund_payment(
        self,
        payment_id: str,
        body: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        if_match: str | None = None,
    ) -> JSONObject:
        return self._object(
            "refund_payment",
            path={"payment_id": payment_id},
            body=body,
            idempotency_key=idempotency_key,
            headers={"If-Match": if_match},
        )
