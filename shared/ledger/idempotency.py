"""Entry ids derived from a client's idempotency key or a producer's request id.

A posting's id is fixed before its first attempt; when it is derived from the
key the client retries with, a retry after an ambiguous failure (the entry
committed, the answer was lost, the key's record was released) reaches the
same id, and :meth:`LedgerService.post_entry` returns the entry it already
committed instead of posting again. Ids are per tenant (they live under the
tenant's path), so the key alone decides them.

A change of an existing entry has one possible id for what it adds
(:func:`reversal_entry_id`, :func:`hold_posting_entry_id`), and the change stores
who asked for it (:func:`requester_id`).
"""

from __future__ import annotations

import hashlib
import uuid

from shared.ledger.model import ENTRY_ID_PREFIX
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


def _parts_digest(*parts: str) -> str:
    # 128 bits of sha256 over NUL-separated parts: collisions are out of reach.
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:32]


def reversal_entry_id(entry_id: str) -> str:
    """The id of the reversal of ``entry_id``: one per entry, so a second one cannot commit.

    The dot keeps it out of reach of ids clients choose (letters, digits, ``_``, ``-``).
    """
    return f"{ENTRY_ID_PREFIX}_rev.{_parts_digest('reversal', entry_id)}"


def hold_posting_entry_id(hold_id: str) -> str:
    """The id of the entry that posts hold ``hold_id``: one per hold, like a reversal's."""
    return f"{ENTRY_ID_PREFIX}_post.{_parts_digest('hold_posting', hold_id)}"


def requester_id(idempotency_key: str | None) -> str:
    """Who asks for a change: the same for every retry with one ``Idempotency-Key``.

    Stored with the change, it tells a retry of the request that won (its answer lost
    to a crash or a 5xx after the commit) from another request that lost: the first is
    answered with what it did, the second with the 409 of the state. Without a key
    each call is its own requester (its retries inside one call still find its commit).
    """
    if idempotency_key is None:
        return uuid.uuid4().hex
    return _parts_digest("idempotency_key", idempotency_key)
