"""The audit chain against the Firestore emulator: serialized appends, idempotency, tampering."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.audit import append, get_head, list_records, verify_chain
from shared.audit.canonical import GENESIS_HASH
from shared.audit.store import index_ref, record_ref
from shared.errors import ValidationError
from shared.events.audit import audit_event
from shared.events.envelope import EventEnvelope

TENANT = "tenant-audit"


def event(
    action: str = "payment.created",
    *,
    tenant_id: str = TENANT,
    user: str = "u-1",
    resource_id: str = "pay_1",
    details: dict[str, Any] | None = None,
) -> EventEnvelope:
    return audit_event(
        action,
        tenant_id=tenant_id,
        actor={"user_id": user, "role": "admin"},
        resource_type="payment",
        resource_id=resource_id,
        details=details or {"amount": "10.00"},
    )


def append_concurrently(db: Any, envelopes: list[EventEnvelope]) -> list[Any]:
    results: list[Any] = [None] * len(envelopes)
    errors: list[BaseException] = []
    start = threading.Barrier(len(envelopes))

    def work(index: int) -> None:
        start.wait()
        try:
            results[index] = append(db, envelopes[index])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(envelopes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def chain(db: Any, tenant_id: str = TENANT) -> list[dict[str, Any]]:
    from google.cloud.firestore_v1.field_path import FieldPath

    query = db.collection("tenants").document(tenant_id).collection("audit")
    return [s.to_dict() for s in query.order_by(FieldPath.document_id()).stream()]


def test_twenty_concurrent_appends_form_one_gapless_verified_chain(
    firestore_client: Any,
) -> None:
    envelopes = [event(resource_id=f"pay_{i}") for i in range(20)]

    results = append_concurrently(firestore_client, envelopes)

    assert sorted(r.seq for r in results) == list(range(1, 21))
    assert all(r.appended for r in results)
    records = chain(firestore_client)
    assert [r["seq"] for r in records] == list(range(1, 21))
    assert records[0]["prev_hash"] == GENESIS_HASH
    for previous, record in itertools.pairwise(records):
        assert record["prev_hash"] == previous["hash"]
    assert {r["event_id"] for r in records} == {e.id for e in envelopes}
    head = get_head(firestore_client, TENANT)
    assert head is not None
    assert (head["seq"], head["hash"]) == (20, records[-1]["hash"])
    report = verify_chain(firestore_client, TENANT)
    assert report.ok, report.to_json()
    assert report.records_checked == 20


def test_appends_from_separate_instances_serialize_through_the_transaction(
    firestore_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the in-process queue (as from different instances), the head still serializes."""
    from shared.audit import store

    def unbatched(db: Any, tenant_id: str, event_id: str, fields: Any) -> Any:
        return store._commit_batch(db, tenant_id, [(event_id, fields)])[0]

    monkeypatch.setattr(store._batcher, "submit", unbatched)
    envelopes = [event(resource_id=f"pay_{i}") for i in range(4)]

    results = append_concurrently(firestore_client, envelopes)

    assert sorted(r.seq for r in results) == [1, 2, 3, 4]
    assert verify_chain(firestore_client, TENANT).ok


def test_a_redelivered_event_appends_nothing(firestore_client: Any) -> None:
    first = event()
    second = event(action="payment.capture_requested")
    original = append(firestore_client, first)
    append(firestore_client, second)
    head_before = get_head(firestore_client, TENANT)

    again = append(firestore_client, first)

    assert not again.appended
    assert (again.seq, again.hash) == (original.seq, original.hash)
    assert len(chain(firestore_client)) == 2
    assert get_head(firestore_client, TENANT) == head_before
    assert verify_chain(firestore_client, TENANT).ok


def test_concurrent_redeliveries_of_one_event_append_it_once(firestore_client: Any) -> None:
    envelope = event()

    results = append_concurrently(firestore_client, [envelope] * 6)

    assert sum(r.appended for r in results) == 1
    assert {r.seq for r in results} == {1}
    assert len(chain(firestore_client)) == 1


def test_chains_of_tenants_are_separate(firestore_client: Any) -> None:
    append(firestore_client, event(tenant_id="tenant-x"))
    append(firestore_client, event(tenant_id="tenant-y"))
    second_x = append(firestore_client, event(tenant_id="tenant-x"))

    assert second_x.seq == 2
    assert [r["seq"] for r in chain(firestore_client, "tenant-y")] == [1]
    assert verify_chain(firestore_client, "tenant-x").ok
    assert verify_chain(firestore_client, "tenant-y").ok


def seeded(db: Any, count: int = 6) -> list[Any]:
    return [append(db, event(resource_id=f"pay_{i}")) for i in range(count)]


def test_editing_a_records_content_is_reported_at_that_record(firestore_client: Any) -> None:
    seeded(firestore_client)
    record_ref(firestore_client, TENANT, 3).update({"details.amount": "10000.00"})

    report = verify_chain(firestore_client, TENANT)

    assert not report.ok
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("content_altered", 3)


def test_a_rewrite_by_someone_without_the_key_is_detected(firestore_client: Any) -> None:
    """Edit a record, recompute every hash after it and move the head, as anyone able to
    write Firestore could: without the audit key no record's MAC verifies."""
    from shared.audit.canonical import record_hash
    from shared.audit.store import head_ref

    seeded(firestore_client)
    previous = record_ref(firestore_client, TENANT, 2).get().to_dict()["hash"]
    for seq in range(3, 7):
        ref = record_ref(firestore_client, TENANT, seq)
        forged = ref.get().to_dict()
        if seq == 3:
            forged["actor_id"] = "someone-else"
        forged["prev_hash"] = previous
        forged["hash"] = record_hash(forged)
        ref.set(forged)
        previous = forged["hash"]
    head_ref(firestore_client, TENANT).update({"hash": previous})

    report = verify_chain(firestore_client, TENANT)

    assert [(p.kind, p.seq) for p in report.problems] == [
        *(("content_altered", seq) for seq in range(3, 7)),
        ("head_mismatch", 6),  # the moved head's seal no longer verifies either
    ]


def test_a_record_resealed_with_the_key_still_breaks_the_next_link(firestore_client: Any) -> None:
    from shared.audit.canonical import canonical_json
    from shared.audit.keys import audit_keys

    seeded(firestore_client)
    ref = record_ref(firestore_client, TENANT, 3)
    forged = ref.get().to_dict()
    forged["actor_id"] = "someone-else"
    forged["hash"] = audit_keys().sign(
        canonical_json({k: v for k, v in forged.items() if k != "hash"})
    )[1]
    ref.set(forged)

    report = verify_chain(firestore_client, TENANT)

    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("link_broken", 4)


def test_removing_a_record_is_reported_as_a_gap(firestore_client: Any) -> None:
    seeded(firestore_client)
    record_ref(firestore_client, TENANT, 4).delete()

    report = verify_chain(firestore_client, TENANT)

    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.seq) == ("sequence_gap", 5)
    assert "4" in report.first_problem.detail
    assert report.problem_count == 1


def test_removing_the_last_record_is_reported_by_the_head(firestore_client: Any) -> None:
    seeded(firestore_client)
    record_ref(firestore_client, TENANT, 6).delete()

    report = verify_chain(firestore_client, TENANT)

    assert report.first_problem is not None
    assert report.first_problem.kind == "head_mismatch"
    assert report.last_seq == 5
    assert report.head_seq == 6


def test_an_event_removed_from_the_chain_cannot_be_appended_again_silently(
    firestore_client: Any,
) -> None:
    """The index keeps the event appended: a replay does not paper over the deletion."""
    results = seeded(firestore_client, 3)
    record_ref(firestore_client, TENANT, 2).delete()

    again = append(
        firestore_client, event(resource_id="pay_x").model_copy(update={"id": results[1].event_id})
    )

    assert not again.appended
    assert index_ref(firestore_client, TENANT, results[1].event_id).get().exists
    assert verify_chain(firestore_client, TENANT).first_problem.kind == "sequence_gap"


def test_list_filters_by_actor_action_resource_and_time(firestore_client: Any) -> None:
    base = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)

    def at(minutes: int, **kwargs: Any) -> EventEnvelope:
        return event(**kwargs).model_copy(update={"time": base + timedelta(minutes=minutes)})

    append(firestore_client, at(0, action="payment.created", user="u-1", resource_id="pay_a"))
    append(firestore_client, at(1, action="payment.refunded", user="u-2", resource_id="pay_a"))
    append(firestore_client, at(2, action="payment.created", user="u-2", resource_id="pay_b"))
    append(firestore_client, at(3, action="payment.created", user="u-1", resource_id="pay_c"))

    def seqs(**filters: Any) -> list[int]:
        return [r.seq for r in list_records(firestore_client, TENANT, **filters).items]

    assert seqs() == [4, 3, 2, 1]
    assert seqs(actor="u-2") == [3, 2]
    assert seqs(action="payment.created", actor="u-1") == [4, 1]
    assert seqs(resource_type="payment", resource_id="pay_a") == [2, 1]
    assert seqs(
        occurred_from=base + timedelta(minutes=1), occurred_to=base + timedelta(minutes=3)
    ) == [3, 2]
    only = list_records(firestore_client, TENANT, resource_id="pay_b").items[0].to_json()
    assert only["actor"] == {"user_id": "u-2", "role": "admin"}
    assert only["resource"] == {"type": "payment", "id": "pay_b"}
    assert only["occurred_at"] == "2030-05-01T12:02:00.000000Z"


def test_list_pages_with_a_cursor_bound_to_its_filters(firestore_client: Any) -> None:
    seeded(firestore_client, 5)
    pages: list[list[int]] = []
    cursor = None
    while True:
        page = list_records(firestore_client, TENANT, limit=2, cursor=cursor)
        pages.append([r.seq for r in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break

    assert sorted(seq for page in pages for seq in page) == [1, 2, 3, 4, 5]
    assert [len(page) for page in pages] == [2, 2, 1]
    first = list_records(firestore_client, TENANT, limit=2)
    with pytest.raises(ValidationError) as caught:
        list_records(firestore_client, TENANT, action="x", cursor=first.next_cursor)
    assert caught.value.errors[0].code == "cursor_mismatch"


@pytest.mark.parametrize(
    ("filters", "code"),
    [
        ({"limit": 0}, "out_of_range"),
        ({"occurred_from": datetime(2030, 1, 1)}, "naive_time"),
        (
            {
                "occurred_from": datetime(2030, 1, 2, tzinfo=UTC),
                "occurred_to": datetime(2030, 1, 1, tzinfo=UTC),
            },
            "invalid_time_range",
        ),
    ],
)
def test_bad_list_queries_are_422_on_the_field(
    firestore_client: Any, filters: dict[str, Any], code: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        list_records(firestore_client, TENANT, **filters)
    assert caught.value.errors[0].code == code


def test_an_empty_chain_verifies(firestore_client: Any) -> None:
    report = verify_chain(firestore_client, "tenant-without-audit")
    assert report.ok
    assert report.records_checked == 0
