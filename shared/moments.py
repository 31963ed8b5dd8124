"""An instant a request may carry: aware, and one Firestore and UTC can both hold.

``AwareDatetime`` alone accepts ``0001-01-01T00:00:00+14:00``, whose UTC form falls
before year 1: converting it (as every Firestore query and the audit's canonical form
does) raises ``OverflowError``, a 500. :data:`Moment` refuses such values at validation,
so they are a 4xx naming the field.

:func:`fixed_or_now` is the clock of a use case that lets its caller fix the time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime
from pydantic_core import PydanticCustomError


def _representable(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise PydanticCustomError(
            "moment_out_of_range", "is outside the range of instants that can be stored"
        ) from None
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_representable)]
"""An aware instant whose UTC form exists (years 1 to 9999)."""

LaxMoment = Annotated[datetime, AfterValidator(_representable)]
"""An instant from a query string (a naive one is taken as UTC) whose UTC form exists."""


def fixed_or_now(now: datetime | None) -> datetime:
    """``now`` when a caller (a test, a replay) fixes the time, else the current UTC time."""
    return now if now is not None else datetime.now(UTC)
