"""Instants a request may carry: aware, and representable in UTC (no OverflowError later)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.moments import LaxMoment, Moment, fixed_or_now


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_an_instant_without_a_utc_form_is_refused(text: str) -> None:
    for kind in (Moment, LaxMoment):
        with pytest.raises(ValidationError, match="outside the range"):
            TypeAdapter(kind).validate_python(text)


def test_ordinary_instants_pass() -> None:
    at = TypeAdapter(Moment).validate_python("2026-12-03T12:00:00+01:00")
    assert at.astimezone(UTC) == datetime(2026, 12, 3, 11, tzinfo=UTC)
    with pytest.raises(ValidationError):
        TypeAdapter(Moment).validate_python("2026-12-03T12:00:00")  # naive
    assert TypeAdapter(LaxMoment).validate_python("2026-12-03T12:00:00").year == 2026


def test_a_fixed_time_is_kept_and_no_time_is_the_current_utc_time() -> None:
    fixed = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
    assert fixed_or_now(fixed) is fixed
    before = datetime.now(UTC)
    current = fixed_or_now(None)
    assert current.tzinfo is UTC
    assert before <= current <= datetime.now(UTC)
