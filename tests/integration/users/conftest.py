"""The identity functions (signup, auth, users, project_users) against the emulators.

Nothing stands in for the identity stack: tokens are issued by the real session
service from a locally generated signing key, and every protected route goes
through the router's default ``BearerAuthenticator``. The topics the functions
publish to exist, so publishing after a commit really happens; the projection is
fed by push deliveries of the events the write side put in its outbox.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from google.api_core.exceptions import AlreadyExists

from shared.auth.runtime import reset_auth_runtime, session_service
from shared.clients import reset_clients
from shared.config import reset_settings
from shared.events.audit import AUDIT_TOPIC
from shared.events.outbox import OUTBOX_COLLECTION
from shared.ratelimit import RateLimit, SignupThrottle
from shared.users.model import (
    EMAIL_VERIFICATION_REQUESTED,
    MAIL_TOPIC,
    USER_EVENTS_TOPIC,
    USER_INVITED,
)
from tests.integration.events.conftest import PullSubscription, push_event
from tests.support.http import Answer, RouterClient, load_function

# Collections a refused signup or user change must leave as they were.
WRITE_COLLECTIONS = (
    "users",
    "user_emails",
    "tenants",
    "user_access",
    "outbox",
    "user_invitations",
    "invitation_tokens",
    "email_verifications",
)
PASSWORD = "correct horse battery staple"


def documents(db: Any, collection: str) -> dict[str, dict[str, Any]]:
    return {s.id: s.to_dict() or {} for s in db.collection(collection).stream()}


def snapshot_of_writes(db: Any) -> dict[str, dict[str, dict[str, Any]]]:
    return {name: documents(db, name) for name in WRITE_COLLECTIONS}


def outbox_events(db: Any, event_type: str | None = None) -> list[dict[str, Any]]:
    """The outbox's envelopes (oldest first) with the record's topic and status added."""
    records = sorted(documents(db, OUTBOX_COLLECTION).values(), key=lambda r: r["created_at"])
    envelopes = [
        {**orjson.loads(r["data"]), "_topic": r["topic"], "_status": r["status"]} for r in records
    ]
    return [e for e in envelopes if event_type is None or e["type"] == event_type]


@dataclass
class Identity:
    """The four functions and the databases, with helpers for the common steps."""

    # The credentials database: users, sessions, tokens, and the outbox of their events.
    db: Any
    # The main database: the users_read model, rate limits, idempotency, dead letters.
    main: Any
    project_id: str
    signup: RouterClient
    auth: RouterClient
    users: RouterClient
    projector: ModuleType
    projected_ids: set[str]
    signup_function: ModuleType
    # What the functions published on mail-requests during the test (its own subscription).
    mailbox: PullSubscription
    mails: list[dict[str, Any]]

    def mail_to(
        self, recipient: str, event_type: str, timeout: float = 15.0, user_id: str | None = None
    ) -> dict[str, Any]:
        """The newest email event of ``event_type`` to ``recipient`` (about ``user_id`` if
        given) published so far (its envelope), waiting for it up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.mailbox.receive(1, timeout=0.5, settle=0.0):
                self.mails.append(orjson.loads(message.data))
            found = [
                m
                for m in self.mails
                if m["type"] == event_type
                and m["data"]["recipient"] == recipient
                and (user_id is None or m["data"].get("user_id") == user_id)
            ]
            if found:
                return found[-1]
            assert time.monotonic() < deadline, f"no {event_type} email to {recipient}"

    def invitation_token(self, email: str) -> str:
        """The token of the newest invitation emailed to ``email``."""
        token: str = self.mail_to(email, USER_INVITED)["data"]["token"]
        return token

    def verification_token(self, user: dict[str, Any]) -> str:
        """The token of the newest verification email sent for ``user`` (to its address)."""
        mail = self.mail_to(user["email"], EMAIL_VERIFICATION_REQUESTED, user_id=user["id"])
        token: str = mail["data"]["token"]
        return token

    def verify(self, user: dict[str, Any]) -> Answer:
        """Send back ``user``'s newest verification token."""
        token = self.verification_token(user)
        return self.auth.post("/v1/auth/verify-email", json={"token": token})

    def add_user(
        self, owner_token: str, email: str, role: str, name: str | None = None
    ) -> dict[str, Any]:
        """Invite ``email`` with ``owner_token`` and accept with :data:`PASSWORD`: the user."""
        invited = self.users.post(
            "/v1/users",
            token=owner_token,
            json={"email": email, "name": name or role.title(), "role": role},
        )
        assert invited.status == 201, invited.json
        accepted = self.users.post(
            "/v1/users/invitations/accept",
            json={"token": self.invitation_token(invited.data["email"]), "password": PASSWORD},
        )
        assert accepted.status == 201, accepted.json
        user: dict[str, Any] = accepted.data
        return user

    def sign_up(self, email: str, name: str = "Ada Lovelace", **extra: Any) -> Answer:
        body = {"email": email, "password": PASSWORD, "name": name, **extra}
        return self.signup.post("/v1/signup", json=body)

    def owner(self, email: str) -> dict[str, Any]:
        answer = self.sign_up(email)
        assert answer.status == 201, answer.json
        user: dict[str, Any] = answer.data
        return user

    def token_for(self, user: dict[str, Any], role: str | None = None) -> str:
        pair = session_service().start(
            user_id=user["id"], tenant_id=user["tenant_id"], role=role or user["role"]
        )
        return pair.access.token

    def login(self, email: str, password: str = PASSWORD) -> Answer:
        return self.auth.post("/v1/auth/token", json={"email": email, "password": password})

    def tokens(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        """A logged-in session's token pair (the body of a successful login)."""
        answer = self.login(email, password)
        assert answer.status == 200, answer.json
        tokens: dict[str, Any] = answer.data
        return tokens

    def refresh(self, refresh_token: str) -> Answer:
        return self.auth.post("/v1/auth/refresh", json={"refresh_token": refresh_token})

    def throttle_signups(self, *, per_address: RateLimit, overall: RateLimit) -> None:
        """Other signup limits than the production ones, for tests about something else
        (many signups from one address) or about the global limit (reached quickly)."""
        self.signup_function._throttle = SignupThrottle.firestore(
            self.main, address_rate=per_address, global_rate=overall
        )

    def project(self) -> int:
        """Push every user event of the outbox not pushed yet to project_users."""
        pushed = 0
        for envelope in outbox_events(self.db):
            if envelope["_topic"] != USER_EVENTS_TOPIC or envelope["id"] in self.projected_ids:
                continue
            self.push(envelope)
            self.projected_ids.add(envelope["id"])
            pushed += 1
        return pushed

    def push(self, envelope: dict[str, Any]) -> None:
        data = orjson.dumps({k: v for k, v in envelope.items() if not k.startswith("_")})
        attributes = {"type": envelope["type"], "correlation_id": envelope["correlation_id"]}
        self.projector.handle(push_event(self.project_id, USER_EVENTS_TOPIC, data, attributes))


@pytest.fixture
def identity(
    firestore_client: Any,
    credentials_client: Any,
    emulators: Any,
    pubsub_publisher: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pubsub_subscriber: Any,
    unique_name: Any,
) -> Iterator[Identity]:
    monkeypatch.setenv("TRIBUTUM_SECRETS__BACKEND", "local")
    monkeypatch.setenv("TRIBUTUM_SECRETS__LOCAL_DIR", str(tmp_path / "secrets"))
    monkeypatch.delenv("TRIBUTUM_SECRET_JWT_SIGNING_KEYS", raising=False)
    reset_settings()
    reset_clients()
    reset_auth_runtime()
    for topic in (USER_EVENTS_TOPIC, AUDIT_TOPIC, MAIL_TOPIC):
        with contextlib.suppress(AlreadyExists):
            pubsub_publisher.create_topic(
                name=pubsub_publisher.topic_path(emulators.project_id, topic)
            )
    mail_subscription = pubsub_subscriber.subscription_path(
        emulators.project_id, unique_name("mail-requests-identity")
    )
    pubsub_subscriber.create_subscription(
        name=mail_subscription,
        topic=pubsub_publisher.topic_path(emulators.project_id, MAIL_TOPIC),
    )
    auth, signup, users = load_function("auth"), load_function("signup"), load_function("users")
    # Limiters built by an earlier test hold that test's Firestore client.
    auth._throttle = signup._throttle = users._password_limiter = None
    auth._verification_throttle = None
    yield Identity(
        db=credentials_client,
        main=firestore_client,
        project_id=emulators.project_id,
        signup=RouterClient(signup.router),
        auth=RouterClient(auth.router),
        users=RouterClient(users.router),
        projector=load_function("project_users"),
        projected_ids=set(),
        signup_function=signup,
        mailbox=PullSubscription(MAIL_TOPIC, mail_subscription, pubsub_subscriber),
        mails=[],
    )
    auth._throttle = signup._throttle = users._password_limiter = None
    auth._verification_throttle = None
    pubsub_subscriber.delete_subscription(subscription=mail_subscription)
    reset_auth_runtime()
    reset_settings()
    reset_clients()
