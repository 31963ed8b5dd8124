"""Request models of the producer-key routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.http.examples import body_examples
from shared.identity.roles import Permission
from shared.moments import Moment
from shared.producers.model import DEFAULT_RATE_LIMIT_PER_MINUTE
from shared.producers.rules import MAX_ROTATION_OVERLAP

# Printable text only: no control characters and no bidi overrides in a name people read.
_NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+$"

KeyRole = Literal["owner", "admin", "accountant", "viewer"]


def _access_rules(schema: dict[str, Any]) -> None:
    """What the key rules enforce across fields, said in the schema: a role or at least
    one scope, and permissions only with a role."""
    with_role = {"required": ["role"], "properties": {"role": {"type": "string"}}}
    schema["anyOf"] = [
        with_role,
        {"required": ["scopes"], "properties": {"scopes": {"minItems": 1}}},
    ]
    schema["if"] = {"required": ["permissions"], "properties": {"permissions": {"type": "array"}}}
    schema["then"] = with_role


class CreateProducerKeyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=body_examples(
            {"name": "billing", "scopes": ["ledger:post"]},
            {"name": "reporting", "role": "viewer", "expires_at": "2030-01-01T00:00:00Z"},
            {"name": "ci", "role": "accountant", "permissions": ["journal:read"]},
            then=_access_rules,
        ),
    )

    name: str = Field(
        min_length=1, max_length=100, pattern=_NAME_PATTERN, description="who uses it"
    )
    scopes: list[Literal["ledger:post"]] = Field(
        default_factory=list, max_length=1, description="the inbound topics it may publish to"
    )
    role: KeyRole | None = Field(
        default=None,
        description="what it may do on the HTTP API; at most the creator's own role",
    )
    permissions: list[Permission] | None = Field(
        default=None,
        min_length=1,
        max_length=len(Permission),
        description="a restricted key: only these permissions of its role",
    )
    rate_limit_per_minute: int = Field(
        default=DEFAULT_RATE_LIMIT_PER_MINUTE,
        ge=1,
        le=100_000,
        description="HTTP requests per minute, per function instance",
    )
    expires_at: Moment | None = Field(
        default=None, description="after this instant the key is refused"
    )


class RotateProducerKeyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"overlap_seconds": 3600}]}
    )

    overlap_seconds: int = Field(
        default=0,
        ge=0,
        le=int(MAX_ROTATION_OVERLAP.total_seconds()),
        description="how long the old secret keeps working next to the new one",
    )
