"""The one event envelope every message carries (the event contract: shared/events/README.md)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from shared.logger import current_correlation_id, current_traceparent

CURRENT_SCHEMA_VERSION = 1
# What Cloud Scheduler (and the local scheduler) publishes to every scheduled topic.
SCHEDULE_TICK_TYPE = "schedule.tick"
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class EventEnvelope(BaseModel):
    """What travels as a Pub/Sub message's data; attributes repeat type and correlation id."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field(min_length=1, max_length=128)
    type: str
    source: str = Field(min_length=1, max_length=200)
    subject: str = Field(min_length=1, max_length=500)
    time: datetime
    tenant_id: str = Field(min_length=1, max_length=128)
    correlation_id: str = Field(min_length=1, max_length=128)
    schema_version: int = Field(ge=1)
    data: dict[str, Any]
    # The trace of the request that caused the event (W3C traceparent), carried as a
    # message attribute only, so consumers log under the same trace. Not part of the data.
    _traceparent: str | None = PrivateAttr(default=None)

    @field_validator("type")
    @classmethod
    def _type_shape(cls, value: str) -> str:
        if not _EVENT_TYPE.match(value):
            raise ValueError("type must be dotted lower-case, e.g. 'payment.requested'")
        return value

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a timezone")
        return value

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @property
    def traceparent(self) -> str | None:
        return self._traceparent

    def attributes(self) -> dict[str, str]:
        attributes = {
            "type": self.type,
            "correlation_id": self.correlation_id,
            "tenant_id": self.tenant_id,
            "schema_version": str(self.schema_version),
        }
        if self._traceparent:
            attributes["traceparent"] = self._traceparent
        return attributes

    @classmethod
    def from_bytes(cls, payload: bytes) -> EventEnvelope:
        """Parse message data (raises pydantic's ValidationError or orjson.JSONDecodeError)."""
        return cls.model_validate_json(payload, strict=False)


def new_event(
    type: str,
    *,
    source: str,
    subject: str,
    tenant_id: str,
    data: dict[str, Any],
    correlation_id: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> EventEnvelope:
    """A new envelope; the correlation id and trace default to the current request's."""
    envelope = EventEnvelope(
        id=event_id or str(uuid.uuid4()),
        type=type,
        source=source,
        subject=subject,
        time=time or datetime.now(UTC),
        tenant_id=tenant_id,
        correlation_id=correlation_id or current_correlation_id() or str(uuid.uuid4()),
        schema_version=CURRENT_SCHEMA_VERSION,
        data=data,
    )
    envelope._traceparent = current_traceparent()
    return envelope
