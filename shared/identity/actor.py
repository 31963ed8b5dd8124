"""Who acts in a use case: a person, an API key or a system job, as one type.

Adapters build an :class:`Actor` (``Actor.from_principal(ctx.principal)`` for a request);
use cases read ``role`` / ``tenant_id`` for their rules and record ``to_audit()`` on what
they change and in their audit events. ``to_audit()`` is the one JSON shape audit records
and events have always named their actor in, so ``shared.audit.chain.actor_id`` reads it:

* a user: ``{"user_id": "<id>", "role": "<role>"}`` (no ``role`` when none is known,
  e.g. the user who has just signed up), plus ``"ip"`` when the client address is given;
* an API key: ``{"user_id": "key:<key id>", "role": "<role>"}`` (the key is the actor
  id: the trail names the key, never a person);
* a system job: ``{"system": "<name>"}``, followed by its ``details`` if any.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ActorKind = Literal["user", "key", "system"]

# How an API key appears wherever a user id is expected (audit ``actor_id``, rate limits).
KEY_ACTOR_PREFIX = "key:"
SYSTEM_ACTOR_PREFIX = "system:"


@dataclass(frozen=True, slots=True)
class Actor:
    """One actor: ``kind`` says which, ``name`` is the user id, the key id or the job name.

    ``role`` is the role the actor acts with ("" for a system job, or a user whose role
    the caller does not know); ``tenant_id`` the tenant it acts in ("" for a job that
    spans tenants); ``details`` what a system job records beside its name, in order
    (the inbound posting consumer names the message's source and producer key).
    """

    kind: ActorKind
    name: str
    role: str = ""
    tenant_id: str = ""
    details: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        # A nameless actor would make an audit record no one can be held to: a bug, not a 4xx.
        if not isinstance(self.name, str) or not self.name:
            raise TypeError("an actor needs a non-empty name")

    @classmethod
    def user(cls, user_id: str, *, role: str = "", tenant_id: str = "") -> Actor:
        """A person, by user id."""
        return cls("user", user_id, role=role, tenant_id=tenant_id)

    @classmethod
    def key(cls, key_id: str, *, role: str, tenant_id: str = "") -> Actor:
        """An API key (``shared/producers``), by key id (without the ``key:`` prefix)."""
        return cls("key", key_id, role=role, tenant_id=tenant_id)

    @classmethod
    def system(cls, name: str, /, **details: Any) -> Actor:
        """A scheduled or event-driven job acting on its own (``ledger.reconcile``...)."""
        return cls("system", name, details=tuple(details.items()))

    @classmethod
    def from_principal(cls, principal: Any) -> Actor:
        """The actor of an authenticated request (``ctx.principal``): its user or its key.

        A key principal (``shared.auth.context.KeyPrincipal``) carries ``key_id``; every
        other principal is a person.
        """
        key_id = getattr(principal, "key_id", None)
        role = str(principal.role)
        tenant_id = str(getattr(principal, "tenant_id", "") or "")
        if isinstance(key_id, str) and key_id:
            return cls.key(key_id, role=role, tenant_id=tenant_id)
        return cls.user(str(principal.user_id), role=role, tenant_id=tenant_id)

    @property
    def user_id(self) -> str:
        """The actor as one string, as ``actor_id`` files it.

        The user id, ``key:<key id>`` or ``system:<name>``.
        """
        if self.kind == "key":
            return f"{KEY_ACTOR_PREFIX}{self.name}"
        if self.kind == "system":
            return f"{SYSTEM_ACTOR_PREFIX}{self.name}"
        return self.name

    def to_audit(self, client_ip: str | None = None) -> dict[str, Any]:
        """The JSON audit records, events and ``created_by`` fields name this actor with."""
        if self.kind == "system":
            return {"system": self.name, **dict(self.details)}
        actor: dict[str, Any] = {"user_id": self.user_id}
        if self.role:
            actor["role"] = self.role
        if client_ip:
            actor["ip"] = client_ip
        return actor
