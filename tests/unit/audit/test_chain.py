"""Building chain records and verifying a chain, without Firestore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.audit.canonical import GENESIS_HASH, record_hash
from shared.audit.chain import (
    MAX_REPORTED_PROBLEMS,
    InvalidAuditEventError,
    actor_id,
    audit_fields,
    chain_record,
    seq_document_id,
    verify_records,
)
from shared.events.audit import audit_event
from shared.events.envelope import new_event

TENANT = "tenant-a"
RECORDED = datetime(2030, 6, 1, 9, 30, tzinfo=UTC)


def envelope(index: int = 0, details: dict[str, Any] | None = None) -> Any:
    return audit_event(
        "ledger.entry.posted",
        tenant_id=TENANT,
        actor={"user_id": "u-7", "role": "accountant"},
        resource_type="ledger_entry",
        resource_id=f"ent_{index}",
        details=details or {"lines": 2},
        correlation_id=f"corr-{index}",
    )


def build_chain(length: int) -> list[tuple[str, dict[str, Any]]]:
    records: list[tuple[str, dict[str, Any]]] = []
    previous = GENESIS_HASH
    for seq in range(1, length + 1):
        record = chain_record(
            audit_fields(envelope(seq)),
            seq=seq,
            prev_hash=previous,
            recorded_at=RECORDED + timedelta(seconds=seq),
        )
        records.append((seq_document_id(seq), record))
        previous = str(record["hash"])
    return records


def head_of(records: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    last = records[-1][1]
    return {"seq": last["seq"], "hash": last["hash"]}


def test_a_record_keeps_the_event_normalized_and_hashes_itself() -> None:
    event = envelope(details={"amount": "10.00", "at": RECORDED})
    record = chain_record(audit_fields(event), seq=1, prev_hash=GENESIS_HASH, recorded_at=RECORDED)
    assert record["seq"] == 1
    assert record["prev_hash"] == GENESIS_HASH
    assert record["event_id"] == event.id
    assert record["action"] == "ledger.entry.posted"
    assert record["actor_id"] == "u-7"
    assert record["resource_type"] == "ledger_entry"
    assert record["details"] == {"amount": "10.00", "at": "2030-06-01T09:30:00.000000Z"}
    assert record["recorded_at"] == "2030-06-01T09:30:00.000000Z"
    assert record["hash"] == record_hash(record)


def test_document_ids_sort_as_the_sequence() -> None:
    ids = [seq_document_id(n) for n in (9, 10, 100, 2)]
    assert sorted(ids) == [seq_document_id(n) for n in (2, 9, 10, 100)]


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        ({"user_id": "u-1", "role": "admin"}, "u-1"),
        ({"system": "payments.processor"}, "system:payments.processor"),
        ({"role": "admin"}, "unknown"),
    ],
)
def test_actor_id(actor: dict[str, Any], expected: str) -> None:
    assert actor_id(actor) == expected


def test_only_audit_events_with_valid_data_become_records() -> None:
    other = new_event("payment.requested", source="t", subject="p/1", tenant_id=TENANT, data={})
    with pytest.raises(InvalidAuditEventError, match=r"only audit\.recorded"):
        audit_fields(other)
    bad = envelope().model_copy(update={"data": {"action": "x", "actor": {}}})
    with pytest.raises(InvalidAuditEventError, match="resource"):
        audit_fields(bad)
    unhashable = envelope().model_copy(
        update={"data": {**envelope().data, "details": {"raw": b"\x00"}}}
    )
    with pytest.raises(InvalidAuditEventError, match="cannot be hashed"):
        audit_fields(unhashable)


def test_an_intact_chain_verifies() -> None:
    records = build_chain(5)
    report = verify_records(TENANT, records, head_of(records))
    assert report.ok
    assert report.records_checked == 5
    assert (report.last_seq, report.head_seq) == (5, 5)
    assert report.to_json()["first_problem"] is None


def test_an_empty_chain_without_head_verifies() -> None:
    assert verify_records(TENANT, [], None).ok


def test_altered_content_is_reported_at_the_record() -> None:
    records = build_chain(5)
    head = head_of(records)
    records[2][1]["details"] = {"lines": 3}
    report = verify_records(TENANT, records, head)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("content_altered", 3)
    assert report.problem_count == 1


def test_altered_content_with_a_recomputed_hash_breaks_the_next_link() -> None:
    records = build_chain(5)
    head = head_of(records)
    forged = records[2][1]
    forged["outcome"] = "failure"
    forged["hash"] = record_hash(forged)
    report = verify_records(TENANT, records, head)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("link_broken", 4)
    assert "record 3" in report.first_problem.detail


def test_a_recomputed_last_record_is_caught_by_the_head() -> None:
    records = build_chain(3)
    head = head_of(records)
    forged = records[-1][1]
    forged["action"] = "nothing.happened"
    forged["hash"] = record_hash(forged)
    report = verify_records(TENANT, records, head)
    assert report.first_problem is not None
    assert report.first_problem.kind == "head_mismatch"


def test_a_replaced_first_record_must_start_from_genesis() -> None:
    records = build_chain(2)
    head = head_of(records)
    first = records[0][1]
    first["prev_hash"] = "f" * 64
    first["hash"] = record_hash(first)
    report = verify_records(TENANT, records, head)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("link_broken", 1)


def test_a_removed_record_is_a_gap_naming_what_is_missing() -> None:
    records = build_chain(6)
    head = head_of(records)
    del records[2:4]
    report = verify_records(TENANT, records, head)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("sequence_gap", 5)
    assert "3..4" in report.first_problem.detail
    assert report.problem_count == 1


def test_a_removed_first_record_is_a_gap() -> None:
    records = build_chain(3)
    head = head_of(records)
    report = verify_records(TENANT, records[1:], head)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("sequence_gap", 2)


def test_removed_last_records_are_reported_by_the_head() -> None:
    records = build_chain(6)
    head = head_of(records)
    report = verify_records(TENANT, records[:4], head)
    assert report.first_problem is not None
    assert report.first_problem.kind == "head_mismatch"
    assert "5..6" in report.first_problem.detail
    assert (report.last_seq, report.head_seq) == (4, 6)


def test_records_without_a_head_are_reported() -> None:
    records = build_chain(2)
    report = verify_records(TENANT, records, None)
    assert report.first_problem is not None
    assert report.first_problem.kind == "head_missing"


def test_a_record_moved_to_another_position_is_reported() -> None:
    records = build_chain(3)
    head = head_of(records)
    records[1] = (seq_document_id(7), records[1][1])
    report = verify_records(TENANT, records, head)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("misplaced_record", 2)


def test_problems_are_counted_exactly_but_listed_up_to_a_bound() -> None:
    records = build_chain(MAX_REPORTED_PROBLEMS + 20)
    head = head_of(records)
    for _, record in records:
        record["outcome"] = "failure"
    report = verify_records(TENANT, records, head)
    assert report.problem_count == MAX_REPORTED_PROBLEMS + 20
    assert len(report.problems) == MAX_REPORTED_PROBLEMS
