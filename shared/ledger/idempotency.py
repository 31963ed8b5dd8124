"""Entry ids derived from a client's idempotency key or a producer's request id.

A posting's id is fixed before its first attempt; when it is derived from the
key the client retries with, a retry after an ambiguous failure (the entry
committed, the answer was lost, the key's record was released) reaches the
same id, and :meth:`LedgerService.post_entry` returns the entry it already
committed instead of posting again. Ids are per tenant (they live under the
tenant's path), so the key alone decides them.
"""

from __future__ import annotations

import hashlib

from shared.ledger.requests import PostEntryRequest

_HTTP_PREFIX = "ent_key_"
_INBOUND_PREFIX = "ent_req_"


def _digest(value: str) -> str:
    # 128 bits of sha256: collisions are out of reach, ids stay short.
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def entry_id_for_key(idempotency_key: str) -> str:
    """The entry id of a ``POST /v1/journal-entries`` made with ``idempotency_key``."""
    return _HTTP_PREFIX + _digest(idempotency_key)


def entry_id_for_request(request_id: str) -> str:
    """The entry id of a posting requested on the inbound topic with ``request_id``."""
    return _INBOUND_PREFIX + _digest(request_id)


def with_entry_id(request: PostEntryRequest, entry_id: str) -> PostEntryRequest:
    """``request`` with ``entry_id``, unless the client chose its own."""
    if request.entry_id is not None:
        return request
    return request.model_copy(update={"entry_id": entry_id})


def with_entry_id_from_key(
    request: PostEntryRequest, idempotency_key: str | None
) -> PostEntryRequest:
    if idempotency_key is None:
        return request
    return with_entry_id(request, entry_id_for_key(idempotency_key))
