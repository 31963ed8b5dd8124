"""audit: read and verify the tenant's tamper-evident audit trail (admins and owners)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from shared.audit import VerifyReport, list_records, verify_chain
from shared.audit.responses import AuditRecordOut, VerifyReportOut
from shared.clients import firestore_client
from shared.http import Page, PageQuery, RequestContext, Router
from shared.identity.roles import Permission
from shared.moments import LaxMoment

router = Router("audit")
READ = Permission.AUDIT_READ.value


class AuditQuery(PageQuery):
    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: str | None = Field(
        default=None, max_length=200, description="a user id, or system:<name>"
    )
    action: str | None = Field(default=None, max_length=200, examples=["payment.created"])
    resource_type: str | None = Field(default=None, max_length=100, examples=["payment"])
    resource_id: str | None = Field(default=None, max_length=500)
    occurred_from: LaxMoment | None = Field(default=None, description="inclusive")
    occurred_to: LaxMoment | None = Field(default=None, description="exclusive")


@router.get("/v1/audit", permission=READ, query=AuditQuery, response=[AuditRecordOut])
def list_audit_records(ctx: RequestContext) -> Page:
    """The tenant's audit records, most recent first; filters by actor, action, resource, time."""
    q: AuditQuery = ctx.query
    return list_records(
        firestore_client(),
        ctx.tenant_id,
        actor=q.actor,
        action=q.action,
        resource_type=q.resource_type,
        resource_id=q.resource_id,
        occurred_from=q.occurred_from,
        occurred_to=q.occurred_to,
        limit=q.limit,
        cursor=q.cursor,
    )


class VerifyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    witness_seq: int | None = Field(
        default=None, ge=1, description="with witness_hash: a head from an audit.chain_witness log"
    )
    witness_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _both_or_neither(self) -> VerifyQuery:
        if (self.witness_seq is None) != (self.witness_hash is None):
            raise PydanticCustomError(
                "witness_incomplete", "witness_seq and witness_hash go together"
            )
        return self


@router.get("/v1/audit/verify", permission=READ, query=VerifyQuery, response=VerifyReportOut)
def verify_audit_chain(ctx: RequestContext) -> VerifyReport:
    """Re-check the tenant's chain (every record's MAC, links, head); reports the first
    record altered, removed or misplaced, and, given a witnessed head, whether the chain
    still holds it."""
    q: VerifyQuery = ctx.query
    witness = (q.witness_seq, q.witness_hash) if q.witness_seq and q.witness_hash else None
    return verify_chain(firestore_client(), ctx.tenant_id, witness=witness)


handle = router.handler
