"""Password reset over Firestore: ask for a reset email, then set a new password with its token.

Asking (:func:`request_password_reset`) answers the same whatever the address: the
throttle counts it, a token is generated and the address is looked up in every case.
Only an active user's request writes anything: the token's digest
(``password_resets/{sha256}``, see :mod:`shared.users.reset_tokens`), the email event
``user.password_reset_requested`` on :data:`MAIL_TOPIC` and an audit event, in one
commit through the outbox.

Confirming (:func:`confirm_password_reset`) checks the token, the password policy (the
rules of a password change) and then, in one transaction, that the token is still
unused, unexpired and of the user's current access epoch; it marks it used, stores the
new hash and raises the epoch, so every session of the user ends (as a disable does).
Any problem with the token is one 400 ``reset_token_invalid`` and writes nothing.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.auth.access import AccessState, access_reference
from shared.errors import BadRequestError, NotFoundError
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.envelope import new_event
from shared.events.outbox import add_to_outbox
from shared.events.transact import transact
from shared.identity import PasswordPolicy, normalize_email
from shared.ratelimit import FirestoreFixedWindowLimiter, RateLimit
from shared.users.mail_outbox import publish_with_mail, stage_mail
from shared.users.model import EVENT_SOURCE, PASSWORD_RESET_REQUESTED, User
from shared.users.requests import PasswordResetConfirmRequest, PasswordResetMail
from shared.users.reset_tokens import (
    RESET_TOKEN_INVALID,
    RESET_TOKEN_INVALID_DETAIL,
    IssuedToken,
    StoredResetToken,
    issue_token,
    token_digest,
)
from shared.users.service import _Change, _write_change, find_for_login, load_user

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.auth.passwords import PasswordHasher
    from shared.ratelimit import RateLimiter

PASSWORD_RESETS = "password_resets"  # noqa: S105 (a collection name)
RESET_ACCEPTED_DETAIL = (
    "if the address belongs to an active account, an email with a reset token is on its way"
)
RESET_THROTTLED_DETAIL = "too many password reset requests; try again later"
# Per address: a user who lost a few emails, not a mailbomb.
RESET_ACCOUNT_RATE = RateLimit(limit=5, window_seconds=3600)
# Per client: an office behind one NAT, not a sweep of addresses.
RESET_ADDRESS_RATE = RateLimit(limit=20, window_seconds=3600)
_UNKNOWN_CLIENT = "unknown"
# Every accepted request answers after at least this long: a known address's commit and
# publish (tens of milliseconds) must not tell it from an unknown one by the clock.
RESPONSE_FLOOR_SECONDS = 0.3


class ResetThrottle:
    """Count every reset request, per client address first, then per canonical email.

    Counted before the address is looked up, so known and unknown addresses spend the
    same budget and a 429 says nothing about the address. A refused client does not
    count against the email, so one source cannot keep many addresses throttled beyond
    its own budget. Both refusals say the same thing.
    """

    def __init__(self, per_account: RateLimiter, per_address: RateLimiter) -> None:
        self._per_account = per_account
        self._per_address = per_address

    @classmethod
    def firestore(
        cls,
        client: firestore.Client,
        *,
        account_rate: RateLimit = RESET_ACCOUNT_RATE,
        address_rate: RateLimit = RESET_ADDRESS_RATE,
    ) -> ResetThrottle:
        return cls(
            FirestoreFixedWindowLimiter(client, "password-reset-account", account_rate),
            FirestoreFixedWindowLimiter(client, "password-reset-address", address_rate),
        )

    def attempt(self, *, account: str, address: str | None) -> None:
        self._per_address.hit(address or _UNKNOWN_CLIENT, detail=RESET_THROTTLED_DETAIL)
        self._per_account.hit(account, detail=RESET_THROTTLED_DETAIL)


def _invalid_token() -> BadRequestError:
    return BadRequestError(RESET_TOKEN_INVALID_DETAIL, code=RESET_TOKEN_INVALID)


def _with_ip(actor: dict[str, Any], client_ip: str | None) -> dict[str, Any]:
    return {**actor, "ip": client_ip} if client_ip else actor


def _resettable(user: User | None, state: AccessState | None) -> User | None:
    """The user a reset may be sent to: active, and not disabled in the access state."""
    if user is None or not user.can_log_in:
        return None
    if state is not None and (not state.active or state.tenant_id != user.tenant_id):
        return None
    return user


# -- asking for a reset -------------------------------------------------------------------------


def request_password_reset(
    db: firestore.Client,
    *,
    raw_email: str,
    client_ip: str | None,
    throttle: ResetThrottle,
    floor_seconds: float = RESPONSE_FLOOR_SECONDS,
) -> None:
    """Send a reset token to the address if it is an active user's; returns nothing either way.

    A malformed address is a 422 on ``email`` (that says nothing about accounts); a
    throttled one a 429. The work done for an unknown address is the same up to the
    commit (count, generate a token, look the address up), and either way the call
    returns no sooner than ``floor_seconds`` after it started.
    """
    started = time.monotonic()
    email = normalize_email(raw_email)
    throttle.attempt(account=email, address=client_ip)
    issued = issue_token()
    found, state = find_for_login(db, email)
    user = _resettable(found, state)
    if user is not None:
        _send_reset(db, user, state, issued, client_ip)
    time.sleep(max(0.0, floor_seconds - (time.monotonic() - started)))


def _send_reset(
    db: firestore.Client,
    user: User,
    state: AccessState | None,
    issued: IssuedToken,
    client_ip: str | None,
) -> None:
    """Store the token's digest and stage its email and audit event, in one commit."""
    now = datetime.now(UTC)
    stored = StoredResetToken.new(
        user_id=user.id,
        tenant_id=user.tenant_id,
        epoch=state.epoch if state is not None else 0,
        now=now,
    )
    mail = new_event(
        PASSWORD_RESET_REQUESTED,
        source=EVENT_SOURCE,
        subject=f"users/{user.id}",
        tenant_id=user.tenant_id,
        data=PasswordResetMail(
            recipient=user.email,
            user_id=user.id,
            token=issued.secret,
            expires_at=stored.expires_at,
        ).model_dump(mode="json"),
    )
    audit = audit_event(
        "user.password_reset_requested",
        tenant_id=user.tenant_id,
        actor=_with_ip({"type": "anonymous"}, client_ip),
        resource_type="user",
        resource_id=user.id,
        details={"expires_at": stored.expires_at.isoformat()},
        source=EVENT_SOURCE,
    )

    def issue(transaction: Any) -> None:
        # Writes only: nothing read, nothing locked.
        transaction.create(
            db.collection(PASSWORD_RESETS).document(issued.digest), stored.to_document()
        )
        stage_mail(transaction, db, mail)
        add_to_outbox(transaction, db, AUDIT_TOPIC, audit)

    # The mail's outbox record holds the token: publish_with_mail deletes it once published.
    transact(db, issue, name="users.request_password_reset", publisher=publish_with_mail)


# -- using the token ----------------------------------------------------------------------------


def _stored_token(snapshot: Any) -> StoredResetToken | None:
    return StoredResetToken.from_document(snapshot.to_dict() or {}) if snapshot.exists else None


def _current_epoch(snapshot: Any) -> int:
    return int((snapshot.to_dict() or {}).get("epoch", 0)) if snapshot.exists else 0


def confirm_password_reset(
    db: firestore.Client,
    request: PasswordResetConfirmRequest,
    *,
    policy: PasswordPolicy,
    hasher: PasswordHasher,
    client_ip: str | None = None,
) -> None:
    """Set the password of the token's user; every session of the user ends.

    An unknown, expired, used or superseded token, or one whose user is gone or
    disabled, is a 400 ``reset_token_invalid`` (one answer for all) and writes nothing.
    A new password the policy refuses is a 422 on ``new_password`` and leaves the token
    usable.
    """
    reference = db.collection(PASSWORD_RESETS).document(token_digest(request.token))
    now = datetime.now(UTC)
    stored = _stored_token(reference.get())
    if stored is None:
        raise _invalid_token()
    user = load_user(db, stored.user_id)
    state_snapshot = access_reference(db, stored.user_id).get()
    if (
        user is None
        or user.tenant_id != stored.tenant_id
        or not user.can_log_in
        or not stored.usable(now=now, current_epoch=_current_epoch(state_snapshot))
    ):
        raise _invalid_token()
    policy.check(request.new_password, email=user.email, field="new_password")
    new_hash = hasher.hash(request.new_password)

    def decide(transaction: Any, current: User) -> _Change:
        # Read again in the transaction: of two confirmations, exactly one commits.
        token = _stored_token(reference.get(transaction=transaction))
        epoch = _current_epoch(access_reference(db, current.id).get(transaction=transaction))
        if (
            token is None
            or not current.can_log_in
            or not token.usable(now=datetime.now(UTC), current_epoch=epoch)
        ):
            raise _invalid_token()
        transaction.update(reference, {"used_at": datetime.now(UTC)})
        audit = audit_event(
            "user.password_reset",
            tenant_id=current.tenant_id,
            actor=_with_ip({"user_id": current.id, "method": "reset_token"}, client_ip),
            resource_type="user",
            resource_id=current.id,
            details={"sessions_ended": True},
            source=EVENT_SOURCE,
        )
        # The hash is no part of the public user: no new version, no user event.
        return _Change(
            replace(current, password_hash=new_hash), [(AUDIT_TOPIC, audit)], end_sessions=True
        )

    try:
        _write_change(
            db, stored.user_id, decide, stored.tenant_id, name="users.confirm_password_reset"
        )
    except NotFoundError:
        # The user was deleted meanwhile: the token is as dead as any other.
        raise _invalid_token() from None
