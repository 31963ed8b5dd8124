"""Producer keys: credentials that bind a publishing system to one tenant and its scopes.

The public face: create, list, read and revoke keys (the ``producer_keys`` function),
and :func:`authenticate`, which the event consumer calls on every inbound message
before its body is read. See ``README.md``.
"""

from shared.producers.model import CreatedProducerKey, ProducerKey
from shared.producers.requests import CreateProducerKeyRequest
from shared.producers.rules import (
    CREDENTIAL_ATTRIBUTE,
    SCOPES,
    ProducerIdentity,
    ProducerRejected,
    check_tenant,
)
from shared.producers.service import (
    authenticate,
    create_key,
    get_key,
    list_keys,
    revoke_key,
    tenant_of_credential,
)

__all__ = [
    "CREDENTIAL_ATTRIBUTE",
    "SCOPES",
    "CreateProducerKeyRequest",
    "CreatedProducerKey",
    "ProducerIdentity",
    "ProducerKey",
    "ProducerRejected",
    "authenticate",
    "check_tenant",
    "create_key",
    "get_key",
    "list_keys",
    "revoke_key",
    "tenant_of_credential",
]
