"""Producer keys without I/O: the credential's format, its hash, and the checks on a message.

A producer key is a credential a tenant owner or admin creates for a system that
publishes to Tributum's inbound topics. The secret is shown once and looks like::

    trb_pk_<key id>_<43 characters of base64url, 256 random bits>

The recognisable ``trb_pk_`` prefix lets secret scanners find a leaked key. The key id
inside the credential finds the stored record in one read; the record keeps only the
SHA-256 of the whole credential. A fast hash is right here (unlike passwords): the
secret is 256 random bits, so there is nothing to guess, and checking it costs
microseconds on every message.

What a message is refused for, before anything in its body is read (each is a
dead letter with the reason, and changes nothing):

=====================  =======================================================
``credential_missing``  no ``producer_key`` attribute on the message
``credential_malformed`` not a ``trb_pk_...`` credential
``credential_unknown``  no key with that id, or the secret does not match
``credential_revoked``  the key was revoked
``credential_expired``  the key's expiry has passed
``scope_missing``       the key does not carry the scope the topic needs
``tenant_mismatch``     the envelope names a tenant other than the key's
=====================  =======================================================

The same keys authenticate on the HTTP API (``Authorization: Bearer trb_pk_...``)
when they carry a ``role``. The rules for that door are here too: what a key may
hold (:func:`check_key_access`), which permissions it then has
(:func:`key_permissions`), and the role ceiling (:func:`check_role_ceiling`): nobody,
person or key, creates, rotates or revokes a key whose role ranks above their own.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.errors import FieldError, ForbiddenError, ValidationError
from shared.identity.roles import ROLE_NAMES, Permission, Role, permissions_for
from shared.producers.model import ProducerKey

CREDENTIAL_ATTRIBUTE = "producer_key"
CREDENTIAL_PREFIX = "trb_pk_"
KEY_ID_PREFIX = "pk"
SCOPES = frozenset({"ledger:post"})
MAX_KEYS_PER_TENANT = 50
# The longest a rotated key keeps working next to its replacement.
MAX_ROTATION_OVERLAP = timedelta(days=7)
# Self-service routes (the caller's own profile, password, logout) are for people: a key
# has no self, so it never holds this permission whatever its role.
_PEOPLE_ONLY = frozenset({Permission.USERS_READ_SELF.value})
# Secrets are 32 random bytes in unpadded base64url.
_CREDENTIAL = re.compile(r"^trb_pk_(pk[0-9a-f]{24})_([A-Za-z0-9_-]{43})$")


class ProducerRejected(Exception):
    """A message whose credential does not allow it; ``code`` is one of the table above."""

    def __init__(self, code: str, reason: str, *, tenant_id: str | None = None) -> None:
        self.code = code
        self.reason = reason
        # The tenant the presented key belongs to, when one was identified: the dead
        # letter is filed there, never under a tenant the message merely claims.
        self.tenant_id = tenant_id
        super().__init__(f"{code}: {reason}")


@dataclass(frozen=True, slots=True)
class ProducerIdentity:
    """Who published an accepted message: the key, its tenant and scopes."""

    key_id: str
    tenant_id: str
    name: str
    scopes: frozenset[str]

    @property
    def actor(self) -> dict[str, str]:
        """How audit records and entries name a producer."""
        return {"producer_key_id": self.key_id, "producer": self.name}


def new_key_id() -> str:
    return f"{KEY_ID_PREFIX}{secrets.token_hex(12)}"


def new_credential(key_id: str) -> str:
    return f"{CREDENTIAL_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def credential_hash(credential: str) -> str:
    return hashlib.sha256(credential.encode("ascii")).hexdigest()


def key_id_of(credential: str | None) -> str:
    """The key id inside a credential, or :class:`ProducerRejected` (missing or malformed)."""
    if not credential:
        raise ProducerRejected(
            "credential_missing", f"the message has no {CREDENTIAL_ATTRIBUTE} attribute"
        )
    match = _CREDENTIAL.match(credential)
    if match is None:
        raise ProducerRejected(
            "credential_malformed", f"{CREDENTIAL_ATTRIBUTE} is not a Tributum producer key"
        )
    return match.group(1)


def is_credential(token: str) -> bool:
    """Whether a bearer token is a key (rather than a JWT, which starts ``eyJ``)."""
    return token.startswith(CREDENTIAL_PREFIX)


def check_credential(key: ProducerKey | None, credential: str, now: datetime) -> ProducerKey:
    """The key ``credential`` proves, usable at ``now``, or ProducerRejected."""
    if key is None or not hmac.compare_digest(key.secret_hash, credential_hash(credential)):
        raise ProducerRejected("credential_unknown", "no producer key matches the credential")
    if key.revoked_at is not None:
        raise ProducerRejected(
            "credential_revoked", f"producer key {key.id} was revoked", tenant_id=key.tenant_id
        )
    if key.expires_at is not None and key.expires_at <= now:
        raise ProducerRejected(
            "credential_expired", f"producer key {key.id} has expired", tenant_id=key.tenant_id
        )
    return key


def check_key(
    key: ProducerKey | None, credential: str, scope: str, now: datetime
) -> ProducerIdentity:
    """The identity ``credential`` proves for ``scope`` at ``now``, or ProducerRejected."""
    key = check_credential(key, credential, now)
    if scope not in key.scopes:
        raise ProducerRejected(
            "scope_missing",
            f"producer key {key.id} does not carry the {scope} scope",
            tenant_id=key.tenant_id,
        )
    return ProducerIdentity(key.id, key.tenant_id, key.name, frozenset(key.scopes))


def check_tenant(identity: ProducerIdentity, claimed_tenant: str) -> None:
    """The envelope's tenant must be the key's: a key never acts for another tenant."""
    if claimed_tenant != identity.tenant_id:
        raise ProducerRejected(
            "tenant_mismatch",
            f"producer key {identity.key_id} belongs to another tenant than the message names",
            tenant_id=identity.tenant_id,
        )


def key_permissions(role: str | None, permissions: Sequence[str] | None) -> frozenset[str]:
    """What a key may do over HTTP: its role's permissions, narrowed to ``permissions``
    when given, never the people-only ones. No role: nothing."""
    if role is None:
        return frozenset()
    held = permissions_for(role) - _PEOPLE_ONLY
    return held if permissions is None else held & frozenset(permissions)


def check_key_access(
    role: str | None, permissions: Sequence[str] | None, scopes: Sequence[str]
) -> None:
    """A key must open some door, and restricted permissions must lie within its role."""
    if role is None and not scopes:
        message = "a key needs a role (for the HTTP API), scopes (for topics), or both"
        raise ValidationError(
            message,
            errors=[
                FieldError("role", message, "key_without_access"),
                FieldError("scopes", message, "key_without_access"),
            ],
        )
    if permissions is None:
        return
    if role is None:
        raise ValidationError.for_field(
            "permissions", "restricting permissions needs a role", "permissions_without_role"
        )
    allowed = permissions_for(role) - _PEOPLE_ONLY
    outside = [
        FieldError(f"permissions.{index}", f"the {role} role does not hold {name}", "not_in_role")
        for index, name in enumerate(permissions)
        if name not in allowed
    ]
    if outside:
        raise ValidationError(
            "a restricted key can hold only permissions of its role", errors=outside
        )


def check_role_ceiling(actor_role: str, key_role: str | None, *, action: str) -> None:
    """Refuse managing a key whose role ranks above the actor's (person or key)."""
    if key_role is None:
        return
    actor_rank = Role(actor_role).rank if actor_role in ROLE_NAMES else 0
    if Role(key_role).rank > actor_rank:
        raise ForbiddenError(
            f"a key with the {key_role} role ranks above the caller's role "
            f"({actor_role or 'none'}): the caller cannot {action} it",
            code="role_escalation",
            extra={"role": key_role},
        )


def rotation_expiry(now: datetime, overlap: timedelta, current_expiry: datetime | None) -> datetime:
    """When a rotated key stops working: after the overlap, never later than it would have."""
    ends = now + overlap
    return ends if current_expiry is None else min(ends, current_expiry)
