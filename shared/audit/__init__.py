"""The tamper-evident audit trail: a per-tenant SHA-256 hash chain in Firestore.

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
from shared.audit.store import AppendResult, append, get_head, list_records, verify_chain

__all__ = [
    "GENESIS_HASH",
    "AppendResult",
    "AuditRecord",
    "CanonicalFormError",
    "ChainProblem",
    "InvalidAuditEventError",
    "VerifyReport",
    "append",
    "canonical_json",
    "get_head",
    "list_records",
    "normalize",
    "record_hash",
    "verify_chain",
    "verify_records",
]
