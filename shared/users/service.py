"""The users use cases over Firestore: signup, adding users, login lookups, profile and role
changes (write model ``users`` + outbox), and the reads of the ``users_read`` model.

Collections:

| Collection | Document id | Holds |
|---|---|---|
| `tenants` | tenant id | name, the creating user, `created_at` |
| `users` | user id | the write model: the public fields, `password_hash`, `version` |
| `user_emails` | sha256 of the canonical email | `user_id`, `tenant_id` (one per address) |
| `users_read` | user id | the read model (``project_users``): public fields only |

Uniqueness of an email is the atomic creation of its `user_emails` key document in
the same commit as the user: of two signups with one address, exactly one commit
succeeds and the other fails with ALREADY_EXISTS, whatever the interleaving. The
commit is a blind batch (no reads), so concurrent signups never wait on each
other's locks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import ConflictError, NotFoundError, ValidationError
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.envelope import EventEnvelope, new_event
from shared.events.outbox import StagedEvent, add_to_outbox, publish_committed
from shared.http import Page, decode_cursor, encode_cursor
from shared.identity import PasswordPolicy, Role, check_role_assignment, normalize_email
from shared.logger import get_logger
from shared.resilience import is_firestore_contention
from shared.users.model import (
    EVENT_SOURCE,
    USER_CREATED,
    USER_EVENTS_TOPIC,
    USER_ROLE_CHANGED,
    USER_UPDATED,
    User,
    UserStatus,
    apply_profile_update,
    apply_role_change,
    email_key,
    new_tenant_id,
    new_user,
)
from shared.users.projection import USERS_READ
from shared.users.requests import (
    NewUserRequest,
    ProfileUpdateRequest,
    SignupRequest,
    UserListQuery,
    UserSnapshot,
)

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.auth.passwords import PasswordHasher

TENANTS = "tenants"
USERS = "users"
USER_EMAILS = "user_emails"
# Said for every taken address: it tells nobody in which tenant the address lives.
EMAIL_UNAVAILABLE = "this email address cannot be used; sign in or use another address"

_log = get_logger("shared.users")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: the authenticated principal (tenant from the token only)."""

    user_id: str
    tenant_id: str
    role: str

    def to_audit(self, client_ip: str | None = None) -> dict[str, Any]:
        # The shape every audit record and event names its actor in (shared.audit.chain.actor_id).
        actor: dict[str, Any] = {"user_id": self.user_id, "role": self.role}
        if client_ip:
            actor["ip"] = client_ip
        return actor


@dataclass(frozen=True, slots=True)
class SignupResult:
    user: User
    tenant_name: str

    def to_json(self) -> dict[str, Any]:
        return {**self.user.public(), "tenant_name": self.tenant_name}


# -- events -----------------------------------------------------------------------------------


def user_event(event_type: str, user: User) -> EventEnvelope:
    """A ``user.*`` event carrying the user's whole public snapshot (never the hash)."""
    snapshot = UserSnapshot.model_validate(user.public())
    return new_event(
        event_type,
        source=EVENT_SOURCE,
        subject=f"users/{user.id}",
        tenant_id=user.tenant_id,
        data=snapshot.model_dump(mode="json"),
    )


def _publish_after_commit(db: firestore.Client, staged: Sequence[StagedEvent]) -> None:
    try:
        publish_committed(db, staged)
    except Exception:
        # Committed is committed: the records stay pending and the outbox relay publishes them.
        _log.warning("users.publish_deferred", events=len(staged))


def record_audit(db: firestore.Client, envelope: EventEnvelope) -> None:
    """Commit an audit event to the outbox and publish it (events with no state change)."""
    batch = db.batch()
    staged = add_to_outbox(batch, db, AUDIT_TOPIC, envelope)
    batch.commit()
    _publish_after_commit(db, [staged])


# -- creating users ---------------------------------------------------------------------------


def _checked_credentials(
    raw_email: str, password: str, policy: PasswordPolicy, hasher: PasswordHasher
) -> tuple[str, str]:
    """The canonical email and the password's hash; 422 naming the field otherwise."""
    email = normalize_email(raw_email)
    policy.check(password, email=email)
    return email, hasher.hash(password)


def _create_user(
    db: firestore.Client,
    user: User,
    *,
    tenant: dict[str, Any] | None,
    audit: EventEnvelope,
) -> None:
    from google.api_core.exceptions import AlreadyExists

    batch = db.batch()
    batch.create(
        db.collection(USER_EMAILS).document(email_key(user.email)),
        {"user_id": user.id, "tenant_id": user.tenant_id, "created_at": user.created_at},
    )
    if tenant is not None:
        batch.create(db.collection(TENANTS).document(user.tenant_id), tenant)
    batch.create(db.collection(USERS).document(user.id), user.to_document())
    staged = [
        add_to_outbox(batch, db, USER_EVENTS_TOPIC, user_event(USER_CREATED, user)),
        add_to_outbox(batch, db, AUDIT_TOPIC, audit),
    ]
    try:
        batch.commit()
    except AlreadyExists:
        # Ids are random: the one document that can already exist is the email's key.
        raise ConflictError(EMAIL_UNAVAILABLE, code="email_unavailable") from None
    _publish_after_commit(db, staged)


def signup(
    db: firestore.Client,
    request: SignupRequest,
    *,
    policy: PasswordPolicy,
    hasher: PasswordHasher,
    client_ip: str | None = None,
) -> SignupResult:
    """A new tenant with the signing-up user as its owner."""
    email, password_hash = _checked_credentials(request.email, request.password, policy, hasher)
    now = datetime.now(UTC)
    tenant_id = new_tenant_id()
    user = new_user(
        tenant_id=tenant_id,
        email=email,
        name=request.name,
        role=Role.OWNER,
        password_hash=password_hash,
        now=now,
    )
    tenant_name = request.organization or request.name
    audit = audit_event(
        "user.signed_up",
        tenant_id=tenant_id,
        actor={"user_id": user.id, **({"ip": client_ip} if client_ip else {})},
        resource_type="user",
        resource_id=user.id,
        details={"role": user.role.value},
        source=EVENT_SOURCE,
    )
    tenant = {"id": tenant_id, "name": tenant_name, "created_by": user.id, "created_at": now}
    _create_user(db, user, tenant=tenant, audit=audit)
    return SignupResult(user, tenant_name)


def add_user(
    db: firestore.Client,
    actor: Actor,
    request: NewUserRequest,
    *,
    policy: PasswordPolicy,
    hasher: PasswordHasher,
) -> User:
    """An owner or admin adds a user to their own tenant, with a role they may grant."""
    check_role_assignment(actor.role, request.role)
    email, password_hash = _checked_credentials(request.email, request.password, policy, hasher)
    user = new_user(
        tenant_id=actor.tenant_id,
        email=email,
        name=request.name,
        role=request.role,
        password_hash=password_hash,
        now=datetime.now(UTC),
    )
    audit = audit_event(
        "user.created",
        tenant_id=actor.tenant_id,
        actor=actor.to_audit(),
        resource_type="user",
        resource_id=user.id,
        details={"role": user.role.value},
        source=EVENT_SOURCE,
    )
    _create_user(db, user, tenant=None, audit=audit)
    return user


# -- login lookups ----------------------------------------------------------------------------


def find_by_email(db: firestore.Client, email: str) -> User | None:
    """The user of a canonical email, or None (two reads: the key, then the user)."""
    key = db.collection(USER_EMAILS).document(email_key(email)).get()
    if not key.exists:
        return None
    user_id = (key.to_dict() or {}).get("user_id")
    return load_user(db, str(user_id)) if user_id else None


def load_user(db: firestore.Client, user_id: str) -> User | None:
    snapshot = db.collection(USERS).document(user_id).get()
    return User.from_document(snapshot.to_dict() or {}) if snapshot.exists else None


def store_rehash(db: firestore.Client, user: User, new_hash: str) -> None:
    """Replace a hash made with old parameters; only if it is still the one verified.

    The hash is no part of the read model, so this is no new version and no event.
    """
    from google.cloud import firestore as fs

    reference = db.collection(USERS).document(user.id)

    @fs.transactional
    def replace_hash(transaction: Any) -> None:
        snapshot = reference.get(transaction=transaction)
        if snapshot.exists and (snapshot.to_dict() or {}).get("password_hash") == (
            user.password_hash
        ):
            transaction.update(
                reference, {"password_hash": new_hash, "password_rehashed_at": datetime.now(UTC)}
            )

    try:
        replace_hash(db.transaction())
    except Exception as exc:
        # The login already succeeded; the next one retries the rehash.
        _log.warning("users.rehash_skipped", user_id=user.id, error=type(exc).__name__)


# -- changing users ---------------------------------------------------------------------------


def _in_tenant(snapshot: Any, tenant_id: str) -> User:
    """The user of ``snapshot`` if it exists in ``tenant_id``; another tenant's is a 404."""
    if snapshot.exists:
        user = User.from_document(snapshot.to_dict() or {})
        if user.tenant_id == tenant_id:
            return user
    raise NotFoundError("no such user", code="user_not_found")


def _write_change(
    db: firestore.Client,
    user_id: str,
    decide: Callable[[Any, User], tuple[User, list[tuple[str, EventEnvelope]]] | None],
    tenant_id: str,
) -> User:
    """Read a user in a transaction, let ``decide`` change it, write it with its events."""
    from google.cloud import firestore as fs

    reference = db.collection(USERS).document(user_id)
    staged: list[StagedEvent] = []

    @fs.transactional
    def attempt(transaction: Any) -> User:
        staged.clear()
        current = _in_tenant(reference.get(transaction=transaction), tenant_id)
        decision = decide(transaction, current)
        if decision is None:
            return current
        changed, events = decision
        transaction.set(reference, changed.to_document())
        staged.extend(add_to_outbox(transaction, db, topic, event) for topic, event in events)
        return changed

    try:
        user: User = attempt(db.transaction())
    except Exception as exc:
        if is_firestore_contention(exc):
            raise ConflictError(
                "the user was changed at the same time; retry the request",
                code="user_contention",
            ) from None
        raise
    _publish_after_commit(db, staged)
    return user


def update_profile(db: firestore.Client, actor: Actor, request: ProfileUpdateRequest) -> User:
    """The caller's own profile; a request that changes nothing writes nothing."""
    changes = request.model_dump(exclude_unset=True)

    def decide(_: Any, current: User) -> tuple[User, list[tuple[str, EventEnvelope]]] | None:
        changed = apply_profile_update(current, changes, datetime.now(UTC))
        if changed is None:
            return None
        return changed, [(USER_EVENTS_TOPIC, user_event(USER_UPDATED, changed))]

    return _write_change(db, actor.user_id, decide, actor.tenant_id)


def _active_owner_count(db: firestore.Client, transaction: Any, tenant_id: str) -> int:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db.collection(USERS)
        .where(filter=FieldFilter("tenant_id", "==", tenant_id))
        .where(filter=FieldFilter("role", "==", Role.OWNER.value))
        .where(filter=FieldFilter("status", "==", UserStatus.ACTIVE.value))
    )
    return sum(1 for _ in transaction.get(query))


def change_role(db: firestore.Client, actor: Actor, user_id: str, new_role: Role) -> User:
    """Grant ``new_role`` to a user of the actor's tenant, by the rules of shared.identity."""

    def decide(
        transaction: Any, current: User
    ) -> tuple[User, list[tuple[str, EventEnvelope]]] | None:
        owners = None
        if current.role is Role.OWNER and new_role is not Role.OWNER:
            owners = _active_owner_count(db, transaction, current.tenant_id)
        changed = apply_role_change(
            current,
            actor_role=actor.role,
            new_role=new_role,
            owner_count=owners,
            now=datetime.now(UTC),
        )
        if changed is None:
            return None
        audit = audit_event(
            "user.role_changed",
            tenant_id=current.tenant_id,
            actor=actor.to_audit(),
            resource_type="user",
            resource_id=current.id,
            details={"from": current.role.value, "to": new_role.value},
            source=EVENT_SOURCE,
        )
        return changed, [
            (USER_EVENTS_TOPIC, user_event(USER_ROLE_CHANGED, changed)),
            (AUDIT_TOPIC, audit),
        ]

    return _write_change(db, user_id, decide, actor.tenant_id)


# -- the read model ---------------------------------------------------------------------------


def read_user(db: firestore.Client, tenant_id: str, user_id: str) -> dict[str, Any]:
    """A user of ``tenant_id`` from the read model; missing or another tenant's is a 404."""
    snapshot = db.collection(USERS_READ).document(user_id).get()
    document = snapshot.to_dict() if snapshot.exists else None
    if document is None or document.get("tenant_id") != tenant_id:
        raise NotFoundError("no such user", code="user_not_found")
    return document


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _cursor_position(cursor: str, by_email: bool) -> dict[str, Any]:
    key = "email" if by_email else "created_at"
    position = decode_cursor(cursor, required_keys=(key, "id"))
    if not isinstance(position["id"], str) or not isinstance(position[key], str):
        raise ValidationError.for_field("query.cursor", "is not a valid cursor", "bad_format")
    if not by_email:
        try:
            position[key] = datetime.fromisoformat(position[key])
        except ValueError:
            raise ValidationError.for_field(
                "query.cursor", "is not a valid cursor", "bad_format"
            ) from None
    return position


def list_users(db: firestore.Client, tenant_id: str, query: UserListQuery) -> Page:
    """The tenant's users from the read model: newest first, or by email with a prefix.

    Each filter combination has its composite index in infra/firestore_indexes.yaml.
    A cursor remembers its ordering key, so a cursor from the other ordering is a 422.
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
        position = _cursor_position(query.cursor, by_email)
        key = "email" if by_email else "created_at"
        q = q.start_after({key: position[key], "__name__": collection.document(position["id"])})
    documents = [s.to_dict() or {} for s in q.limit(query.limit + 1).stream()]
    items = documents[: query.limit]
    next_cursor = None
    if len(documents) > query.limit:
        last = items[-1]
        next_cursor = encode_cursor(
            {"email": last["email"], "id": last["id"]}
            if by_email
            else {"created_at": _iso(last["created_at"]), "id": last["id"]}
        )
    return Page(items=items, next_cursor=next_cursor)
