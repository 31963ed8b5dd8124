"""The ``user_emails`` key documents over Firestore: who holds an address, and claiming it.

The rules (who holds the key after a signup or a proof) are in
:mod:`shared.users.email_claims`; this module reads and writes the keys:

* :func:`create_with_key`: a signup's commit, in ``settle`` rounds. Its fast path is one
  blind batch (no reads) that creates the key with the user, so concurrent signups never
  wait on each other's locks. If the key exists, the next round reads it: a verified
  holder is a 409 and nothing is written; an unverified holder lets the signup commit
  without the key.
* :func:`read_for_proof` and :func:`write_proof`: inside the transaction of a
  verification or an invitation's acceptance, read the key, then take it verified.
  The read locks the key, so a concurrent signup's blind create either commits first
  (and the proof sees its key) or fails and finds the proven key: one holder either way.
  An acceptance first tries :func:`free_key_proof` (a blind create, no lock) and reads
  the key only if it exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.errors import ContentionError
from shared.events.audit import audit_event
from shared.events.envelope import EventEnvelope
from shared.events.transact import Publisher, settle
from shared.identity.actor import Actor
from shared.resilience import is_firestore_contention
from shared.users.email_claims import (
    KeyHolder,
    ProofClaim,
    SignupClaim,
    address_taken,
    proof_claim,
    signup_claim,
    unverified_key,
    verified_key,
)
from shared.users.model import EVENT_SOURCE, User, email_key

if TYPE_CHECKING:
    from google.cloud import firestore

USER_EMAILS = "user_emails"
EMAIL_DISPLACED = "user.email_displaced"


def key_reference(db: firestore.Client, email: str) -> Any:
    return db.collection(USER_EMAILS).document(email_key(email))


def _holder(snapshot: Any) -> KeyHolder | None:
    return KeyHolder.from_document(snapshot.to_dict() or {}) if snapshot.exists else None


def key_holder(db: firestore.Client, email: str) -> KeyHolder | None:
    """Who holds a canonical address's key, verified or not; None while it is free."""
    return _holder(key_reference(db, email).get())


def holder_user_id(db: firestore.Client, email: str) -> str | None:
    """The id of the user who logs in by a canonical address (its key's holder), or None."""
    holder = key_holder(db, email)
    return holder.user_id if holder is not None and holder.user_id else None


def is_address_taken(db: firestore.Client, email: str) -> bool:
    """Whether a verified user holds the address (an unverified holder takes it from nobody)."""
    return address_taken(key_holder(db, email))


# Contention answers (503 ``contention``) of the commits that claim an address.
ADDRESS_BUSY = "the address is being claimed at the same time; retry"


def _commit(batch: Any) -> None:
    try:
        batch.commit()
    except Exception as exc:
        # A concurrent transaction on the key (a verification, an invitation being
        # accepted) can outlast a blind batch's lock wait; ``settle`` only re-decides a
        # lost precondition, so this is mapped here: a retryable 503, not a 500.
        if is_firestore_contention(exc):
            raise ContentionError(ADDRESS_BUSY) from None
        raise


def create_with_key(
    db: firestore.Client,
    user: User,
    stage_rest: Callable[[Any], None],
    *,
    publisher: Publisher,
) -> None:
    """Commit a new user, its address's key included when :func:`signup_claim` allows.

    ``stage_rest`` writes and stages everything but the key in the batch it is given (it
    may be called more than once: only the batch that commits counts); ``publisher``
    publishes the committed events. A verified holder is a 409 ``email_unavailable``
    and nothing is written.
    """
    reference = key_reference(db, user.email)
    first_round = True

    def commit_round() -> None:
        nonlocal first_round
        # The first round creates the key blind. If it exists, that commit fails with
        # ALREADY_EXISTS (ids and token digests are random: the key is the one document
        # that can exist) and the next round reads it: an unverified holder lets the
        # user commit without the key (their writes do not touch it, so nothing can
        # collide); a key found missing is created again.
        take = first_round or signup_claim(_holder(reference.get())) is SignupClaim.TAKE
        first_round = False
        batch = db.batch()
        if take:
            batch.create(reference, unverified_key(user.id, user.tenant_id, user.created_at))
        stage_rest(batch)
        _commit(batch)

    settle(db, commit_round, name="users.signup", busy=ADDRESS_BUSY, rounds=3, publisher=publisher)


@dataclass(frozen=True, slots=True)
class PendingProof:
    """What a proof read in its transaction: the key, its holder, and the claim to write."""

    reference: Any
    holder: KeyHolder | None
    claim: ProofClaim


def read_for_proof(
    transaction: Any, db: firestore.Client, email: str, user_id: str, *, field: str = "email"
) -> PendingProof:
    """Read the key in ``transaction`` (before any write of it) and decide the claim of
    ``user_id`` proving the address; another verified holder is a 409 on ``field``."""
    reference = key_reference(db, email)
    holder = _holder(reference.get(transaction=transaction))
    return PendingProof(reference, holder, proof_claim(holder, user_id, field=field))


def free_key_proof(db: firestore.Client, email: str) -> PendingProof:
    """A proof's claim that creates the key without reading it: the commit fails with
    ALREADY_EXISTS if it exists, and the caller then reads it (:func:`read_for_proof`)."""
    return PendingProof(key_reference(db, email), None, ProofClaim.CREATE)


def write_proof(transaction: Any, pending: PendingProof, user: User, now: datetime) -> None:
    """Write the key of a proven address for ``user`` as ``pending`` decided."""
    if pending.claim is ProofClaim.CREATE:
        transaction.create(pending.reference, verified_key(user.id, user.tenant_id, now))
    elif pending.claim is ProofClaim.CONFIRM:
        transaction.update(pending.reference, {"verified": True, "verified_at": now})
    else:
        transaction.set(pending.reference, verified_key(user.id, user.tenant_id, now))


def displaced_audit(pending: PendingProof, *, by: str) -> EventEnvelope | None:
    """The audit event for the tenant of the unverified user a proof displaced, if any.

    It names no one who proved the address: only that the holder lost it, and how.
    """
    displaced = pending.holder
    if pending.claim is not ProofClaim.TAKE_OVER or displaced is None:
        return None
    return audit_event(
        EMAIL_DISPLACED,
        tenant_id=displaced.tenant_id,
        actor=Actor.system("email_claims").to_audit(),
        resource_type="user",
        resource_id=displaced.user_id,
        details={"reason": "address_proven_by_another_user", "by": by},
        source=EVENT_SOURCE,
    )
