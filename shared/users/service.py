"""The users use cases over Firestore: signup, login lookups, profile, role
and status changes, password changes (write model ``users`` + outbox); the reads of
the ``users_read`` model (``shared.users.read_model``) are re-exported.

Collections:

| Collection | Document id | Holds |
|---|---|---|
| `tenants` | tenant id | name, the creating user, `created_at` |
| `users` | user id | the write model: the public fields, `password_hash`, `version` |
| `user_emails` | sha256 of the canonical email | `user_id`, `tenant_id`, `verified` (its holder) |
| `user_access` | user id | the access state every request checks (``shared.auth.access``) |
| `users_read` | user id | the read model (``project_users``): public fields only |

Every collection here but `users_read` is in the credentials database: the ``db`` these
use cases take is ``shared.clients.credentials_client()``, and the outbox records they
stage go to that database's outbox (a commit never spans databases). `users_read` is in
the main database (``firestore_client()``).

A change of role or status, and the end of every session (disable, password change),
is written to ``user_access`` in the same transaction as the user: a token's next
request sees it (within 2 seconds on other instances).

An address is held by one user at a time, named by its `user_emails` key, and claimed
for good only by proving the mailbox: a signup holds a free address unverified, and
signs up without it when an unverified user holds it (``shared.users.email_claims``
has the rules, ``shared.users.email_keys`` the commits).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.auth.access import (
    AccessState,
    access_fields,
    access_reference,
    ending_every_session,
    forget_locally,
)
from shared.errors import ConflictError, NotFoundError, ValidationError
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.envelope import EventEnvelope, new_event
from shared.events.outbox import add_to_outbox
from shared.events.transact import publish_after_commit, settle, transact
from shared.identity import (
    PasswordPolicy,
    Role,
    normalize_email,
    normalize_password,
)
from shared.identity.actor import Actor
from shared.logger import get_logger
from shared.resilience import RetryPolicy
from shared.users.email_keys import create_with_key, holder_user_id
from shared.users.mail_outbox import publish_with_mail
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
    apply_status_change,
    new_tenant_id,
    new_user,
)
from shared.users.read_model import list_users as list_users
from shared.users.read_model import read_user as read_user
from shared.users.requests import (
    PasswordChangeRequest,
    ProfileUpdateRequest,
    SignupRequest,
    UserSnapshot,
)
from shared.users.verification_mail import stage_verification

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.auth.passwords import PasswordHasher
    from shared.ratelimit import RateLimiter

TENANTS = "tenants"
USERS = "users"
PASSWORD_CHANGE_THROTTLED = "too many password change attempts; try again later"  # noqa: S105
# The detail of a 503 ``contention`` when a user's changes outlast the retries.
USER_BUSY = "the user was changed at the same time; retry"
# A rehash is best effort after a login that succeeded: one try, so it never delays it.
_REHASH_ONCE = RetryPolicy(max_attempts=1, base_delay_seconds=0.0, max_delay_seconds=0.0)

_log = get_logger("shared.users")


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


def record_audit(db: firestore.Client, envelope: EventEnvelope) -> None:
    """Commit an audit event to the outbox and publish it (events with no state change).

    One blind write, no transaction: nothing is read, so nothing can contend.
    """
    batch = db.batch()
    staged = add_to_outbox(batch, db, AUDIT_TOPIC, envelope)
    batch.commit()
    publish_after_commit(db, [staged], name="users.record_audit")


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
    verify_email: bool,
) -> None:
    """Create the user (and the tenant), holding the address if it is free, in one commit.

    With ``verify_email`` the same commit stores a verification token and stages its
    email, so a signup is never without the email that lets its owner prove the address.
    """

    def stage(batch: Any) -> None:
        if tenant is not None:
            batch.create(db.collection(TENANTS).document(user.tenant_id), tenant)
        batch.create(db.collection(USERS).document(user.id), user.to_document())
        batch.create(access_reference(db, user.id), _new_access_document(user))
        add_to_outbox(batch, db, USER_EVENTS_TOPIC, user_event(USER_CREATED, user))
        add_to_outbox(batch, db, AUDIT_TOPIC, audit)
        if verify_email:
            stage_verification(batch, db, user, user.created_at)

    create_with_key(db, user, stage, publisher=publish_with_mail)


def signup(
    db: firestore.Client,
    request: SignupRequest,
    *,
    policy: PasswordPolicy,
    hasher: PasswordHasher,
    client_ip: str | None = None,
) -> SignupResult:
    """A new tenant with the signing-up user as its owner, and a verification email.

    A free address is held at once, unverified: the owner logs in by it. An address an
    unverified user holds does not stop the signup: the new user is created without it and
    takes it by verifying (``shared.users.verification``). One a verified user holds is a
    409 ``email_unavailable`` that writes nothing. ``email_verified`` stays false until
    the emailed token comes back.
    """
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
        actor=Actor.user(user.id).to_audit(client_ip),
        resource_type="user",
        resource_id=user.id,
        details={"role": user.role.value, "email_verified": False},
        source=EVENT_SOURCE,
    )
    tenant = {"id": tenant_id, "name": tenant_name, "created_by": user.id, "created_at": now}
    _create_user(db, user, tenant=tenant, audit=audit, verify_email=True)
    return SignupResult(user, tenant_name)


# -- login lookups ----------------------------------------------------------------------------


def find_by_email(db: firestore.Client, email: str) -> User | None:
    """The holder of a canonical email's key (verified or not), or None (two reads)."""
    user_id = holder_user_id(db, email)
    return load_user(db, user_id) if user_id else None


def find_for_login(db: firestore.Client, email: str) -> tuple[User | None, AccessState | None]:
    """The holder of a canonical email's key and their access state, the state read first.

    Until someone proves the address, its first signup holds it and logs in by it.

    The order closes a race with a password change, which writes the hash and raises
    the epoch in one transaction: if the user read still shows the old hash, the state
    read before it shows the old epoch, so tokens issued for the old password are
    refused as soon as the change has committed.
    """
    user_id = holder_user_id(db, email)
    if user_id is None:
        return None, None
    snapshot = access_reference(db, user_id).get()
    state = (
        AccessState.from_document(user_id, snapshot.to_dict() or {}) if snapshot.exists else None
    )
    return load_user(db, user_id), state


def _new_access_document(user: User) -> dict[str, Any]:
    return {
        **access_fields(
            user_id=user.id,
            tenant_id=user.tenant_id,
            role=user.role.value,
            status=user.status.value,
        ),
        "epoch": 0,
        "kept_session": None,
        "ended_sessions": {},
    }


def access_state_of(db: firestore.Client, user: User) -> AccessState:
    """The user's access state, read afresh (login issues tokens at its epoch).

    A user stored before access states existed gets one made from the write model
    (epoch 0), so their first login after the upgrade works; until then their tokens
    are refused.
    """
    reference = access_reference(db, user.id)

    def read_or_create() -> AccessState:
        snapshot = reference.get()
        if snapshot.exists:
            return AccessState.from_document(user.id, snapshot.to_dict() or {})
        # ALREADY_EXISTS if written meanwhile (a role change, another login): read it then.
        reference.create(_new_access_document(user))
        return AccessState(
            user_id=user.id,
            tenant_id=user.tenant_id,
            role=user.role.value,
            status=user.status.value,
        )

    return settle(db, read_or_create, name="users.access_state", busy=USER_BUSY, rounds=2)


def load_user(db: firestore.Client, user_id: str) -> User | None:
    snapshot = db.collection(USERS).document(user_id).get()
    return User.from_document(snapshot.to_dict() or {}) if snapshot.exists else None


def store_rehash(db: firestore.Client, user: User, new_hash: str) -> None:
    """Replace a hash made with old parameters; only if it is still the one verified.

    The hash is no part of the read model, so this is no new version and no event.
    """
    reference = db.collection(USERS).document(user.id)

    def replace_hash(transaction: Any) -> None:
        snapshot = reference.get(transaction=transaction)
        if snapshot.exists and (snapshot.to_dict() or {}).get("password_hash") == (
            user.password_hash
        ):
            transaction.update(
                reference, {"password_hash": new_hash, "password_rehashed_at": datetime.now(UTC)}
            )

    try:
        transact(db, replace_hash, name="users.rehash", retry=_REHASH_ONCE)
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


@dataclass(frozen=True, slots=True)
class _Change:
    """What a use case decided: the changed user, its events, and whether every session
    of the user but ``kept_session`` ends (the user's access epoch is raised)."""

    user: User
    events: list[tuple[str, EventEnvelope]] = field(default_factory=list)
    end_sessions: bool = False
    kept_session: str | None = None


def _write_change(
    db: firestore.Client,
    user_id: str,
    decide: Callable[[Any, User], _Change | None],
    tenant_id: str,
    *,
    name: str,
) -> User:
    """Read a user in a transaction, let ``decide`` change it, write it with its events.

    A new role or status, or the end of the user's sessions, goes to the user's access
    state in the same transaction. After the commit, this instance forgets the user's
    cached access state, and ended sessions lose their refresh families too.
    """
    reference = db.collection(USERS).document(user_id)
    decided: list[_Change] = []

    def attempt(transaction: Any) -> User:
        decided.clear()
        current = _in_tenant(reference.get(transaction=transaction), tenant_id)
        decision = decide(transaction, current)
        if decision is None:
            return current
        changed = decision.user
        transaction.set(reference, changed.to_document())
        access_changed = changed.role is not current.role or changed.status is not current.status
        if access_changed or decision.end_sessions:
            fields = access_fields(
                user_id=changed.id,
                tenant_id=changed.tenant_id,
                role=changed.role.value,
                status=changed.status.value,
            )
            if decision.end_sessions:
                fields.update(ending_every_session(decision.kept_session))
            transaction.set(access_reference(db, changed.id), fields, merge=True)
        for topic, event in decision.events:
            add_to_outbox(transaction, db, topic, event)
        decided.append(decision)
        return changed

    def end_access(user: User) -> None:
        # Before the events are published: a slow publish must not keep this instance
        # trusting its cached access state, nor leave the refresh families usable.
        if decided:
            forget_locally(user.id)
            if decided[0].end_sessions:
                _revoke_refresh_families(db, user, keep=decided[0].kept_session)

    return transact(db, attempt, name=name, busy=USER_BUSY, before_publish=end_access)


def _revoke_refresh_families(db: firestore.Client, user: User, *, keep: str | None) -> None:
    """Revoke the ended sessions' refresh families too (their tokens are refused already:
    they carry an epoch the user has left)."""
    from shared.auth.families import FirestoreRefreshTokenFamilies

    try:
        FirestoreRefreshTokenFamilies(db).revoke_user(
            user.tenant_id, user.id, reason="sessions_ended", keep=keep
        )
    except Exception as exc:
        _log.warning("users.family_revocation_deferred", user_id=user.id, error=type(exc).__name__)


def update_profile(db: firestore.Client, actor: Actor, request: ProfileUpdateRequest) -> User:
    """The caller's own profile; a request that changes nothing writes nothing."""
    changes = request.model_dump(exclude_unset=True)

    def decide(_: Any, current: User) -> _Change | None:
        changed = apply_profile_update(current, changes, datetime.now(UTC))
        if changed is None:
            return None
        return _Change(changed, [(USER_EVENTS_TOPIC, user_event(USER_UPDATED, changed))])

    return _write_change(db, actor.user_id, decide, actor.tenant_id, name="users.update_profile")


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

    def decide(transaction: Any, current: User) -> _Change | None:
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
        return _Change(
            changed,
            [
                (USER_EVENTS_TOPIC, user_event(USER_ROLE_CHANGED, changed)),
                (AUDIT_TOPIC, audit),
            ],
        )

    return _write_change(db, user_id, decide, actor.tenant_id, name="users.change_role")


def change_status(db: firestore.Client, actor: Actor, user_id: str, new_status: UserStatus) -> User:
    """Disable or enable a user of the actor's tenant.

    Disabling ends every session of the user on their next request (the access epoch
    rises) and refuses their logins; the tenant's last active owner cannot be disabled.
    Enabling lets them log in again; tokens from before the disable stay refused.
    """

    def decide(transaction: Any, current: User) -> _Change | None:
        owners = None
        disabling = new_status is UserStatus.DISABLED and current.status is UserStatus.ACTIVE
        if disabling and current.role is Role.OWNER:
            owners = _active_owner_count(db, transaction, current.tenant_id)
        changed = apply_status_change(
            current,
            actor_role=actor.role,
            new_status=new_status,
            owner_count=owners,
            now=datetime.now(UTC),
        )
        if changed is None:
            return None
        audit = audit_event(
            "user.disabled" if disabling else "user.enabled",
            tenant_id=current.tenant_id,
            actor=actor.to_audit(),
            resource_type="user",
            resource_id=current.id,
            details={"role": current.role.value},
            source=EVENT_SOURCE,
        )
        return _Change(
            changed,
            [(USER_EVENTS_TOPIC, user_event(USER_UPDATED, changed)), (AUDIT_TOPIC, audit)],
            end_sessions=disabling,
        )

    return _write_change(db, user_id, decide, actor.tenant_id, name="users.change_status")


def change_password(
    db: firestore.Client,
    actor: Actor,
    request: PasswordChangeRequest,
    *,
    session_id: str | None,
    policy: PasswordPolicy,
    hasher: PasswordHasher,
    throttle: RateLimiter,
) -> None:
    """The caller's new password; every other session ends, ``session_id`` (theirs) stays.

    Attempts are counted before the current password is checked (``throttle``, per
    user), so a stolen access token cannot be used to guess the password. A wrong
    current password is a 422 on ``current_password``; the new one must pass the
    password policy (422s on ``new_password``) and differ from the current one.
    """
    throttle.hit(actor.user_id, detail=PASSWORD_CHANGE_THROTTLED)
    user = load_user(db, actor.user_id)
    if user is None or user.tenant_id != actor.tenant_id:
        raise NotFoundError("no such user", code="user_not_found")
    if not hasher.verify(user.password_hash, request.current_password).matched:
        raise ValidationError.for_field(
            "current_password", "is not the account's password", "password_incorrect"
        )
    policy.check(request.new_password, email=user.email, field="new_password")
    if normalize_password(request.new_password) == normalize_password(request.current_password):
        raise ValidationError.for_field(
            "new_password", "must differ from the current password", "password_unchanged"
        )
    new_hash = hasher.hash(request.new_password)

    def decide(_: Any, current: User) -> _Change:
        if current.password_hash != user.password_hash:
            raise ConflictError(
                "the password was changed at the same time; retry the request",
                code="password_contention",
            )
        audit = audit_event(
            "user.password_changed",
            tenant_id=current.tenant_id,
            actor=actor.to_audit(),
            resource_type="user",
            resource_id=current.id,
            details={"kept_session": session_id is not None},
            source=EVENT_SOURCE,
        )
        # The hash is no part of the public user: no new version, no user event.
        return _Change(
            replace(current, password_hash=new_hash),
            [(AUDIT_TOPIC, audit)],
            end_sessions=True,
            kept_session=session_id,
        )

    _write_change(db, actor.user_id, decide, actor.tenant_id, name="users.change_password")
