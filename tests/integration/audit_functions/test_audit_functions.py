"""audit_writer appends each audit event once; the audit API lists and verifies the chain."""

from __future__ import annotations

import itertools
import threading

from shared.deadletters.store import DEAD_LETTER_COLLECTION
from shared.events.envelope import new_event
from tests.integration.audit_functions.conftest import OTHER_TENANT, TENANT, Audit, recorded


def test_each_event_is_appended_once_and_linked_to_the_previous_record(audit: Audit) -> None:
    events = [recorded(resource_id=f"pay_{n}") for n in range(3)]
    for envelope in events:
        audit.deliver(envelope)
    audit.deliver(events[1])  # a redelivery

    records = audit.records()
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert [r["event_id"] for r in records] == [e.id for e in events]
    assert records[1]["prev_hash"] == records[0]["hash"]
    assert records[2]["prev_hash"] == records[1]["hash"]
    verify = audit.api.get("/v1/audit/verify", token="auditor")
    assert verify.status == 200, verify.json
    assert verify.data["ok"] is True
    assert verify.data["records_checked"] == 3
    assert verify.data["first_problem"] is None


def test_an_event_that_is_not_an_audit_record_is_dead_lettered(audit: Audit) -> None:
    broken = new_event(
        "audit.recorded",
        source="tributum/test",
        subject="payment/pay_1",
        tenant_id=TENANT,
        data={"action": "payment.created"},  # no actor, resource or outcome
    )

    audit.deliver(broken)

    assert audit.records() == []
    [dead_letter] = [
        s.to_dict() or {} for s in audit.db.collection(DEAD_LETTER_COLLECTION).stream()
    ]
    assert "actor" in dead_letter["reason"]
    assert dead_letter["consumer"] == "audit_writer"


def test_an_edited_record_is_reported_by_verify(audit: Audit) -> None:
    for n in range(4):
        audit.deliver(recorded(resource_id=f"pay_{n}"))
    audit.db.document(f"tenants/{TENANT}/audit/000000000002").update({"details.amount": "1000.00"})

    report = audit.api.get("/v1/audit/verify", token="auditor").data

    assert report["ok"] is False
    assert report["first_problem"]["kind"] == "content_altered"
    assert report["first_problem"]["seq"] == 2


def test_a_deleted_record_is_reported_by_verify(audit: Audit) -> None:
    for n in range(4):
        audit.deliver(recorded(resource_id=f"pay_{n}"))
    audit.db.document(f"tenants/{TENANT}/audit/000000000003").delete()

    report = audit.api.get("/v1/audit/verify", token="auditor").data

    assert report["ok"] is False
    assert report["first_problem"]["kind"] in {"sequence_gap", "link_broken"}
    assert report["first_problem"]["seq"] == 4


def test_the_list_is_newest_first_filtered_and_paged(audit: Audit) -> None:
    audit.deliver(recorded("payment.created", resource_id="pay_a"))
    audit.deliver(recorded("payment.refund_requested", user="u-admin", resource_id="pay_a"))
    audit.deliver(recorded("payment.created", resource_id="pay_b"))
    audit.deliver(recorded("payment.created", tenant_id=OTHER_TENANT, resource_id="pay_x"))

    first = audit.api.get("/v1/audit", token="auditor", query={"limit": 2})
    assert first.status == 200, first.json
    second = audit.api.get(
        "/v1/audit",
        token="auditor",
        query={"limit": 2, "cursor": first.json["meta"]["next_cursor"]},
    )
    assert [r["seq"] for r in first.data + second.data] == [3, 2, 1]
    assert second.json["meta"]["next_cursor"] is None

    by_action = audit.api.get("/v1/audit", token="auditor", query={"action": "payment.created"})
    assert [r["resource"]["id"] for r in by_action.data] == ["pay_b", "pay_a"]
    by_actor = audit.api.get("/v1/audit", token="auditor", query={"actor": "u-admin"})
    assert [r["action"] for r in by_actor.data] == ["payment.refund_requested"]
    by_resource = audit.api.get("/v1/audit", token="auditor", query={"resource_id": "pay_a"})
    assert len(by_resource.data) == 2
    theirs = audit.api.get("/v1/audit", token="other-auditor")
    assert [r["resource"]["id"] for r in theirs.data] == ["pay_x"]


def test_bad_queries_and_missing_permissions_are_refused(audit: Audit) -> None:
    audit.deliver(recorded())

    naive = audit.api.get("/v1/audit", token="auditor", query={"occurred_from": "2030-01-01T00:00"})
    assert naive.status == 422
    assert naive.json["errors"][0]["field"] == "query.occurred_from"
    unknown = audit.api.get("/v1/audit", token="auditor", query={"colour": "red"})
    assert unknown.status == 422
    assert unknown.json["errors"][0]["field"] == "query.colour"
    assert audit.api.get("/v1/audit", token="viewer").status == 403
    assert audit.api.get("/v1/audit/verify", token="viewer").status == 403
    assert audit.api.get("/v1/audit").status == 401


def test_concurrent_deliveries_extend_one_chain_without_a_fork(audit: Audit) -> None:
    events = [recorded(resource_id=f"pay_{n}") for n in range(8)]
    start = threading.Barrier(len(events))
    failures: list[BaseException] = []

    def deliver(index: int) -> None:
        start.wait()
        try:
            audit.deliver(events[index])
        except BaseException as exc:  # reported below; a failed delivery would be retried
            failures.append(exc)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(len(events))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert failures == []
    records = audit.records()
    assert [r["seq"] for r in records] == list(range(1, 9))
    assert sorted(r["event_id"] for r in records) == sorted(e.id for e in events)
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(records))
    assert audit.api.get("/v1/audit/verify", token="auditor").data["ok"] is True
