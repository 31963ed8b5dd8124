"""shared.errors: one hierarchy, rendered as RFC 9457 problem documents."""

from __future__ import annotations

import orjson
import pytest

from shared import errors
from shared.errors import AppError, FieldError, Severity, problem_document

STATUS_AND_CODE = [
    (errors.ValidationError, 422, "validation_error"),
    (errors.BadRequestError, 400, "bad_request"),
    (errors.UnauthorizedError, 401, "unauthorized"),
    (errors.ForbiddenError, 403, "forbidden"),
    (errors.NotFoundError, 404, "not_found"),
    (errors.ConflictError, 409, "conflict"),
    (errors.BusinessRuleError, 422, "business_rule_violation"),
    (errors.PayloadTooLargeError, 413, "payload_too_large"),
    (errors.UnsupportedMediaTypeError, 415, "unsupported_media_type"),
    (errors.ServiceUnavailableError, 503, "service_unavailable"),
    (errors.InternalError, 500, "internal_error"),
]


@pytest.mark.parametrize(("cls", "status", "code"), STATUS_AND_CODE)
def test_each_class_has_its_status_and_code(cls: type[AppError], status: int, code: str) -> None:
    error = cls("something specific")
    assert (error.status, error.code, error.detail) == (status, code, "something specific")
    assert isinstance(error, AppError)
    assert str(error) == "something specific"


@pytest.mark.parametrize(("cls", "status", "code"), STATUS_AND_CODE)
def test_detail_defaults_to_the_title(cls: type[AppError], status: int, code: str) -> None:
    error = cls()
    assert error.detail == cls.title
    assert error.detail


def test_method_not_allowed_lists_the_allowed_methods() -> None:
    error = errors.MethodNotAllowedError(["POST", "GET", "GET"])
    assert (error.status, error.code) == (405, "method_not_allowed")
    assert error.headers == {"Allow": "GET, POST"}


def test_rate_limited_carries_retry_after_of_at_least_one_second() -> None:
    error = errors.RateLimitedError(0)
    assert (error.status, error.code) == (429, "rate_limited")
    assert error.headers == {"Retry-After": "1"}
    assert errors.RateLimitedError(30).retry_after_seconds == 30


def test_unauthorized_names_the_bearer_scheme() -> None:
    assert errors.UnauthorizedError().headers == {"WWW-Authenticate": 'Bearer realm="tributum"'}
    custom = errors.UnauthorizedError("expired", code="token_expired", headers={"X-A": "b"})
    assert custom.headers == {"X-A": "b"}
    assert custom.code == "token_expired"


def test_a_specific_code_replaces_the_class_code_for_that_instance_only() -> None:
    error = errors.ConflictError("account closed", code="account_closed")
    assert error.code == "account_closed"
    assert errors.ConflictError.code == "conflict"
    assert errors.ConflictError().code == "conflict"


def test_client_faults_are_quiet_and_our_faults_loud() -> None:
    assert errors.ValidationError.severity.log_level == "info"
    assert errors.UnauthorizedError.severity.log_level == "warning"
    assert errors.ServiceUnavailableError.severity.log_level == "error"
    assert errors.InternalError.severity is Severity.CRITICAL
    assert Severity.CRITICAL.log_level == "critical"


def test_validation_error_for_one_field() -> None:
    error = errors.ValidationError.for_field("lines.1.amount", "too many decimals", "bad_format")
    assert error.errors == (FieldError("lines.1.amount", "too many decimals", "bad_format"),)
    assert "lines.1.amount" in error.detail


def test_problem_document_has_the_rfc_9457_members_and_ours() -> None:
    error = errors.ValidationError(
        "the request body is invalid",
        errors=[
            FieldError("amount", "must be a decimal string", "wrong_type"),
            FieldError("lines.0.account_id", "unknown field", "unknown_field"),
        ],
    )
    document = problem_document(error, correlation_id="corr-1", instance="/v1/journal-entries")
    assert document == {
        "type": "https://tributum.dev/problems/validation_error",
        "title": "Invalid request",
        "status": 422,
        "detail": "the request body is invalid",
        "instance": "/v1/journal-entries",
        "code": "validation_error",
        "correlation_id": "corr-1",
        "errors": [
            {"field": "amount", "message": "must be a decimal string", "code": "wrong_type"},
            {"field": "lines.0.account_id", "message": "unknown field", "code": "unknown_field"},
        ],
    }
    assert orjson.loads(orjson.dumps(document)) == document


def test_problem_type_follows_the_specific_code() -> None:
    document = problem_document(errors.NotFoundError(code="account_not_found"), correlation_id="c")
    assert document["type"].endswith("/account_not_found")
    assert document["code"] == "account_not_found"
    assert "errors" not in document
    assert "instance" not in document


def test_extra_members_are_added_but_never_override_the_standard_ones() -> None:
    error = errors.PayloadTooLargeError(
        "too big", extra={"max_bytes": 1024, "status": 200, "code": "fine"}
    )
    document = problem_document(error, correlation_id="c")
    assert document["max_bytes"] == 1024
    assert document["status"] == 413
    assert document["code"] == "payload_too_large"


def test_problem_document_never_carries_a_stack_trace() -> None:
    try:
        try:
            raise KeyError("internal detail")
        except KeyError as cause:
            raise errors.InternalError("unexpected") from cause
    except errors.InternalError as error:
        document = problem_document(error, correlation_id="c")
    text = orjson.dumps(document).decode()
    assert "Traceback" not in text
    assert "internal detail" not in text
    assert "KeyError" not in text
    assert set(document) == {"type", "title", "status", "detail", "code", "correlation_id"}
