"""audit_verify on a tick: every chain verified, each head witnessed, a broken one alerted;
and a witnessed head checked through the audit API after a rewrite by a key holder."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.audit.canonical import canonical_json
from shared.audit.chain import head_seal
from shared.audit.keys import audit_keys
from shared.audit.store import head_ref, record_ref
from shared.events.envelope import new_event
from tests.integration.audit_functions.conftest import OTHER_TENANT, TENANT, Audit, recorded
from tests.integration.events.conftest import push_envelope
from tests.support.http import load_function

SCHEDULE = "audit-verify-schedule"


def _tick(project_id: str) -> Any:
    tick = new_event(
        "schedule.tick", source="cloud-scheduler", subject=SCHEDULE, tenant_id="*", data={}
    )
    return push_envelope(project_id, SCHEDULE, tick)


def _reseal(record: dict[str, Any]) -> str:
    content = canonical_json({k: v for k, v in record.items() if k != "hash"})
    return audit_keys().sign(content)[1]


def _log_lines(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def test_a_tick_witnesses_every_intact_head_and_alerts_on_a_broken_chain(
    audit: Audit, capsys: pytest.CaptureFixture[str]
) -> None:
    for index in range(3):
        audit.deliver(recorded(resource_id=f"pay_{index}"))
    audit.deliver(recorded(tenant_id=OTHER_TENANT))
    record_ref(audit.db, OTHER_TENANT, 1).update({"details.amount": "99999.00"})

    capsys.readouterr()
    load_function("audit_verify").handle(_tick(audit.project_id))

    lines = _log_lines(capsys.readouterr().out)
    witnesses = {
        line["tenant_id"]: (line["witness_seq"], line["witness_hash"])
        for line in lines
        if line["message"] == "audit.chain_witness"
    }
    head = head_ref(audit.db, TENANT).get().to_dict()
    assert witnesses == {TENANT: (3, head["hash"])}
    [failure] = [line for line in lines if line["message"] == "audit.chain_verification_failed"]
    assert failure["severity"] == "ERROR"
    assert failure["tenant_id"] == OTHER_TENANT
    [done] = [line for line in lines if line["message"] == "audit_verify.completed"]
    assert done["broken_tenants"] == [OTHER_TENANT]


def test_a_chain_re_signed_by_a_key_holder_disagrees_with_its_witness(audit: Audit) -> None:
    for index in range(4):
        audit.deliver(recorded(resource_id=f"pay_{index}"))
    witnessed = record_ref(audit.db, TENANT, 2).get().to_dict()["hash"]
    query = f"/v1/audit/verify?witness_seq=2&witness_hash={witnessed}"
    assert audit.api.get(query, token="auditor").data["ok"] is True
    # Rewrite record 2 and everything after it, re-signed with the real key, head moved.
    previous = record_ref(audit.db, TENANT, 1).get().to_dict()["hash"]
    for seq in range(2, 5):
        ref = record_ref(audit.db, TENANT, seq)
        record = ref.get().to_dict()
        if seq == 2:
            record["details"] = {"amount": "0.01", "currency": "EUR"}
        record["prev_hash"] = previous
        record["hash"] = _reseal(record)
        ref.set(record)
        previous = record["hash"]
    head_ref(audit.db, TENANT).update(
        {"hash": previous, **head_seal(TENANT, 4, previous, audit_keys())}
    )

    assert audit.api.get("/v1/audit/verify", token="auditor").data["ok"] is True
    report = audit.api.get(query, token="auditor").data

    assert report["ok"] is False
    assert report["first_problem"]["kind"] == "witness_mismatch"
    assert report["first_problem"]["seq"] == 2


def test_a_witness_needs_both_its_fields(audit: Audit) -> None:
    answer = audit.api.get("/v1/audit/verify?witness_seq=2", token="auditor")
    assert answer.status == 422
    assert [e["code"] for e in answer.json["errors"]] == ["witness_incomplete"]
    bad = audit.api.get("/v1/audit/verify?witness_seq=2&witness_hash=xyz", token="auditor")
    assert bad.status == 422
    assert "query.witness_hash" in {e["field"] for e in bad.json["errors"]}
