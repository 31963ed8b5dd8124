"""The ``users_read`` model's queries: one user, and the tenant's users page by page.

``project_users`` (``shared.users.projection``) maintains the collection from the
``user.*`` events; these reads answer ``GET /v1/users/{id}``, ``GET /v1/users/me`` and
``GET /v1/users``. ``shared.users.service`` re-exports them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.errors import NotFoundError
from shared.http import Page, TimeOrderedPosition, decode_cursor, encode_cursor
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


def _cursor_position(cursor: str, by_email: bool) -> tuple[str | datetime, str]:
    """The ordering key and the id of the last user of the previous page."""
    if by_email:
        email = decode_cursor(cursor, UsersByEmailPosition, scope=USERS_BY_EMAIL_CURSOR)
        return email.email, email.id
    newest = decode_cursor(cursor, TimeOrderedPosition, scope=USERS_NEWEST_FIRST_CURSOR)
    return newest.at, newest.id


def list_users(db: firestore.Client, tenant_id: str, query: UserListQuery) -> Page:
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
    by_email = query.email_prefix is not None
    if query.email_prefix is not None:
        prefix = query.email_prefix.strip().lower()
        # Every string starting with the prefix sorts in [prefix, prefix + U+F8FF).
        q = q.where(filter=FieldFilter("email", ">=", prefix)).where(
            filter=FieldFilter("email", "<", prefix + "\uf8ff")
        )
        q = q.order_by("email").order_by("__name__")
    else:
        q = q.order_by("created_at", direction="DESCENDING").order_by(
            "__name__", direction="DESCENDING"
        )
    if query.cursor:
        after, after_id = _cursor_position(query.cursor, by_email)
        key = "email" if by_email else "created_at"
        q = q.start_after({key: after, "__name__": collection.document(after_id)})
    documents = [_with_defaults(s.to_dict() or {}) for s in q.limit(query.limit + 1).stream()]
    items = documents[: query.limit]
    next_cursor = None
    if len(documents) > query.limit:
        last = items[-1]
        next_cursor = (
            encode_cursor(
                UsersByEmailPosition(email=last["email"], id=last["id"]),
                scope=USERS_BY_EMAIL_CURSOR,
            )
            if by_email
            else encode_cursor(
                TimeOrderedPosition(at=last["created_at"], id=last["id"]),
                scope=USERS_NEWEST_FIRST_CURSOR,
            )
        )
    return Page(items=items, next_cursor=next_cursor)
