"""Who holds an email address: the rules of the ``user_emails`` key, no I/O.

``user_emails/{sha256 of the canonical address}`` names the one user who logs in by the
address. An address is claimed for good only by proving its mailbox: verifying the
signup's emailed token, or accepting an invitation (its token came by email). So the
key records ``verified``:

* a signup whose key is free takes it unverified (its owner logs in by it at once);
* a signup of an address an *unverified* user holds still succeeds, without the key:
  nobody can lock an address by signing up with it;
* a signup of an address a *verified* user holds is refused (409 ``email_unavailable``);
* a proof (verification, acceptance) takes the key verified: free, held by the proving
  user, or held by another unverified user, who is displaced (they keep their account
  but log in by that address no more); held by another verified user, it is refused.

A key written before verification existed has no ``verified`` field: it counts as
verified, so nothing claimed before is opened up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.errors import ConflictError, FieldError

# Said for every taken address: it tells nobody in which tenant the address lives.
EMAIL_UNAVAILABLE = "this email address cannot be used; sign in or use another address"


def email_unavailable(field: str = "email") -> ConflictError:
    """The 409 of an address a verified user holds, naming the request's ``field``."""
    return ConflictError(
        EMAIL_UNAVAILABLE,
        code="email_unavailable",
        errors=[FieldError(field, "cannot be used", "email_unavailable")],
    )


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """The user a ``user_emails`` key names, and whether they proved the address."""

    user_id: str
    tenant_id: str
    verified: bool

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> KeyHolder:
        return cls(
            user_id=str(document.get("user_id") or ""),
            tenant_id=str(document.get("tenant_id") or ""),
            # Absent: a key from before verification existed, treated as proven.
            verified=document.get("verified", True) is not False,
        )


def address_taken(holder: KeyHolder | None) -> bool:
    """Whether the address is out of reach for anyone else: a verified user holds it.

    An unverified holder takes nothing from others: the first proof displaces them.
    """
    return holder is not None and holder.verified


class SignupClaim(StrEnum):
    """What a signup does with the address's key."""

    TAKE = "take"  # the key is free: the signup creates it, unverified
    WITHOUT_KEY = "without_key"  # an unverified user holds it: the signup does not


def signup_claim(holder: KeyHolder | None) -> SignupClaim:
    """A signup's claim given the key's current holder; a verified holder is a 409."""
    if holder is None:
        return SignupClaim.TAKE
    if holder.verified:
        raise email_unavailable()
    return SignupClaim.WITHOUT_KEY


class ProofClaim(StrEnum):
    """What a proof of the mailbox does with the address's key."""

    CREATE = "create"  # the key is free: create it, verified
    CONFIRM = "confirm"  # the proving user holds it: mark it verified
    TAKE_OVER = "take_over"  # an unverified other user holds it: it becomes the prover's


def proof_claim(holder: KeyHolder | None, user_id: str, *, field: str = "email") -> ProofClaim:
    """The claim of ``user_id`` proving the address; another verified holder is a 409."""
    if holder is None:
        return ProofClaim.CREATE
    if holder.user_id == user_id:
        return ProofClaim.CONFIRM
    if holder.verified:
        raise email_unavailable(field)
    return ProofClaim.TAKE_OVER


def unverified_key(user_id: str, tenant_id: str, now: datetime) -> dict[str, Any]:
    """The key a signup creates: the user logs in by the address until someone proves it."""
    return {"user_id": user_id, "tenant_id": tenant_id, "created_at": now, "verified": False}


def verified_key(
    user_id: str, tenant_id: str, now: datetime, *, created_at: datetime | None = None
) -> dict[str, Any]:
    """The key of a proven address (``created_at`` kept when its holder confirms it)."""
    return {
        "user_id": user_id,
        "tenant_id": tenant_id,
        "created_at": created_at or now,
        "verified": True,
        "verified_at": now,
    }
