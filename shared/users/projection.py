"""The ``users_read`` projection: the write side's ``user.*`` events applied to the read model.

Used by the ``project_users`` consumer inside ``EventContext.run_once``, so the
read-model write and the consumer's processed record commit together (one effect
per event id). Events carry the whole public user; the one with the highest
``version`` wins, so redeliveries and late, older events change nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.users.model import projected_document
from shared.users.requests import UserSnapshot

if TYPE_CHECKING:
    from google.cloud import firestore

USERS_READ = "users_read"


def project_user(transaction: Any, db: firestore.Client, snapshot: UserSnapshot) -> bool:
    """Apply one event's snapshot in ``transaction``; whether the read model changed."""
    reference = db.collection(USERS_READ).document(snapshot.id)
    stored = reference.get(transaction=transaction)
    document = projected_document(
        stored.to_dict() if stored.exists else None, snapshot.model_dump(mode="python")
    )
    if document is None:
        return False
    document["role"] = snapshot.role.value
    document["status"] = snapshot.status.value
    transaction.set(reference, document)
    return True
