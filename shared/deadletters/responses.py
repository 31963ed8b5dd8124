"""Response models of the dead letter routes (the OpenAPI document is built from them).

Handlers return ``DeadLetter`` values, whose ``to_json()`` writes exactly these fields.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class DeadLetterOut(BaseModel):
    id: str
    topic: str
    tenant_id: str | None
    event_id: str | None
    event_type: str | None
    reason: str
    consumer: str | None
    status: str
    data_base64: str
    data_text: str | None
    attributes: dict[str, str]
    delivery_count: int | None
    source_subscription: str | None
    seen_count: int
    replay_count: int
    first_seen: str
    last_seen: str
    data_size: int | None = Field(description="bytes of the original message data")
    data_truncated: bool = Field(description="only the first 256 KiB were kept; not replayable")
    data_redacted: bool = Field(
        description="secret-named values (tokens, passwords) were removed; not replayable"
    )
    claimed_tenant_id: str | None = Field(
        description="the tenant the message itself names; a claim, which decides nothing "
        "(tenant_id is whose dead letter it is)",
    )
