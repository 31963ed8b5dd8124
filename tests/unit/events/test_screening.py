"""Pure parts of the consumer: what a delivery's data means before any handler runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from shared.events.envelope import new_event
from shared.events.event_context import processed_document_id
from shared.events.screening import ConsumerSpec, screen

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SPEC = ConsumerSpec(
    name="projector",
    accepts={"user.created": frozenset({1, 2}), "user.updated": frozenset({1})},
    max_age=timedelta(hours=1),
)


def _event(type_: str = "user.created", **changes: object) -> bytes:
    envelope = new_event(
        type_,
        source="identity",
        subject="users/u-1",
        tenant_id="t-1",
        data={"user_id": "u-1"},
        correlation_id="c-1",
        time=NOW - timedelta(minutes=5),
    )
    return envelope.model_copy(update=changes).to_bytes()


def test_an_accepted_type_and_version_is_accepted() -> None:
    screening = screen(SPEC, _event(schema_version=2), NOW)
    assert screening.verdict == "accept"
    assert screening.envelope is not None
    assert screening.envelope.correlation_id == "c-1"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "malformed envelope"),
        (b"\xff\xfe", "malformed envelope"),
        (b"[1, 2]", "malformed envelope"),
        (b'{"id": "x"}', "malformed envelope: type: Field required"),
    ],
)
def test_data_that_is_no_envelope_is_rejected(data: bytes, reason: str) -> None:
    screening = screen(SPEC, data, NOW)
    assert screening.verdict == "reject"
    assert screening.envelope is None
    assert screening.reason.startswith(reason)


def test_the_reason_summarises_many_errors_without_the_values() -> None:
    payload = orjson.loads(_event())
    for name in ("type", "source", "subject", "tenant_id", "correlation_id", "schema_version"):
        del payload[name]
    payload["data"] = "secret-value"
    screening = screen(SPEC, orjson.dumps(payload), NOW)
    assert screening.verdict == "reject"
    assert screening.reason.endswith("and 2 more")
    assert "secret-value" not in screening.reason


def test_an_unknown_type_is_rejected_unless_other_types_are_ignored() -> None:
    rejected = screen(SPEC, _event("user.deleted"), NOW)
    assert (rejected.verdict, rejected.reason) == ("reject", "unknown event type user.deleted")
    lenient = ConsumerSpec(name="projector", accepts=SPEC.accepts, ignore_other_types=True)
    assert screen(lenient, _event("user.deleted"), NOW).verdict == "ignore"


def test_an_unsupported_schema_version_is_rejected_with_the_supported_ones() -> None:
    screening = screen(SPEC, _event("user.updated", schema_version=2), NOW)
    assert screening.verdict == "reject"
    assert screening.reason == "unsupported schema_version 2 of user.updated (supported: 1)"


def test_an_event_older_than_max_age_is_stale() -> None:
    assert screen(SPEC, _event(), NOW + timedelta(minutes=54)).verdict == "accept"
    stale = screen(SPEC, _event(), NOW + timedelta(minutes=56))
    assert stale.verdict == "stale"
    assert stale.reason.startswith("event is 3660 s old")


def test_without_max_age_no_event_is_too_old() -> None:
    ageless = ConsumerSpec(name="projector", accepts=SPEC.accepts)
    assert screen(ageless, _event(), NOW + timedelta(days=365)).verdict == "accept"


def test_processed_ids_keep_plain_event_ids_and_hash_others() -> None:
    assert processed_document_id("projector", "9b2f-11") == "projector:9b2f-11"
    hashed = processed_document_id("projector", "a/b")
    assert hashed.startswith("projector:sha256-")
    assert "/" not in hashed
    assert hashed != processed_document_id("projector", "a/c")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Bad-Name"}, "snake_case"),
        ({"accepts": {}}, "accepts no event type"),
        ({"accepts": {"user.created": frozenset()}}, "versions >= 1"),
        ({"accepts": {"user.created": frozenset({0})}}, "versions >= 1"),
        ({"max_age": timedelta(days=31)}, "shorter than processed_ttl"),
        ({"processed_ttl": timedelta(0)}, "processed_ttl must be positive"),
        ({"transaction_attempts": 0}, "transaction_attempts"),
    ],
)
def test_a_consumer_declaration_that_cannot_work_is_refused(
    changes: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {"name": "projector", "accepts": SPEC.accepts, **changes}
    with pytest.raises(ValueError, match=message):
        ConsumerSpec(**fields)  # type: ignore[arg-type]
