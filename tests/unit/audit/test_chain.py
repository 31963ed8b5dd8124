"""Building chain records and verifying a chain, without Firestore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.audit.canonical import GENESIS_HASH, canonical_json, record_hash
from shared.audit.chain import (
    MAX_REPORTED_PROBLEMS,
    InvalidAuditEventError,
    actor_id,
    audit_fields,
    chain_record,
    head_seal,
    seq_document_id,
    verify_records,
)
from shared.audit.keys import AuditKeySet, rotated
from shared.events.audit import audit_event
from shared.events.envelope import new_event

TENANT = "tenant-a"
RECORDED = datetime(2030, 6, 1, 9, 30, tzinfo=UTC)
KEYS = AuditKeySet("k1", {"k1": b"k" * 32})


def resealed(record: dict[str, Any], keys: AuditKeySet = KEYS) -> str:
    """The MAC someone holding the key would compute for an edited record."""
    return keys.sign(canonical_json({k: v for k, v in record.items() if k != "hash"}))[1]


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
            keys=KEYS,
        )
        records.append((seq_document_id(seq), record))
        previous = str(record["hash"])
    return records


def head_of(records: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The head the writer leaves: the last record's seq and hash, sealed with the key."""
    last = records[-1][1]
    return {
        "seq": last["seq"],
        "hash": last["hash"],
        **head_seal(TENANT, last["seq"], last["hash"], KEYS),
    }


def test_a_record_keeps_the_event_normalized_and_hashes_itself() -> None:
    event = envelope(details={"amount": "10.00", "at": RECORDED})
    record = chain_record(
        audit_fields(event), seq=1, prev_hash=GENESIS_HASH, recorded_at=RECORDED, keys=KEYS
    )
    assert record["seq"] == 1
    assert record["prev_hash"] == GENESIS_HASH
    assert record["event_id"] == event.id
    assert record["action"] == "ledger.entry.posted"
    assert record["actor_id"] == "u-7"
    assert record["resource_type"] == "ledger_entry"
    assert record["details"] == {"amount": "10.00", "at": "2030-06-01T09:30:00.000000Z"}
    assert record["recorded_at"] == "2030-06-01T09:30:00.000000Z"
    assert (record["chain_version"], record["key_id"]) == (2, "k1")
    assert record["hash"] == resealed(record)


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
    report = verify_records(TENANT, records, head_of(records), KEYS)
    assert report.ok
    assert report.records_checked == 5
    assert (report.last_seq, report.head_seq) == (5, 5)
    assert report.to_json()["first_problem"] is None


def test_an_empty_chain_without_head_verifies() -> None:
    assert verify_records(TENANT, [], None, KEYS).ok


def test_altered_content_is_reported_at_the_record() -> None:
    records = build_chain(5)
    head = head_of(records)
    records[2][1]["details"] = {"lines": 3}
    report = verify_records(TENANT, records, head, KEYS)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("content_altered", 3)
    assert report.problem_count == 1


def test_altered_content_resealed_with_the_key_still_breaks_the_next_link() -> None:
    records = build_chain(5)
    head = head_of(records)
    forged = records[2][1]
    forged["outcome"] = "failure"
    forged["hash"] = resealed(forged)
    report = verify_records(TENANT, records, head, KEYS)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("link_broken", 4)
    assert "record 3" in report.first_problem.detail


def test_a_recomputed_last_record_is_caught_by_the_head() -> None:
    records = build_chain(3)
    head = head_of(records)
    forged = records[-1][1]
    forged["action"] = "nothing.happened"
    forged["hash"] = resealed(forged)
    report = verify_records(TENANT, records, head, KEYS)
    assert report.first_problem is not None
    assert report.first_problem.kind == "head_mismatch"


def test_a_replaced_first_record_must_start_from_genesis() -> None:
    records = build_chain(2)
    head = head_of(records)
    first = records[0][1]
    first["prev_hash"] = "f" * 64
    first["hash"] = resealed(first)
    report = verify_records(TENANT, records, head, KEYS)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("link_broken", 1)


def test_a_removed_record_is_a_gap_naming_what_is_missing() -> None:
    records = build_chain(6)
    head = head_of(records)
    del records[2:4]
    report = verify_records(TENANT, records, head, KEYS)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("sequence_gap", 5)
    assert "3..4" in report.first_problem.detail
    assert report.problem_count == 1


def test_a_removed_first_record_is_a_gap() -> None:
    records = build_chain(3)
    head = head_of(records)
    report = verify_records(TENANT, records[1:], head, KEYS)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("sequence_gap", 2)


def test_removed_last_records_are_reported_by_the_head() -> None:
    records = build_chain(6)
    head = head_of(records)
    report = verify_records(TENANT, records[:4], head, KEYS)
    assert report.first_problem is not None
    assert report.first_problem.kind == "head_mismatch"
    assert "5..6" in report.first_problem.detail
    assert (report.last_seq, report.head_seq) == (4, 6)


def test_records_without_a_head_are_reported() -> None:
    records = build_chain(2)
    report = verify_records(TENANT, records, None, KEYS)
    assert report.first_problem is not None
    assert report.first_problem.kind == "head_missing"


def test_a_record_moved_to_another_position_is_reported() -> None:
    records = build_chain(3)
    head = head_of(records)
    records[1] = (seq_document_id(7), records[1][1])
    report = verify_records(TENANT, records, head, KEYS)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("misplaced_record", 2)


def test_problems_are_counted_exactly_but_listed_up_to_a_bound() -> None:
    records = build_chain(MAX_REPORTED_PROBLEMS + 20)
    head = head_of(records)
    for _, record in records:
        record["outcome"] = "failure"
    report = verify_records(TENANT, records, head, KEYS)
    assert report.problem_count == MAX_REPORTED_PROBLEMS + 20
    assert len(report.problems) == MAX_REPORTED_PROBLEMS


def test_a_rewrite_without_the_key_is_caught_at_the_record_even_with_every_hash_redone() -> None:
    # The attacker edits a record and recomputes the SHA-256 of it and of every later
    # record, then moves the head: without the key, no MAC verifies.
    records = build_chain(4)
    records[1][1]["outcome"] = "failure"
    previous = str(records[0][1]["hash"])
    for _, record in records[1:]:
        record["prev_hash"] = previous
        record["hash"] = record_hash(record)
        previous = record["hash"]
    report = verify_records(TENANT, records, head_of(records), KEYS)
    assert [(p.kind, p.seq) for p in report.problems] == [
        ("content_altered", 2),
        ("content_altered", 3),
        ("content_altered", 4),
    ]


def test_a_rewrite_signed_with_another_key_does_not_verify() -> None:
    records = build_chain(3)
    records[2][1]["outcome"] = "failure"
    records[2][1]["hash"] = resealed(records[2][1], AuditKeySet("k1", {"k1": b"x" * 32}))
    report = verify_records(TENANT, records, head_of(records), KEYS)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("content_altered", 3)


LEGACY = AuditKeySet("k1", {"k1": b"k" * 32}, accept_unkeyed=True)


def _unkeyed_chain(length: int) -> list[tuple[str, dict[str, Any]]]:
    records: list[tuple[str, dict[str, Any]]] = []
    previous = GENESIS_HASH
    for seq in range(1, length + 1):
        record: dict[str, Any] = {
            **audit_fields(envelope(seq)),
            "chain_version": 1,
            "seq": seq,
            "prev_hash": previous,
            "recorded_at": "2030-06-01T09:30:00.000000Z",
        }
        record["hash"] = record_hash(record)
        records.append((seq_document_id(seq), record))
        previous = record["hash"]
    return records


def test_a_whole_chain_rewritten_as_unkeyed_records_is_refused() -> None:
    # Without the key, an attacker can still write a consistent chain of plain hashes.
    records = _unkeyed_chain(3)
    report = verify_records(TENANT, records, head_of(records), KEYS)
    assert [p.kind for p in report.problems] == ["content_altered"] * 3
    assert "unkeyed" in report.problems[0].detail


def test_passing_a_record_off_as_unkeyed_after_keyed_ones_is_a_downgrade() -> None:
    records = build_chain(3)
    forged = records[2][1]
    forged["outcome"] = "failure"
    forged["chain_version"] = 1
    del forged["key_id"]
    forged["hash"] = record_hash(forged)
    report = verify_records(TENANT, records, head_of(records), LEGACY)
    assert report.first_problem is not None
    assert report.first_problem.kind == "content_altered"
    assert "unkeyed after keyed" in report.first_problem.detail


def test_a_key_set_that_accepts_records_from_before_keys_verifies_them_sealed() -> None:
    legacy = _unkeyed_chain(2)
    keyed = chain_record(
        audit_fields(envelope(3)),
        seq=3,
        prev_hash=legacy[-1][1]["hash"],
        recorded_at=RECORDED,
        keys=LEGACY,
    )
    records = [*legacy, (seq_document_id(3), keyed)]
    assert verify_records(TENANT, records, head_of(records), LEGACY).ok
    assert AuditKeySet.from_secret(LEGACY.to_secret()).accept_unkeyed is True
    # Rewriting an unkeyed record (hashes redone) breaks the keyed record's link.
    legacy[1][1]["outcome"] = "failure"
    legacy[1][1]["hash"] = record_hash(legacy[1][1])
    report = verify_records(TENANT, records, head_of(records), LEGACY)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("link_broken", 3)


def test_a_mac_of_any_characters_is_reported_not_raised() -> None:
    records = build_chain(2)
    records[1][1]["hash"] = "\u00e9" * 64
    report = verify_records(TENANT, records, head_of(records), KEYS)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("content_altered", 2)


def test_records_of_a_key_no_longer_held_are_reported() -> None:
    records = build_chain(2)
    report = verify_records(TENANT, records, head_of(records), AuditKeySet("k9", {"k9": b"9" * 32}))
    assert [p.kind for p in report.problems] == ["unknown_key"] * 3  # two records, the head


def test_after_a_rotation_old_records_verify_and_new_ones_use_the_new_key() -> None:
    records = build_chain(2)
    keys = rotated(KEYS)
    assert keys.current == "k2"
    newer = chain_record(
        audit_fields(envelope(3)),
        seq=3,
        prev_hash=str(records[-1][1]["hash"]),
        recorded_at=RECORDED,
        keys=keys,
    )
    records.append((seq_document_id(3), newer))
    assert newer["key_id"] == "k2"
    assert verify_records(TENANT, records, head_of(records), keys).ok
    assert AuditKeySet.from_secret(keys.to_secret()) == keys


def test_a_witnessed_head_must_still_be_in_the_chain() -> None:
    records = build_chain(4)
    witness = (2, str(records[1][1]["hash"]))
    assert verify_records(TENANT, records, head_of(records), KEYS, witness=witness).ok
    # Someone holding the key re-signs the whole chain from record 2 on.
    records[1][1]["outcome"] = "failure"
    previous = str(records[0][1]["hash"])
    for _, record in records[1:]:
        record["prev_hash"] = previous
        record["hash"] = resealed(record)
        previous = record["hash"]
    rewritten = verify_records(TENANT, records, head_of(records), KEYS)
    assert rewritten.ok  # consistent on its own...
    report = verify_records(TENANT, records, head_of(records), KEYS, witness=witness)
    assert [(p.kind, p.seq) for p in report.problems] == [("witness_mismatch", 2)]


def test_dropping_the_newest_records_by_moving_the_head_back_is_detected() -> None:
    records = build_chain(5)
    kept = records[:3]
    # Without the key the moved head carries no seal, or the old seal of another head.
    unsealed = {"seq": 3, "hash": kept[-1][1]["hash"]}
    stolen_seal = {**head_of(records), "seq": 3, "hash": kept[-1][1]["hash"]}
    for head in (unsealed, stolen_seal):
        report = verify_records(TENANT, kept, head, KEYS)
        assert [p.kind for p in report.problems] == ["head_mismatch"]
    assert verify_records(TENANT, kept, head_of(kept), KEYS).ok
