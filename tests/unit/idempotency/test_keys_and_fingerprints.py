"""Pure parts of the idempotency store: key rules, record ids, fingerprints, replayable statuses."""

from __future__ import annotations

import pytest

from shared import errors
from shared.idempotency import is_replayable, record_id, request_fingerprint, validate_key


@pytest.mark.parametrize("key", ["a", "order-2026-0001", "x" * 255, "with space ~!@#$%^&*()"])
def test_printable_ascii_keys_of_1_to_255_characters_are_accepted(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "new\nline", "caf\u00e9", "\x7f"])
def test_other_keys_are_rejected_on_the_header_field(key: str) -> None:
    with pytest.raises(errors.ValidationError) as caught:
        validate_key(key)
    [field_error] = caught.value.errors
    assert field_error.field == "Idempotency-Key"
    assert field_error.code == "invalid_idempotency_key"
    assert caught.value.status == 422


def test_record_ids_separate_scope_from_key() -> None:
    assert record_id("tenant-a:POST /v1/x", "k") != record_id("tenant-a:POST /v1/", "xk")
    assert record_id("tenant-a:POST /v1/x", "k") != record_id("tenant-b:POST /v1/x", "k")
    assert record_id("s", "k") == record_id("s", "k")
    assert len(record_id("s", "k")) == 64


def test_json_bodies_are_fingerprinted_by_meaning() -> None:
    compact = request_fingerprint("POST", "/v1/payments", b'{"amount":"1.00","currency":"EUR"}')
    spaced = request_fingerprint(
        "post", "/v1/payments", b'{ "currency": "EUR",\n  "amount": "1.00" }'
    )
    assert compact == spaced


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/v1/payments", b'{"amount":"1.00","currency":"EUR"}'),
        ("POST", "/v1/refunds", b'{"amount":"1.00","currency":"EUR"}'),
        ("POST", "/v1/payments", b'{"amount":"1.01","currency":"EUR"}'),
        ("POST", "/v1/payments", b'{"amount":"1.00","currency":"EUR","extra":null}'),
        ("POST", "/v1/payments", b""),
    ],
)
def test_any_other_method_path_or_body_changes_the_fingerprint(
    method: str, path: str, body: bytes
) -> None:
    reference = request_fingerprint("POST", "/v1/payments", b'{"amount":"1.00","currency":"EUR"}')
    assert request_fingerprint(method, path, body) != reference


def test_non_json_bodies_are_compared_byte_for_byte() -> None:
    assert request_fingerprint("POST", "/p", b"a=1&b=2") != request_fingerprint(
        "POST", "/p", b"b=2&a=1"
    )
    assert request_fingerprint("POST", "/p", b"a=1") == request_fingerprint("POST", "/p", b"a=1")


def test_parts_cannot_shift_into_each_other() -> None:
    assert request_fingerprint("POST", "/a", b"b") != request_fingerprint("POST", "/ab", b"")


@pytest.mark.parametrize("status", [200, 201, 202, 204, 400, 401, 403, 404, 422])
def test_outcomes_of_the_request_itself_are_replayed(status: int) -> None:
    assert is_replayable(status)


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503, 504, 100])
def test_transient_and_server_failures_are_not_replayed(status: int) -> None:
    assert not is_replayable(status)
