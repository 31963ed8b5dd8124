"""The rules of invitations and address verification: who may invite with which role, one open
invitation per tenant and address, single-use tokens that a resend, a revoke or the expiry voids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import BadRequestError, ConflictError, ForbiddenError
from shared.identity import Role
from shared.users.invitation_rules import (
    INVITATION_LIFETIME,
    INVITATION_TOKEN_INVALID,
    MAX_INVITATION_SENDS,
    VERIFICATION_LIFETIME,
    Invitation,
    InvitationStatus,
    StoredVerificationToken,
    accepted,
    check_inviter_still_grants,
    check_verification_needed,
    invitation_id,
    new_invitation,
    reissued,
    revoked,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _invite(
    *, actor_role: str = "owner", role: Role = Role.VIEWER, existing: Invitation | None = None
) -> Invitation:
    return new_invitation(
        actor_role=actor_role,
        actor_id="u-owner",
        tenant_id="t1",
        email="grace@example.com",
        name="Grace",
        role=role,
        user_id="u-new",
        token_digest="d1",
        existing=existing,
        now=NOW,
    )


def test_an_invitation_is_pending_for_seven_days_with_one_id_per_tenant_and_address() -> None:
    invitation = _invite()

    assert invitation.status is InvitationStatus.PENDING
    assert invitation.expires_at - invitation.created_at == INVITATION_LIFETIME == timedelta(days=7)
    assert invitation.id == invitation_id("t1", "grace@example.com")
    assert invitation.id != invitation_id("t2", "grace@example.com")
    assert invitation.public(NOW)["status"] == "pending"
    assert "token_digest" not in invitation.public(NOW)
    assert Invitation.from_document(invitation.to_document()) == invitation


@pytest.mark.parametrize(
    ("actor_role", "role", "code"),
    [
        ("admin", Role.OWNER, "role_escalation"),
        ("accountant", Role.VIEWER, "forbidden"),
        ("viewer", Role.VIEWER, "forbidden"),
    ],
)
def test_nobody_invites_above_their_rank(actor_role: str, role: Role, code: str) -> None:
    with pytest.raises(ForbiddenError) as refused:
        _invite(actor_role=actor_role, role=role)
    assert refused.value.code == code


def test_an_open_invitation_of_the_address_blocks_another_in_the_same_tenant_only() -> None:
    open_one = _invite()

    with pytest.raises(ConflictError) as refused:
        _invite(existing=open_one)
    assert refused.value.code == "invitation_pending"
    assert [e.field for e in refused.value.errors] == ["email"]


@pytest.mark.parametrize("closing", ["revoked", "expired", "accepted"])
def test_a_closed_invitation_is_replaced_with_the_next_version(closing: str) -> None:
    first = _invite()
    if closing == "revoked":
        closed = revoked(first, actor_role="owner", now=NOW)
        later = NOW
    elif closing == "accepted":
        closed = accepted(first, token_digest="d1", now=NOW)
        later = NOW
    else:
        closed, later = first, NOW + INVITATION_LIFETIME
    again = new_invitation(
        actor_role="owner",
        actor_id="u-owner",
        tenant_id="t1",
        email="grace@example.com",
        name="Grace",
        role=Role.ADMIN,
        user_id="u-other",
        token_digest="d2",
        existing=closed,
        now=later,
    )
    assert again.status is InvitationStatus.PENDING and again.version == closed.version + 1


def test_only_the_current_token_of_an_open_invitation_accepts_it() -> None:
    invitation = _invite()

    done = accepted(invitation, token_digest="d1", now=NOW + timedelta(days=6))
    assert done.status is InvitationStatus.ACCEPTED and done.accepted_at is not None
    for candidate, digest, when in (
        (invitation, "other", NOW),  # not its token
        (invitation, "d1", NOW + INVITATION_LIFETIME),  # expired
        (done, "d1", NOW),  # accepted already
        (revoked(invitation, actor_role="owner", now=NOW), "d1", NOW),
        (reissued(invitation, actor_role="owner", token_digest="d2", now=NOW), "d1", NOW),
        (None, "d1", NOW),
    ):
        with pytest.raises(BadRequestError) as refused:
            accepted(candidate, token_digest=digest, now=when)
        assert refused.value.code == INVITATION_TOKEN_INVALID
        assert [e.field for e in refused.value.errors] == ["token"]


def test_the_expired_status_is_shown_not_stored() -> None:
    invitation = _invite()
    later = NOW + INVITATION_LIFETIME
    assert invitation.public(later)["status"] == "expired"
    assert invitation.to_document()["status"] == "pending"


def test_a_resend_issues_a_new_token_and_expiry_and_revives_an_expired_invitation() -> None:
    invitation = _invite()
    later = NOW + INVITATION_LIFETIME + timedelta(days=1)

    again = reissued(invitation, actor_role="admin", token_digest="d2", now=later)

    assert again.token_digest == "d2" and again.expires_at == later + INVITATION_LIFETIME
    assert again.sent_count == 2 and again.version == invitation.version + 1
    assert accepted(again, token_digest="d2", now=later).status is InvitationStatus.ACCEPTED


def test_resends_are_bounded() -> None:
    invitation = _invite()
    for index in range(MAX_INVITATION_SENDS - 1):
        invitation = reissued(invitation, actor_role="owner", token_digest=f"r{index}", now=NOW)
    with pytest.raises(ConflictError) as refused:
        reissued(invitation, actor_role="owner", token_digest="one-too-many", now=NOW)
    assert refused.value.code == "invitation_send_limit"


def test_only_pending_invitations_are_resent_or_revoked_and_admins_never_touch_owners() -> None:
    owner_invite = _invite(role=Role.OWNER)
    with pytest.raises(ForbiddenError) as escalation:
        revoked(owner_invite, actor_role="admin", now=NOW)
    assert escalation.value.code == "role_escalation"
    with pytest.raises(ForbiddenError):
        reissued(owner_invite, actor_role="admin", token_digest="x", now=NOW)
    gone = revoked(owner_invite, actor_role="owner", now=NOW)
    assert gone.status is InvitationStatus.REVOKED and gone.revoked_at == NOW
    for change in (
        lambda: revoked(gone, actor_role="owner", now=NOW),
        lambda: reissued(gone, actor_role="owner", token_digest="x", now=NOW),
    ):
        with pytest.raises(ConflictError) as refused:
            change()
        assert refused.value.code == "invitation_not_pending"


def test_a_verification_token_is_single_use_for_one_address_for_48_hours() -> None:
    token = StoredVerificationToken.new(
        user_id="u1", tenant_id="t1", email="ada@example.com", now=NOW
    )
    assert token.expires_at - NOW == VERIFICATION_LIFETIME == timedelta(hours=48)
    assert token.usable(now=NOW, user_email="ada@example.com", user_tenant="t1")
    assert not token.usable(now=token.expires_at, user_email="ada@example.com", user_tenant="t1")
    assert not token.usable(now=NOW, user_email="other@example.com", user_tenant="t1")
    assert not token.usable(now=NOW, user_email="ada@example.com", user_tenant="t2")
    used = StoredVerificationToken.from_document({**token.to_document(), "used_at": NOW})
    assert not used.usable(now=NOW, user_email="ada@example.com", user_tenant="t1")


def test_a_verified_address_needs_no_more_emails() -> None:
    check_verification_needed(False)
    with pytest.raises(ConflictError) as refused:
        check_verification_needed(True)
    assert refused.value.code == "email_already_verified"


@pytest.mark.parametrize(
    ("inviter", "withdrawn"),
    [
        ({"tenant_id": "t1", "status": "active", "role": "admin"}, False),
        ({"tenant_id": "t1", "status": "disabled", "role": "admin"}, True),
        ({"tenant_id": "t1", "status": "active", "role": "viewer"}, True),  # demoted
        ({"tenant_id": "t2", "status": "active", "role": "admin"}, True),
        (None, True),
    ],
)
def test_an_invitation_holds_only_while_its_inviter_could_still_grant_it(
    inviter: dict[str, str] | None, withdrawn: bool
) -> None:
    invitation = _invite(actor_role="admin", role=Role.ACCOUNTANT)
    if not withdrawn:
        check_inviter_still_grants(invitation, inviter)
        return
    with pytest.raises(ConflictError) as refused:
        check_inviter_still_grants(invitation, inviter)
    assert refused.value.code == "invitation_withdrawn"
    assert refused.value.errors[0].field == "token"
