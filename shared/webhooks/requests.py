"""Request models of the webhook routes.

The URL is checked by the service, not here: its rules need the deployment's
allowance and a DNS lookup (``urls.py``). Its refusals are 422s on ``url`` all the same.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from shared.http.examples import body_examples
from shared.http.patch import PatchBody, patch_schema
from shared.moments import Moment
from shared.pagination import PageQuery
from shared.text import HumanText
from shared.webhooks.rules import MAX_EVENT_TYPES, MAX_URL_LENGTH, pattern_problem


def _subscribable(pattern: str) -> str:
    problem = pattern_problem(pattern)
    if problem is not None:
        raise PydanticCustomError("unknown_event_type", problem)
    return pattern


EventTypePattern = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$",
        examples=["payment.settled", "ledger.*", "*"],
    ),
    AfterValidator(_subscribable),
]
EventTypes = Annotated[list[EventTypePattern], Field(min_length=1, max_length=MAX_EVENT_TYPES)]
Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="https URL of a publicly reachable host; redirects are not followed",
        examples=["https://example.com/hooks/tributum"],
        # The shape urls.py takes (ASCII, no spaces, an http(s) scheme), for the JSON
        # Schema only: its own codes say which rule refused a URL (http is for the
        # deployment's allowed private hosts alone).
        json_schema_extra={"pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[!-~]+$"},
    ),
]

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


class CreateEndpointRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "url": "https://example.com/hooks/tributum",
                    "event_types": ["payment.*", "ledger.entry_posted"],
                    "description": "ERP sync",
                }
            ]
        },
    )

    url: Url
    event_types: EventTypes
    description: HumanText = ""
    enabled: bool = True


class UpdateEndpointRequest(PatchBody):
    """Every field optional, none null; at least one must be present."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {"event_types": ["payment.*"], "description": "Payments only"},
            {"enabled": False},
            then=patch_schema,
        ),
    )

    url: Url | None = None
    event_types: EventTypes | None = None
    description: HumanText | None = None
    enabled: bool | None = None


class ResendSinceRequest(BaseModel):
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {"since": "2026-01-01T00:00:00Z"},
        ),
    )

    since: Moment = Field(
        description="resend every kept event from this moment on (at most 500 per request)"
    )


class DeliveryQuery(PageQuery):
    """``limit`` and ``cursor`` of the delivery log (newest first, no filters)."""
