"""The ``users_read`` model's queries: one user, and the tenant's users page by page.

``project_users`` (``shared.users.projection``) maintains the collection from the
``user.*`` events; these reads answer ``GET /v1/users/{id}``, ``GET /v1/users/me`` and
``GET /v1/users``. ``shared.users.service`` re-exports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.errors import NotFoundError
from shared.pagination import DOCUMENT_ID, Page, TimeOrderedPosition, keyset_page
from shared.users.projection import USERS_READ
from shared.users.requests import (
    USERS_BY_EMAIL_CURSOR,
    USERS_NEWEST_FIRST_CURSOR,
    UserListQuery,
    UsersByEmailPosition,
)

if TYPE_CHECKING:
    from google.cloud import firestore


def read_user(db: firestore.Client, tenant_id: str, user_id: str) -> dict[str, Any]:
    """A user of ``tenant_id`` from the read model; missing or another tenant's is a 404."""
    snapshot = db.collection(USERS_READ).document(user_id).get()
    document = snapshot.to_dict() if snapshot.exists else None
    if document is None or document.get("tenant_id") != tenant_id:
        raise NotFoundError("no such user", code="user_not_found")
    return _with_defaults(document)


def _with_defaults(document: dict[str, Any]) -> dict[str, Any]:
    # Read-model documents projected before email_verified existed lack it: unverified.
    document.setdefault("email_verified", False)
    return document


def list_users(db: firestore.Client, tenant_id: str, query: UserListQuery) -> Page[dict[str, Any]]:
    """The tenant's users from the read model: newest first, or by email with a prefix.

    Each filter combination has its composite index in infra/firestore_indexes.yaml.
    A cursor names its ordering, so a cursor from the other ordering is a 400.
    """
    from google.cloud.firestore_v1.base_query import FieldFilter

    collection = db.collection(USERS_READ)
    q: Any = collection.where(filter=FieldFilter("tenant_id", "==", tenant_id))
    if query.role is not None:
        q = q.where(filter=FieldFilter("role", "==", query.role))
    if query.status is not None:
        q = q.where(filter=FieldFilter("status", "==", query.status))
    if query.email_prefix is not None:
        prefix = query.email_prefix.strip().lower()
        # Every string starting with the prefix sorts in [prefix, prefix + U+F8FF).
        q = q.where(filter=FieldFilter("email", ">=", prefix)).where(
            filter=FieldFilter("email", "<", prefix + "\uf8ff")
        )

    def read(snapshot: Any) -> dict[str, Any]:
        return _with_defaults(snapshot.to_dict() or {})

    if query.email_prefix is not None:
        return keyset_page(
            q,
            order=("email", DOCUMENT_ID),
            position=UsersByEmailPosition,
            scope=USERS_BY_EMAIL_CURSOR,
            cursor=query.cursor,
            limit=query.limit,
            to_item=read,
            start_after=lambda p: (p.email, collection.document(p.id)),
            position_of=lambda user: UsersByEmailPosition(email=user["email"], id=user["id"]),
        )
    return keyset_page(
        q,
        order=("created_at", DOCUMENT_ID),
        descending=True,
        position=TimeOrderedPosition,
        scope=USERS_NEWEST_FIRST_CURSOR,
        cursor=query.cursor,
        limit=query.limit,
        to_item=read,
        start_after=lambda p: (p.at, collection.document(p.id)),
        position_of=lambda user: TimeOrderedPosition(at=user["created_at"], id=user["id"]),
    )
