"""Whose dead letter a message is: the tenant it proves, never merely the one it names.

Dead letters are listed per tenant (``GET /v1/dead-letters``), so filing one under a
tenant shows its content to that tenant's admins. Messages of internal topics are
published by Tributum's own functions (their service accounts), and the tenant they
name is the tenant they belong to. Messages of the producers' public topics can be
published by any system allowed on the topic: the tenant they name is a claim. Such a
message is filed under the tenant of the producer key it carries, checked as the
consumer checks it (the secret matches, the key is neither revoked nor expired and
carries the topic's scope), and otherwise under no tenant: visible to operators only
(the ``dead_letters`` function's log line and the ``dead_letters`` collection). The
claim is kept as ``claimed_tenant_id``, which no tenant-facing query filters on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.producers.rules import CREDENTIAL_ATTRIBUTE, ProducerRejected, check_key, key_id_of
from shared.producers.store import read_key

if TYPE_CHECKING:
    from google.cloud import firestore

# Topics systems outside Tributum publish to, with the scope a producer key needs on each
# (the ``producer_scope`` of their consumers; a unit test keeps both and the manifest's
# public topics in step).
PRODUCER_TOPIC_SCOPES: Mapping[str, str] = {"ledger-posting-requests": "ledger:post"}


def producer_scope_of(topic: str) -> str | None:
    """The scope a message of ``topic`` must prove, or None for an internal topic."""
    return PRODUCER_TOPIC_SCOPES.get(topic)


def proven_tenant(
    credentials: firestore.Client,
    attributes: Mapping[str, str],
    scope: str,
    *,
    now: datetime | None = None,
) -> str | None:
    """The tenant of the key the message's credential proves for ``scope``, or None.

    The consumer's checks, on the key's record in ``credentials`` (the credentials
    database), without its bookkeeping: recording a dead letter is no use of the key,
    so its ``last_used_at`` is left alone. A missing, malformed, unknown, forged,
    revoked, expired or out-of-scope credential proves nothing.
    """
    credential = attributes.get(CREDENTIAL_ATTRIBUTE)
    try:
        key_id = key_id_of(credential)
        assert credential is not None  # key_id_of refuses a missing one
        identity = check_key(
            read_key(credentials, key_id), credential, scope, now or datetime.now(UTC)
        )
    except ProducerRejected:
        return None
    return identity.tenant_id
