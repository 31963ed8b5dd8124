"""Response models of the audit routes: a record of the chain and a verification report.

They document the API (the router builds the function's OpenAPI document from them);
handlers return ``AuditRecord`` and ``VerifyReport`` values, whose ``to_json()`` writes
exactly these fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ResourceOut(BaseModel):
    type: str | None
    id: str | None


class AuditRecordOut(BaseModel):
    seq: int
    hash: str | None
    prev_hash: str | None
    event_id: str | None
    action: str | None
    actor: dict[str, Any] | None
    actor_id: str | None
    resource: ResourceOut
    outcome: str | None
    details: dict[str, Any] | None
    occurred_at: str | None
    recorded_at: str | None
    correlation_id: str | None
    source: str | None
    subject: str | None


class ChainProblemOut(BaseModel):
    kind: str
    seq: int | None
    detail: str


class VerifyReportOut(BaseModel):
    tenant_id: str
    ok: bool
    records_checked: int
    last_seq: int
    last_hash: str | None
    head_seq: int | None
    head_hash: str | None
    first_problem: ChainProblemOut | None
    problems: list[ChainProblemOut]
    problem_count: int
