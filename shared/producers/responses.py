"""Response models of the producer-key routes (the OpenAPI document is built from them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ProducerKeyOut(BaseModel):
    id: str
    name: str
    scopes: list[str]
    role: str | None
    permissions: list[str] | None
    rate_limit_per_minute: int
    status: str
    created_at: str
    created_by: dict[str, Any]
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None
    replaces: str | None
    replaced_by: str | None


class CreatedProducerKeyOut(ProducerKeyOut):
    credential: str
