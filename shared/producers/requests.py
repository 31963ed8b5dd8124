"""Request models of the producer-key routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.moments import Moment

# Printable text only: no control characters and no bidi overrides in a name people read.
_NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+$"


class CreateProducerKeyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "billing", "scopes": ["ledger:post"]}],
        },
    )

    name: str = Field(
        min_length=1, max_length=100, pattern=_NAME_PATTERN, description="who publishes with it"
    )
    scopes: list[Literal["ledger:post"]] = Field(min_length=1, max_length=1)
    expires_at: Moment | None = Field(
        default=None, description="after this instant messages signed with it are refused"
    )
