"""Password reset through the auth function and the send_mail consumer, against the emulators.

The token is read where a user would get it: from the email event the auth function
published on ``mail-requests`` (a pull subscription of the test's own), or from the
mail sink that send_mail hands the email to. Every refusal leaves the stored data as
it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import orjson
import pytest
from google.api_core.exceptions import AlreadyExists

from emulator.mail_sink import MailSink
from shared.config import reset_settings
from shared.ratelimit import RateLimit
from shared.users.model import MAIL_TOPIC, PASSWORD_RESET_REQUESTED
from shared.users.reset import (
    PASSWORD_RESETS,
    RESET_ACCOUNT_RATE,
    RESPONSE_FLOOR_SECONDS,
    ResetThrottle,
)
from shared.users.reset_tokens import RESET_TOKEN_LIFETIME
from tests.integration.events.conftest import PullSubscription, push_event
from tests.integration.users.conftest import (
    PASSWORD,
    Identity,
    documents,
    outbox_events,
    snapshot_of_writes,
)
from tests.support.http import Answer, load_function

NEW_PASSWORD = "a brand new reset passphrase"


@dataclass
class Resets:
    identity: Identity
    auth: ModuleType
    mailbox: PullSubscription
    project_id: str

    def request(self, email: str, address: str = "203.0.113.10") -> Answer:
        return self.identity.auth.post(
            "/v1/auth/password-reset",
            json={"email": email},
            headers={"X-Forwarded-For": address},
        )

    def confirm(self, token: str, new_password: str = NEW_PASSWORD) -> Answer:
        return self.identity.auth.post(
            "/v1/auth/password-reset/confirm",
            json={"token": token, "new_password": new_password},
        )

    def emails(self, expected: int = 1, timeout: float = 15.0) -> list[Any]:
        """The reset email events published since the last call, as Pub/Sub messages (the
        verification emails of the tests' signups go to the same topic and are left out)."""
        resets: list[Any] = []
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        while time.monotonic() < (settle_until or deadline):
            for message in self.mailbox.receive(1, timeout=0.3, settle=0.0):
                if orjson.loads(message.data)["type"] == PASSWORD_RESET_REQUESTED:
                    resets.append(message)
            if len(resets) >= expected and settle_until is None:
                settle_until = time.monotonic() + 0.5
        return resets

    def token_for(self, email: str) -> str:
        answer = self.request(email)
        assert answer.status == 202, answer.json
        (message,) = self.emails()
        envelope = orjson.loads(message.data)
        assert envelope["type"] == PASSWORD_RESET_REQUESTED
        assert envelope["data"]["recipient"] == email
        token: str = envelope["data"]["token"]
        return token

    def throttle(self, *, per_account: RateLimit, per_address: RateLimit) -> None:
        self.auth._reset_throttle = ResetThrottle.firestore(
            self.identity.db, account_rate=per_account, address_rate=per_address
        )


def _writes(db: Any) -> dict[str, Any]:
    return {**snapshot_of_writes(db), PASSWORD_RESETS: documents(db, PASSWORD_RESETS)}


def _code(answer: Answer) -> tuple[int, str]:
    return answer.status, answer.json["code"]


@pytest.fixture
def resets(
    identity: Identity, pubsub_publisher: Any, pubsub_subscriber: Any, unique_name: Any
) -> Iterator[Resets]:
    topic = pubsub_publisher.topic_path(identity.project_id, MAIL_TOPIC)
    with contextlib.suppress(AlreadyExists):
        pubsub_publisher.create_topic(name=topic)
    subscription = pubsub_subscriber.subscription_path(
        identity.project_id, unique_name("mail-requests-test")
    )
    pubsub_subscriber.create_subscription(name=subscription, topic=topic)
    auth = load_function("auth")
    # A limiter built by an earlier test holds that test's Firestore client.
    auth._reset_throttle = None
    yield Resets(
        identity=identity,
        auth=auth,
        mailbox=PullSubscription(MAIL_TOPIC, subscription, pubsub_subscriber),
        project_id=identity.project_id,
    )
    auth._reset_throttle = None
    pubsub_subscriber.delete_subscription(subscription=subscription)


# -- asking ------------------------------------------------------------------------------------


def test_known_and_unknown_addresses_get_the_same_answer_and_unknown_writes_nothing(
    resets: Resets,
) -> None:
    owner = resets.identity.owner("known@reset.example")
    before = _writes(resets.identity.db)

    started = time.monotonic()
    unknown = resets.request("nobody@reset.example")
    unknown_seconds = time.monotonic() - started

    assert _writes(resets.identity.db) == before
    started = time.monotonic()
    known = resets.request("known@reset.example")
    known_seconds = time.monotonic() - started
    assert unknown.status == known.status == 202
    assert unknown.data == known.data
    assert known.data["status"] == "accepted"
    # Neither answers before the floor that hides the known address's extra work.
    assert min(unknown_seconds, known_seconds) >= RESPONSE_FLOOR_SECONDS
    (message,) = resets.emails()
    envelope = orjson.loads(message.data)
    token = envelope["data"]["token"]
    assert envelope["data"]["recipient"] == "known@reset.example"
    assert len(token) == 43
    stored = documents(resets.identity.db, PASSWORD_RESETS)
    # Stored under the token's SHA-256, never the token itself.
    assert list(stored) == [hashlib.sha256(token.encode()).hexdigest()]
    (record,) = stored.values()
    assert token not in str(record)
    assert (record["user_id"], record["tenant_id"], record["used_at"]) == (
        owner["id"],
        owner["tenant_id"],
        None,
    )
    assert record["expires_at"] - record["created_at"] == RESET_TOKEN_LIFETIME
    # The published email's outbox record (it holds the token) is not kept.
    assert token not in str(documents(resets.identity.db, "outbox"))
    audit = [e["data"] for e in outbox_events(resets.identity.db, "audit.recorded")]
    assert [
        a["resource"]["id"] for a in audit if a["action"] == "user.password_reset_requested"
    ] == [owner["id"]]


def test_a_disabled_user_gets_no_token_and_nothing_is_written(resets: Resets) -> None:
    identity = resets.identity
    identity.owner("boss@off.example")
    boss_token = identity.tokens("boss@off.example")["access_token"]
    added = identity.add_user(boss_token, "gone@off.example", "viewer", name="Gone")
    disabled = identity.users.patch(
        f"/v1/users/{added['id']}/status", token=boss_token, json={"status": "disabled"}
    )
    assert disabled.status == 200, disabled.json
    before = _writes(identity.db)

    answer = resets.request("gone@off.example")

    assert answer.status == 202
    assert _writes(identity.db) == before
    assert resets.emails(expected=1, timeout=3.0) == []


# -- confirming --------------------------------------------------------------------------------


def test_a_token_sets_the_password_once_and_ends_every_session(resets: Resets) -> None:
    identity = resets.identity
    identity.owner("forgetful@reset.example")
    identity.project()
    laptop = identity.tokens("forgetful@reset.example")
    assert identity.users.get("/v1/users/me", token=laptop["access_token"]).status == 200
    token = resets.token_for("forgetful@reset.example")

    assert resets.confirm(token).status == 204

    # Sessions from before the reset end at once on this instance; on others within
    # the access state's 2 seconds (shared/auth/access.py).
    assert _code(identity.users.get("/v1/users/me", token=laptop["access_token"])) == (
        401,
        "token_revoked",
    )
    assert _code(identity.refresh(laptop["refresh_token"])) == (401, "token_revoked")
    assert _code(identity.login("forgetful@reset.example")) == (401, "invalid_credentials")
    fresh = identity.tokens("forgetful@reset.example", NEW_PASSWORD)
    assert identity.users.get("/v1/users/me", token=fresh["access_token"]).status == 200
    audit = [e["data"] for e in outbox_events(identity.db, "audit.recorded")]
    assert [a["action"] for a in audit if a["action"] == "user.password_reset"] == [
        "user.password_reset"
    ]
    before = _writes(identity.db)

    again = resets.confirm(token, "yet another long passphrase")

    assert _code(again) == (400, "reset_token_invalid")
    assert _writes(identity.db) == before
    assert identity.login("forgetful@reset.example", NEW_PASSWORD).status == 200


def test_unknown_used_and_expired_tokens_get_one_and_the_same_refusal(resets: Resets) -> None:
    identity = resets.identity
    identity.owner("late@reset.example")
    expired = resets.token_for("late@reset.example")
    digest = hashlib.sha256(expired.encode()).hexdigest()
    identity.db.collection(PASSWORD_RESETS).document(digest).update(
        {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}
    )
    before = _writes(identity.db)

    late = resets.confirm(expired)
    forged = resets.confirm("q0Zr4mN8xT1vB6yHc2KdLw9PjS5fGa3eUoRiXnYtVbE")

    assert _code(late) == _code(forged) == (400, "reset_token_invalid")
    assert late.json["detail"] == forged.json["detail"]
    assert _writes(identity.db) == before
    assert identity.login("late@reset.example").status == 200


def test_a_refused_new_password_keeps_the_token_usable(resets: Resets) -> None:
    identity = resets.identity
    identity.owner("weak@reset.example")
    token = resets.token_for("weak@reset.example")
    before = _writes(identity.db)

    weak = resets.confirm(token, "Password2024!")

    assert weak.status == 422, weak.json
    assert ("new_password", "password_common") in {
        (e["field"], e["code"]) for e in weak.json["errors"]
    }
    assert _writes(identity.db) == before
    assert resets.confirm(token).status == 204


def test_a_password_change_after_the_request_voids_the_token(resets: Resets) -> None:
    identity = resets.identity
    identity.owner("changer@reset.example")
    session = identity.tokens("changer@reset.example")
    token = resets.token_for("changer@reset.example")
    changed = identity.users.post(
        "/v1/users/me/password",
        token=session["access_token"],
        json={"current_password": PASSWORD, "new_password": "changed it myself meanwhile"},
    )
    assert changed.status == 204, changed.json
    before = _writes(identity.db)

    assert _code(resets.confirm(token)) == (400, "reset_token_invalid")
    assert _writes(identity.db) == before


# -- throttling --------------------------------------------------------------------------------


def test_requests_are_throttled_per_address_whatever_the_client(resets: Resets) -> None:
    resets.identity.owner("popular@reset.example")
    for index in range(RESET_ACCOUNT_RATE.limit):
        answer = resets.request("popular@reset.example", f"198.51.100.{index + 1}")
        assert answer.status == 202, answer.json
    resets.emails(expected=RESET_ACCOUNT_RATE.limit)
    before = _writes(resets.identity.db)

    refused = resets.request("popular@reset.example", "198.51.100.99")

    assert _code(refused) == (429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= RESET_ACCOUNT_RATE.window_seconds
    assert _writes(resets.identity.db) == before
    # An unknown address is throttled the same way: a 429 tells nothing.
    for index in range(RESET_ACCOUNT_RATE.limit):
        resets.request("ghost@reset.example", f"192.0.2.{index + 1}")
    assert _code(resets.request("ghost@reset.example", "192.0.2.99")) == (429, "rate_limited")


def test_requests_are_throttled_per_client(resets: Resets) -> None:
    resets.throttle(
        per_account=RESET_ACCOUNT_RATE, per_address=RateLimit(limit=3, window_seconds=3600)
    )
    resets.identity.owner("target@reset.example")
    for index in range(3):
        assert resets.request(f"sweep{index}@reset.example", "203.0.113.50").status == 202
    before = _writes(resets.identity.db)

    refused = resets.request("target@reset.example", "203.0.113.50")

    assert _code(refused) == (429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert _writes(resets.identity.db) == before
    assert resets.request("target@reset.example", "203.0.113.51").status == 202


# -- the email ---------------------------------------------------------------------------------


def _send(resets: Resets, message: Any) -> None:
    send_mail = load_function("send_mail")
    send_mail.handle(
        push_event(resets.project_id, MAIL_TOPIC, message.data, dict(message.attributes))
    )


def test_send_mail_hands_the_email_to_the_configured_transport(
    resets: Resets, monkeypatch: pytest.MonkeyPatch
) -> None:
    resets.identity.owner("inbox@reset.example")
    assert resets.request("inbox@reset.example").status == 202
    (message,) = resets.emails()
    token = orjson.loads(message.data)["data"]["token"]
    with MailSink(port=0) as sink:
        monkeypatch.setenv("TRIBUTUM_MAIL__TRANSPORT_URL", sink.url())
        reset_settings()
        _send(resets, message)
        _send(resets, message)  # a redelivery: the consumer sends it once

        (mail,) = sink.received
    assert mail.message["to"] == "inbox@reset.example"
    assert token in mail.message["text"]
    assert resets.confirm(token).status == 204


def test_no_token_reaches_the_logs(
    resets: Resets, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRIBUTUM_MAIL__TRANSPORT_URL", "")
    reset_settings()
    resets.identity.owner("quiet@reset.example")
    capsys.readouterr()

    assert resets.request("quiet@reset.example").status == 202
    (message,) = resets.emails()
    token = orjson.loads(message.data)["data"]["token"]
    _send(resets, message)  # no transport: logged without content and dropped
    assert resets.confirm(token).status == 204
    assert resets.confirm(token).status == 400

    logged = capsys.readouterr()
    assert "mail.dropped_no_transport" in logged.out + logged.err
    assert token not in logged.out + logged.err
    assert "quiet@reset.example" not in logged.out + logged.err
    assert token not in str(documents(resets.identity.db, PASSWORD_RESETS))
