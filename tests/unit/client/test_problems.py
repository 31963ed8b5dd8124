"""Problem documents become the typed exception of their status family."""

from __future__ import annotations

import httpx
import pytest

from shared.client import (
    ApiError,
    AuthenticationError,
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TributumError,
    ValidationError,
)
from tests.unit.client.support import FakeApi, answer, problem


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ValidationError),
        (401, AuthenticationError),
        (403, PermissionDenied),
        (404, NotFound),
        (405, ApiError),
        (409, Conflict),
        (412, Conflict),
        (413, ValidationError),
        (415, ValidationError),
        (422, ValidationError),
        (429, RateLimited),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_each_status_raises_its_class(status: int, error: type[ApiError]) -> None:
    api = FakeApi([answer(problem(status, "some_code"))])
    with pytest.raises(error) as raised:
        api.client(api_key="k").get_trial_balance()
    assert type(raised.value) is error
    assert isinstance(raised.value, TributumError)
    assert raised.value.status == status
    assert raised.value.code == "some_code"
    assert raised.value.detail == "refused: some_code"
    assert raised.value.correlation_id == "corr-42"


def test_a_refused_entry_carries_its_field_errors() -> None:
    errors = [
        {"field": "lines", "message": "debits and credits differ", "code": "unbalanced"},
        {"field": "lines.1.amount", "message": "too precise", "code": "too_many_decimals"},
    ]
    api = FakeApi([answer(problem(422, "validation_error", errors=errors))])
    with pytest.raises(ValidationError) as raised:
        api.client(api_key="k").post_journal_entry({"lines": []})
    assert raised.value.errors == [
        FieldError("lines", "debits and credits differ", "unbalanced"),
        FieldError("lines.1.amount", "too precise", "too_many_decimals"),
    ]
    assert raised.value.field_codes() == {
        "lines": "unbalanced",
        "lines.1.amount": "too_many_decimals",
    }
    assert str(raised.value) == "422 validation_error: refused: validation_error"


def test_rate_limited_says_how_long_to_wait() -> None:
    api = FakeApi([answer(problem(429, "rate_limited", headers={"Retry-After": "7"}))])
    with pytest.raises(RateLimited) as raised:
        api.client().log_in("a@example.com", "pw")
    assert raised.value.retry_after == 7.0


def test_a_server_error_keeps_a_retry_after_and_may_lack_one() -> None:
    api = FakeApi(
        [
            answer(problem(503, "unavailable", headers={"Retry-After": "2"})),
            answer(problem(500, "internal_error")),
        ]
    )
    client = api.client()
    with pytest.raises(ServerError) as unavailable:
        client.check_readiness()
    with pytest.raises(ServerError) as failed:
        client.check_readiness()
    assert unavailable.value.retry_after == 2.0
    assert failed.value.retry_after is None


def test_a_body_that_is_no_problem_document_still_raises_by_status() -> None:
    page = httpx.Response(
        502, content=b"<html>Bad gateway</html>", headers={"X-Correlation-ID": "x9"}
    )
    api = FakeApi([answer(page)])
    with pytest.raises(ServerError) as raised:
        api.client().check_liveness()
    assert raised.value.code == "http_502"
    assert raised.value.detail == "<html>Bad gateway</html>"
    assert raised.value.correlation_id == "x9"
    assert raised.value.errors == []
