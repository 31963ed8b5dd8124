"""Dates and date-times in a query are what the OpenAPI document says: RFC 3339, nothing else."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.http import RequestContext, Router
from tests.support.http import RouterClient


class PeriodQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    day: date | None = None
    since: datetime | None = None
    until: AwareDatetime | None = None
    date_to: date | None = Field(default=None, alias="to")
    limit: int = Field(default=10, ge=1, le=100)


@pytest.fixture
def client() -> RouterClient:
    router = Router("periods")

    @router.get("/v1/periods", query=PeriodQuery, auth="public")
    def periods(ctx: RequestContext) -> dict[str, Any]:
        return ctx.query.model_dump(mode="json", exclude_none=True)

    return RouterClient(router)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("day=2025-01-31", {"day": "2025-01-31"}),
        ("to=2025-01-31", {"date_to": "2025-01-31"}),
        ("since=2025-01-31T09:30:00Z", {"since": datetime(2025, 1, 31, 9, 30, tzinfo=UTC)}),
        (
            "until=2025-01-31t09:30:00.25%2B02:00",
            {"until": datetime(2025, 1, 31, 9, 30, 0, 250000, timezone(timedelta(hours=2)))},
        ),
        ("limit=3.0", {"limit": 3}),
    ],
)
def test_rfc3339_values_are_read(
    client: RouterClient, query: str, expected: dict[str, Any]
) -> None:
    answer = client.get(f"/v1/periods?{query}")
    assert answer.status == 200, answer.body
    data = answer.json["data"]
    for name, value in expected.items():
        read = datetime.fromisoformat(data[name]) if isinstance(value, datetime) else data[name]
        assert read == value


@pytest.mark.parametrize(
    ("query", "field"),
    [
        # Lax validation read a number as a Unix time: 0 was 1970-01-01.
        ("day=0", "query.day"),
        ("to=1700000000", "query.to"),
        ("day=2025-01-31T00:00:00Z", "query.day"),
        ("since=0", "query.since"),
        # A date is not a date-time, and one without an offset names no moment.
        ("since=2025-01-31", "query.since"),
        ("since=2025-01-31T09:30:00", "query.since"),
        ("until=2025-01-31%2009:30:00Z", "query.until"),
    ],
)
def test_anything_else_is_a_422_on_the_parameter(
    client: RouterClient, query: str, field: str
) -> None:
    answer = client.get(f"/v1/periods?{query}")
    assert answer.status == 422, answer.body
    assert answer.json["errors"] == [
        {"field": field, "message": answer.json["errors"][0]["message"], "code": "bad_format"}
    ]
