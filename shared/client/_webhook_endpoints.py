"""Webhook endpoints, their secrets and their delivery log."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from shared.client._core import ClientCore
from shared.client._pagination import JSONObject, Page, iterate


class WebhookMethods(ClientCore):
    def create_webhook_endpoint(self, body: Mapping[str, Any]) -> JSONObject:
        """An endpoint (``url``, ``event_types``, ...); the answer holds its ``whsec_``
        secret, shown this once."""
        return self._object("create_webhook_endpoint", body=body)

    def list_webhook_endpoints(self) -> list[JSONObject]:
        return self._objects("list_webhook_endpoints")

    def get_webhook_endpoint(self, endpoint_id: str) -> JSONObject:
        return self._object("get_webhook_endpoint", path={"endpoint_id": endpoint_id})

    def update_webhook_endpoint(self, endpoint_id: str, body: Mapping[str, Any]) -> JSONObject:
        return self._object("update_webhook_endpoint", path={"endpoint_id": endpoint_id}, body=body)

    def delete_webhook_endpoint(self, endpoint_id: str) -> None:
        self._nothing("delete_webhook_endpoint", path={"endpoint_id": endpoint_id})

    def disable_webhook_endpoint(self, endpoint_id: str) -> JSONObject:
        return self._object("disable_webhook_endpoint", path={"endpoint_id": endpoint_id})

    def rotate_webhook_secret(self, endpoint_id: str) -> JSONObject:
        """A new secret; the old one keeps signing beside it for the overlap window."""
        return self._object("rotate_webhook_secret", path={"endpoint_id": endpoint_id})

    def resend_webhook_events(self, endpoint_id: str, body: Mapping[str, Any]) -> JSONObject:
        """Deliver again every kept event ``since`` a moment."""
        return self._object("resend_webhook_events", path={"endpoint_id": endpoint_id}, body=body)

    def list_webhook_deliveries(
        self, endpoint_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        return self._page(
            "list_webhook_deliveries",
            path={"endpoint_id": endpoint_id},
            query={"limit": limit, "cursor": cursor},
        )

    def iter_webhook_deliveries(
        self, endpoint_id: str, *, page_size: int | None = None
    ) -> Iterator[JSONObject]:
        return iterate(
            lambda cursor: self.list_webhook_deliveries(endpoint_id, limit=page_size, cursor=cursor)
        )

    def get_webhook_delivery(self, endpoint_id: str, delivery_id: str) -> JSONObject:
        return self._object(
            "get_webhook_delivery", path={"endpoint_id": endpoint_id, "delivery_id": delivery_id}
        )

    def resend_webhook_delivery(self, endpoint_id: str, delivery_id: str) -> JSONObject:
        return self._object(
            "resend_webhook_delivery",
            path={"endpoint_id": endpoint_id, "delivery_id": delivery_id},
        )
