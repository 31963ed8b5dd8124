"""Invitations through the users function, against the emulators.

Adding a user is an invitation: nothing is claimed until the holder of the emailed token
accepts. The token is read where the invitee would get it: from the email event the
function published on ``mail-requests`` (the identity fixture's own subscription), or
from the mail sink that send_mail hands the email to. Every refusal writes nothing.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest

from emulator.mail_sink import MailSink
from shared.config import reset_settings
from shared.users.invitations import INVITATION_TOKENS, USER_INVITATIONS
from shared.users.model import MAIL_TOPIC, USER_INVITED
from tests.integration.events.conftest import push_event
from tests.integration.users.conftest import (
    PASSWORD,
    Identity,
    documents,
    outbox_events,
    snapshot_of_writes,
)
from tests.support.http import Answer, load_function

ACCEPT = "/v1/users/invitations/accept"


def _owner_token(identity: Identity, email: str) -> str:
    identity.owner(email)
    token: str = identity.tokens(email)["access_token"]
    return token


def _invite(identity: Identity, token: str, email: str, role: str = "viewer") -> Answer:
    return identity.users.post(
        "/v1/users", token=token, json={"email": email, "name": "Grace", "role": role}
    )


def _accept(identity: Identity, token: str, password: str = PASSWORD) -> Answer:
    return identity.users.post(ACCEPT, json={"token": token, "password": password})


def _refused(answer: Answer, status: int, code: str) -> None:
    assert (answer.status, answer.json["code"]) == (status, code), answer.json


def _audit_actions(identity: Identity) -> list[str]:
    return [e["data"]["action"] for e in outbox_events(identity.db, "audit.recorded")]


def test_an_invitation_claims_nothing_and_its_token_is_stored_only_as_a_digest(
    identity: Identity,
) -> None:
    owner_token = _owner_token(identity, "boss@inv.example")

    invited = _invite(identity, owner_token, "Grace@Inv.example", "accountant")

    assert invited.status == 201, invited.json
    invitation = invited.data
    assert invitation["status"] == "pending" and invitation["email"] == "grace@inv.example"
    assert invited.headers["Location"] == f"/v1/users/invitations/{invitation['id']}"
    mail = identity.mail_to("grace@inv.example", USER_INVITED)
    token = mail["data"]["token"]
    assert mail["data"]["invitation_id"] == invitation["id"] and len(token) == 43
    # Only the digest is stored, and the published email's outbox record is gone.
    assert list(documents(identity.db, INVITATION_TOKENS)) == [
        hashlib.sha256(token.encode()).hexdigest()
    ]
    assert token not in str(documents(identity.db, USER_INVITATIONS))
    assert token not in str(documents(identity.db, "outbox"))
    # No user, no claimed address, no login.
    emails = {u["email"] for u in documents(identity.db, "users").values()}
    assert "grace@inv.example" not in emails
    assert len(documents(identity.db, "user_emails")) == 1
    assert identity.login("grace@inv.example").status == 401
    assert "user.invited" in _audit_actions(identity)


def test_accepting_creates_the_verified_user_once(identity: Identity) -> None:
    owner_token = _owner_token(identity, "boss@acc.example")
    invitation = _invite(identity, owner_token, "grace@acc.example", "admin").data
    token = identity.invitation_token("grace@acc.example")

    accepted = _accept(identity, token)

    assert accepted.status == 201, accepted.json
    user = accepted.data
    assert (user["id"], user["role"], user["email_verified"]) == (
        invitation["user_id"],
        "admin",
        True,
    )
    assert accepted.headers["Location"] == f"/v1/users/{user['id']}"
    assert identity.login("grace@acc.example").status == 200
    read = identity.users.get(f"/v1/users/invitations/{invitation['id']}", token=owner_token)
    assert read.data["status"] == "accepted" and read.data["accepted_at"]
    created = [
        e for e in outbox_events(identity.db, "user.created") if e["data"]["id"] == user["id"]
    ]
    assert len(created) == 1 and created[0]["data"]["email_verified"] is True
    assert "user.invitation_accepted" in _audit_actions(identity)
    before = snapshot_of_writes(identity.db)

    _refused(_accept(identity, token), 400, "invitation_token_invalid")
    assert snapshot_of_writes(identity.db) == before


def test_a_pending_invitation_blocks_neither_another_tenant_nor_a_signup(
    identity: Identity,
) -> None:
    first = _owner_token(identity, "one@t1.example")
    second = _owner_token(identity, "two@t2.example")
    assert _invite(identity, first, "shared@addr.example").status == 201
    first_token = identity.invitation_token("shared@addr.example")
    assert _invite(identity, second, "shared@addr.example").status == 201
    second_token = identity.invitation_token("shared@addr.example")
    assert first_token != second_token

    # The address's holder takes the second tenant's invitation: it is claimed now.
    assert _accept(identity, second_token).status == 201
    before = snapshot_of_writes(identity.db)
    _refused(_accept(identity, first_token), 409, "email_unavailable")
    assert snapshot_of_writes(identity.db) == before

    # A signup is not blocked by a pending invitation either; once the signup is
    # verified, the invitation is.
    third = _owner_token(identity, "three@t3.example")
    assert _invite(identity, third, "later@addr.example").status == 201
    pending_token = identity.invitation_token("later@addr.example")
    signed_up = identity.owner("later@addr.example")
    assert identity.verify(signed_up).status == 204
    before = snapshot_of_writes(identity.db)
    _refused(_accept(identity, pending_token), 409, "email_unavailable")
    assert snapshot_of_writes(identity.db) == before


def test_a_resend_voids_the_previous_token_and_a_revoke_voids_the_invitation(
    identity: Identity,
) -> None:
    owner_token = _owner_token(identity, "boss@rs.example")
    invitation = _invite(identity, owner_token, "grace@rs.example").data
    old = identity.invitation_token("grace@rs.example")

    resent = identity.users.post(
        f"/v1/users/invitations/{invitation['id']}/resend", token=owner_token
    )

    assert resent.status == 200, resent.json
    assert resent.data["sent_count"] == 2
    new = identity.invitation_token("grace@rs.example")
    assert new != old
    before = snapshot_of_writes(identity.db)
    _refused(_accept(identity, old), 400, "invitation_token_invalid")
    assert snapshot_of_writes(identity.db) == before

    revoked = identity.users.post(
        f"/v1/users/invitations/{invitation['id']}/revoke", token=owner_token
    )
    assert revoked.status == 200 and revoked.data["status"] == "revoked"
    assert "user.invitation_revoked" in _audit_actions(identity)
    before = snapshot_of_writes(identity.db)
    _refused(_accept(identity, new), 400, "invitation_token_invalid")
    again = identity.users.post(
        f"/v1/users/invitations/{invitation['id']}/revoke", token=owner_token
    )
    _refused(again, 409, "invitation_not_pending")
    assert snapshot_of_writes(identity.db) == before
    # A revoked invitation is replaced by a new one.
    assert _invite(identity, owner_token, "grace@rs.example").status == 201


@pytest.mark.parametrize(
    ("actor", "action", "status", "code"),
    [
        ("owner", "invite-again", 409, "invitation_pending"),
        ("owner", "invite-taken", 409, "email_unavailable"),
        ("admin", "invite-owner", 403, "role_escalation"),
        ("admin", "revoke-owner-invitation", 403, "role_escalation"),
        ("viewer", "list", 403, "permission_denied"),
        ("stranger", "read", 404, "invitation_not_found"),
        ("stranger", "resend", 404, "invitation_not_found"),
        ("stranger", "revoke", 404, "invitation_not_found"),
        ("anyone", "unknown-token", 400, "invitation_token_invalid"),
        ("anyone", "weak-password", 422, "validation_error"),
    ],
)
def test_refusals_write_nothing(
    identity: Identity, actor: str, action: str, status: int, code: str
) -> None:
    owner_token = _owner_token(identity, "boss@ref.example")
    owners_invitation = _invite(identity, owner_token, "co-owner@ref.example", "owner").data
    identity.add_user(owner_token, "admin@ref.example", "admin")
    identity.add_user(owner_token, "viewer@ref.example", "viewer")
    pending = _invite(identity, owner_token, "pending@ref.example").data
    pending_token = identity.invitation_token("pending@ref.example")
    tokens = {
        "owner": owner_token,
        "admin": identity.tokens("admin@ref.example")["access_token"],
        "viewer": identity.tokens("viewer@ref.example")["access_token"],
        "stranger": _owner_token(identity, "stranger@other.example"),
        "anyone": None,
    }
    token = tokens[actor]
    invitation_path = f"/v1/users/invitations/{pending['id']}"
    requests = {
        "invite-again": lambda: _invite(identity, token, "pending@ref.example"),
        # An accepted invitation's address is verified: taken.
        "invite-taken": lambda: _invite(identity, token, "admin@ref.example"),
        "invite-owner": lambda: _invite(identity, token, "boss2@ref.example", "owner"),
        "revoke-owner-invitation": lambda: identity.users.post(
            f"/v1/users/invitations/{owners_invitation['id']}/revoke", token=token
        ),
        "list": lambda: identity.users.get("/v1/users/invitations", token=token),
        "read": lambda: identity.users.get(invitation_path, token=token),
        "resend": lambda: identity.users.post(f"{invitation_path}/resend", token=token),
        "revoke": lambda: identity.users.post(f"{invitation_path}/revoke", token=token),
        "unknown-token": lambda: _accept(identity, "not-a-token-anyone-was-sent"),
        "weak-password": lambda: _accept(identity, pending_token, "short"),
    }
    before = snapshot_of_writes(identity.db)

    answer = requests[action]()

    _refused(answer, status, code)
    if status == 422:
        assert {e["field"] for e in answer.json["errors"]} == {"password"}
    elif status in (400, 409):
        assert answer.json["errors"], "the refusal names its field"
    assert snapshot_of_writes(identity.db) == before
    if action == "weak-password":
        assert _accept(identity, pending_token).status == 201  # the token stays usable


def test_the_tenants_invitations_are_listed_newest_first_by_cursor(identity: Identity) -> None:
    owner_token = _owner_token(identity, "boss@list.example")
    for name in ("a", "b", "c"):
        assert _invite(identity, owner_token, f"{name}@list.example").status == 201
    other = _owner_token(identity, "boss@elsewhere.example")
    assert _invite(identity, other, "z@list.example").status == 201

    first = identity.users.get("/v1/users/invitations", token=owner_token, query={"limit": 2})
    cursor = first.json["meta"]["next_cursor"]
    second = identity.users.get(
        "/v1/users/invitations", token=owner_token, query={"limit": 2, "cursor": cursor}
    )

    assert [i["email"] for i in first.data + second.data] == [
        "c@list.example",
        "b@list.example",
        "a@list.example",
    ]
    assert second.json["meta"]["next_cursor"] is None


def test_the_invitation_email_reaches_the_mail_transport(
    identity: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner_token = _owner_token(identity, "boss@mail.example")
    assert _invite(identity, owner_token, "inbox@mail.example").status == 201
    envelope = identity.mail_to("inbox@mail.example", USER_INVITED)
    send_mail = load_function("send_mail")
    data = orjson.dumps(envelope)
    attributes = {"type": envelope["type"], "correlation_id": envelope["correlation_id"]}

    with MailSink(port=0) as sink:
        monkeypatch.setenv("TRIBUTUM_MAIL__TRANSPORT_URL", sink.url())
        reset_settings()
        send_mail.handle(push_event(identity.project_id, MAIL_TOPIC, data, attributes))
        send_mail.handle(push_event(identity.project_id, MAIL_TOPIC, data, attributes))
        (mail,) = sink.received

    assert mail.message["to"] == "inbox@mail.example"
    assert envelope["data"]["token"] in mail.message["text"]
    assert _accept(identity, envelope["data"]["token"]).status == 201


def test_of_concurrent_claims_of_one_address_exactly_one_wins(identity: Identity) -> None:
    first = _owner_token(identity, "one@race.example")
    second = _owner_token(identity, "two@race.example")
    assert _invite(identity, first, "prize@race.example").status == 201
    token = identity.invitation_token("prize@race.example")
    assert _invite(identity, second, "prize@race.example").status == 201
    other_token = identity.invitation_token("prize@race.example")
    tokens = [token, token, other_token, other_token]

    def attempt(index: int) -> int:
        if index == len(tokens):
            return identity.sign_up("prize@race.example", name="Racer").status
        return _accept(identity, tokens[index]).status

    with ThreadPoolExecutor(max_workers=len(tokens) + 1) as pool:
        statuses = list(pool.map(attempt, range(len(tokens) + 1)))

    # One acceptance wins (an unverified signup cannot stop it); every other acceptance
    # is refused. The signup succeeds without the address, or is refused once it is proven.
    accepted = statuses[: len(tokens)]
    assert accepted.count(201) == 1, statuses
    assert set(accepted) <= {201, 400, 409}, statuses
    assert statuses[-1] in {201, 409}, statuses
    [winner] = [
        u
        for u in documents(identity.db, "users").values()
        if u["email"] == "prize@race.example" and u["email_verified"]
    ]
    keys = documents(identity.db, "user_emails")
    assert len(keys) == 3  # two owners and the address
    prize = [k for k in keys.values() if k["user_id"] == winner["id"]]
    assert len(prize) == 1 and prize[0]["verified"] is True


def test_an_invitation_from_an_admin_since_disabled_is_withdrawn(identity: Identity) -> None:
    owner_token = _owner_token(identity, "boss@wd.example")
    admin = identity.add_user(owner_token, "leaving@wd.example", "admin")
    admin_token = identity.token_for(admin)
    assert _invite(identity, admin_token, "mine@private.example", "admin").status == 201
    token = identity.invitation_token("mine@private.example")
    disabled = identity.users.patch(
        f"/v1/users/{admin['id']}/status", token=owner_token, json={"status": "disabled"}
    )
    assert disabled.status == 200, disabled.json
    before = snapshot_of_writes(identity.db)

    _refused(_accept(identity, token), 409, "invitation_withdrawn")

    assert snapshot_of_writes(identity.db) == before
    assert identity.login("mine@private.example").status == 401
