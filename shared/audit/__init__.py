"""The tamper-evident audit trail: a per-tenant chain of HMAC-sealed records in Firestore.

See ``README.md`` in this package for the canonical form, the layout and what
verification reports.
"""

from shared.audit.canonical import (
    GENESIS_HASH,
    CanonicalFormError,
    canonical_json,
    normalize,
    record_hash,
)
from shared.audit.chain import (
    AuditRecord,
    ChainProblem,
    InvalidAuditEventError,
    VerifyReport,
    verify_records,
)
from shared.audit.keys import AuditKeyError, AuditKeySet, audit_keys
from shared.audit.store import (
    AppendResult,
    append,
    audited_tenants,
    get_head,
    list_records,
    verify_and_witness,
    verify_chain,
)

__all__ = [
    "GENESIS_HASH",
    "AppendResult",
    "AuditKeyError",
    "AuditKeySet",
    "AuditRecord",
    "CanonicalFormError",
    "ChainProblem",
    "InvalidAuditEventError",
    "VerifyReport",
    "append",
    "audit_keys",
    "audited_tenants",
    "canonical_json",
    "get_head",
    "list_records",
    "normalize",
    "record_hash",
    "verify_and_witness",
    "verify_chain",
    "verify_records",
]
