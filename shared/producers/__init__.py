"""Producer keys: Tributum's API keys, bound to one tenant, for topics and for HTTP.

A key carries ``scopes`` (which inbound topics it may publish to) and/or a ``role``
(what it may do on the HTTP API). The public face: create, list, read, revoke and
rotate keys (the ``producer_keys`` function); :func:`authenticate`, which the event
consumer calls on every inbound message before its body is read; and
``shared.producers.http``, which the router's authenticator uses for
``Authorization: Bearer trb_pk_...``. See ``README.md``.
"""

from shared.producers.model import CreatedProducerKey, ProducerKey
from shared.producers.requests import CreateProducerKeyRequest, RotateProducerKeyRequest
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
    rotate_key,
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
    "RotateProducerKeyRequest",
    "authenticate",
    "check_tenant",
    "create_key",
    "get_key",
    "list_keys",
    "revoke_key",
    "rotate_key",
    "tenant_of_credential",
]
