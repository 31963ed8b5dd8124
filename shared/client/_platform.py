"""Audit trail, dead letters, producer keys and health."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Literal

from shared.client._core import ClientCore
from shared.client._pagination import JSONObject, Page, iterate

DeadLetterStatus = Literal["stored", "replayed", "discarded"]


class PlatformMethods(ClientCore):
    def list_audit_records(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        occurred_from: datetime | str | None = None,
        occurred_to: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        query = {
            "actor": actor,
            "action": action,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "occurred_from": occurred_from,
            "occurred_to": occurred_to,
        }
        return self._page("list_audit_records", query={**query, "limit": limit, "cursor": cursor})

    def iter_audit_records(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        occurred_from: datetime | str | None = None,
        occurred_to: datetime | str | None = None,
        page_size: int | None = None,
    ) -> Iterator[JSONObject]:
        return iterate(
            lambda cursor: self.list_audit_records(
                actor=actor,
                action=action,
                resource_type=resource_type,
                resource_id=resource_id,
                occurred_from=occurred_from,
                occurred_to=occurred_to,
                limit=page_size,
                cursor=cursor,
            )
        )

    def verify_audit_chain(
        self, *, witness_seq: int | None = None, witness_hash: str | None = None
    ) -> JSONObject:
        return self._object(
            "verify_audit_chain", query={"witness_seq": witness_seq, "witness_hash": witness_hash}
        )

    def list_dead_letters(
        self,
        *,
        status: DeadLetterStatus | None = None,
        topic: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        return self._page(
            "list_dead_letters",
            query={"status": status, "topic": topic, "limit": limit, "cursor": cursor},
        )

    def iter_dead_letters(
        self,
        *,
        status: DeadLetterStatus | None = None,
        topic: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[JSONObject]:
        return iterate(
            lambda cursor: self.list_dead_letters(
                status=status, topic=topic, limit=page_size, cursor=cursor
            )
        )

    def get_dead_letter(self, dead_letter_id: str) -> JSONObject:
        return self._object("get_dead_letter", path={"dead_letter_id": dead_letter_id})

    def discard_dead_letter(self, dead_letter_id: str, body: Mapping[str, Any]) -> JSONObject:
        return self._object(
            "discard_dead_letter", path={"dead_letter_id": dead_letter_id}, body=body
        )

    def replay_dead_letter(self, dead_letter_id: str) -> JSONObject:
        return self._object("replay_dead_letter", path={"dead_letter_id": dead_letter_id})

    def create_producer_key(self, body: Mapping[str, Any]) -> JSONObject:
        """A producer key; the answer holds its secret, shown this once."""
        return self._object("create_producer_key", body=body)

    def list_producer_keys(self) -> list[JSONObject]:
        return self._objects("list_producer_keys")

    def get_producer_key(self, key_id: str) -> JSONObject:
        return self._object("get_producer_key", path={"key_id": key_id})

    def revoke_producer_key(self, key_id: str) -> JSONObject:
        return self._object("revoke_producer_key", path={"key_id": key_id})

    def rotate_producer_key(self, key_id: str, body: Mapping[str, Any]) -> JSONObject:
        """A successor of the key; the answer holds its secret, shown this once."""
        return self._object("rotate_producer_key", path={"key_id": key_id}, body=body)

    def check_liveness(self) -> JSONObject:
        return self._object("check_liveness")

    def check_readiness(self) -> JSONObject:
        """Readiness of Firestore and Pub/Sub; a ServerError (503) when not ready."""
        return self._object("check_readiness")
