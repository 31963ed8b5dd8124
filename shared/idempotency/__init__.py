"""Idempotency keys: one execution per (scope, key), its response replayed."""

from shared.idempotency.store import (
    IDEMPOTENCY_COLLECTION,
    Claim,
    IdempotencyStore,
    StoredResponse,
    is_replayable,
    record_id,
    request_fingerprint,
    validate_key,
)

__all__ = [
    "IDEMPOTENCY_COLLECTION",
    "Claim",
    "IdempotencyStore",
    "StoredResponse",
    "is_replayable",
    "record_id",
    "request_fingerprint",
    "validate_key",
]
