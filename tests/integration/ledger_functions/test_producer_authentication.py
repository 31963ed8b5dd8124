"""Every posting request proves a producer key before its body is read.

Each refusal is a dead letter with the reason, filed under the presenting key's tenant
(or none), without the credential, and nothing else changes: no entry, no stored
request, no result.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest
from google.api_core.exceptions import AlreadyExists

from shared.events.envelope import EventEnvelope, new_event
from shared.identity.actor import Actor
from shared.ledger.inbound import REQUEST_TYPE, REQUESTS_TOPIC, RESULTS_TOPIC
from shared.producers import (
    CREDENTIAL_ATTRIBUTE,
    CreateProducerKeyRequest,
    create_key,
    revoke_key,
)
from shared.producers.store import key_ref
from tests.integration.events.conftest import PullSubscription, push_event
from tests.integration.ledger_functions.conftest import OTHER_TENANT, TENANT, Api, ledger_state
from tests.support.http import load_function

ADMIN = Actor.user("u-admin", role="admin")


@pytest.fixture
def results(emulators: Any, pubsub_subscriber: Any, unique_name: Any) -> Iterator[PullSubscription]:
    topic = f"projects/{emulators.project_id}/topics/{RESULTS_TOPIC}"
    path = pubsub_subscriber.subscription_path(emulators.project_id, unique_name("results-sub"))
    pubsub_subscriber.create_subscription(name=path, topic=topic)
    yield PullSubscription(RESULTS_TOPIC, path, pubsub_subscriber)
    with contextlib.suppress(Exception):
        pubsub_subscriber.delete_subscription(subscription=path)


@pytest.fixture
def chart(api: Api) -> dict[str, str]:
    return {
        "cash": api.create_account("1000-cash"),
        "revenue": api.create_account("4000-revenue", "revenue"),
    }


def _request(
    chart: dict[str, str], tenant: str = TENANT, request_id: str = "INV-X"
) -> EventEnvelope:
    lines = [
        {"account_id": chart["cash"], "side": "debit", "amount": "666.00"},
        {"account_id": chart["revenue"], "side": "credit", "amount": "666.00"},
    ]
    return new_event(
        REQUEST_TYPE,
        source="billing",
        subject="invoices/X",
        tenant_id=tenant,
        data={"request_id": request_id, "posting": {"lines": lines}},
    )


def _key(db: Any, tenant: str = TENANT) -> str:
    request = CreateProducerKeyRequest(name="billing", scopes=["ledger:post"])
    return create_key(db, tenant, request, actor=ADMIN).credential


def _key_id(credential: str) -> str:
    return credential.split("_")[2]


@dataclass(frozen=True)
class SignedRequest:
    """A posting request and the producer credential it carries (None: it carries none)."""

    envelope: EventEnvelope
    credential: str | None

    @property
    def key_id(self) -> str:
        assert self.credential is not None
        return _key_id(self.credential)

    def attributes(self) -> dict[str, str]:
        attributes = self.envelope.attributes()
        if self.credential is not None:
            attributes[CREDENTIAL_ATTRIBUTE] = self.credential
        return attributes


class Sign(Protocol):
    def __call__(self, tenant: str = ..., key_tenant: str | None = ...) -> SignedRequest: ...


@pytest.fixture
def sign(chart: dict[str, str], credentials_client: Any) -> Sign:
    """``sign(tenant=..., key_tenant=...)``: a request naming ``tenant`` (TENANT), signed
    with a new ``ledger:post`` key of ``key_tenant`` (the same tenant unless given)."""

    def make(tenant: str = TENANT, key_tenant: str | None = None) -> SignedRequest:
        return SignedRequest(
            _request(chart, tenant), _key(credentials_client, key_tenant or tenant)
        )

    return make


def _deliver(
    emulators: Any,
    message: SignedRequest,
    function: str = "ledger_postings",
    topic: str = REQUESTS_TOPIC,
) -> None:
    load_function(function).handle(
        push_event(emulators.project_id, topic, message.envelope.to_bytes(), message.attributes())
    )


def _dead_letters(db: Any) -> list[dict[str, Any]]:
    return [s.to_dict() or {} for s in db.collection("dead_letters").stream()]


def _without_dead_letters(db: Any, credentials: Any) -> tuple[dict[str, Any], ...]:
    """Everything in both databases but dead letters and a key's ``last_used_at`` (a
    proven key was used; noted in ``producer_key_usage``)."""
    return tuple(
        {
            path: {k: v for k, v in document.items() if k != "last_used_at"}
            for path, document in ledger_state(database).items()
            if not path.startswith(("dead_letters/", "producer_key_usage/"))
        }
        for database in (db, credentials)
    )


def _forge_expired(db: Any, credential: str) -> str:
    key_ref(db, _key_id(credential)).update({"expires_at": datetime.now(UTC) - timedelta(1)})
    return credential


def _forge_unscoped(db: Any, credential: str) -> str:
    key_ref(db, _key_id(credential)).update({"scopes": []})
    return credential


def _revoked(db: Any, credential: str) -> str:
    revoke_key(db, TENANT, _key_id(credential), actor=ADMIN)
    return credential


CASES = {
    # name: (how the credential is made from a valid one, reason code, dead letter's tenant)
    "missing": (lambda db, c: None, "credential_missing", None),
    "malformed": (lambda db, c: "Bearer abc", "credential_malformed", None),
    "unknown_id": (
        lambda db, c: "trb_pk_pk" + "0" * 24 + c[-44:],
        "credential_unknown",
        None,
    ),
    "wrong_secret": (lambda db, c: c[:-43] + "A" * 43, "credential_unknown", None),
    "revoked": (_revoked, "credential_revoked", TENANT),
    "expired": (_forge_expired, "credential_expired", TENANT),
    "out_of_scope": (_forge_unscoped, "scope_missing", TENANT),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_message_without_a_valid_key_is_dead_lettered_and_changes_nothing(
    case: str,
    api: Api,
    chart: dict[str, str],
    emulators: Any,
    platform: Any,
    credentials_client: Any,
    results: PullSubscription,
    sign: Sign,
) -> None:
    make, code, filed_under = CASES[case]
    valid = sign()
    message = replace(valid, credential=make(credentials_client, valid.credential))
    before = _without_dead_letters(platform, credentials_client)

    _deliver(emulators, message)

    assert _without_dead_letters(platform, credentials_client) == before
    [letter] = _dead_letters(platform)
    assert letter["reason"].startswith(f"{code}: ")
    assert letter["tenant_id"] == filed_under
    assert CREDENTIAL_ATTRIBUTE not in letter["attributes"]
    assert results.receive(expected=0, timeout=1, settle=1) == []
    assert api.balances(chart["cash"])["posted"] == "0.00"


def test_a_key_never_posts_into_another_tenant(
    api: Api,
    chart: dict[str, str],
    emulators: Any,
    platform: Any,
    credentials_client: Any,
    results: PullSubscription,
    sign: Sign,
) -> None:
    # The reproduced attack: a producer names the victim's tenant in the envelope.
    attack = sign(tenant=TENANT, key_tenant=OTHER_TENANT)
    before = _without_dead_letters(platform, credentials_client)

    _deliver(emulators, attack)

    assert _without_dead_letters(platform, credentials_client) == before
    [letter] = _dead_letters(platform)
    assert letter["reason"].startswith("tenant_mismatch: ")
    # Filed in the attacker's own console, not planted in the victim's.
    assert letter["tenant_id"] == OTHER_TENANT
    assert api.balances(chart["cash"])["posted"] == "0.00"
    assert results.receive(expected=0, timeout=1, settle=1) == []


def test_a_valid_key_posts_and_its_use_is_recorded(
    api: Api,
    chart: dict[str, str],
    emulators: Any,
    platform: Any,
    credentials_client: Any,
    results: PullSubscription,
    sign: Sign,
) -> None:
    message = sign()

    _deliver(emulators, message)

    [result] = results.receive(expected=1)
    assert b'"accepted"' in result.data
    assert api.balances(chart["cash"])["posted"] == "666.00"
    used = platform.collection("producer_key_usage").document(message.key_id).get()
    assert used.to_dict()["last_used_at"] is not None
    stored = key_ref(credentials_client, message.key_id).get().to_dict()
    assert str(message.credential) not in str(stored)  # only the hash is kept


def test_a_revoked_key_stops_at_the_next_message(
    api: Api,
    chart: dict[str, str],
    emulators: Any,
    platform: Any,
    credentials_client: Any,
    results: PullSubscription,
    sign: Sign,
) -> None:
    first = sign()
    _deliver(emulators, first)
    assert len(results.receive(expected=1)) == 1
    revoke_key(credentials_client, TENANT, first.key_id, actor=ADMIN)

    again = replace(first, envelope=_request(chart, request_id="INV-Y"))
    _deliver(emulators, again)

    assert api.balances(chart["cash"])["posted"] == "666.00"
    [letter] = _dead_letters(platform)
    assert letter["reason"].startswith("credential_revoked: ")


def test_a_message_from_the_dead_letter_topic_is_filed_under_its_keys_tenant(
    emulators: Any,
    platform: Any,
    pubsub_publisher: Any,
    sign: Sign,
) -> None:
    # A message that exhausted its deliveries reaches T-dlq with its attributes: the
    # recorder files it by the key it presents, not by the tenant it names.
    message = sign(tenant=TENANT, key_tenant=OTHER_TENANT)
    with contextlib.suppress(AlreadyExists):
        pubsub_publisher.create_topic(
            name=pubsub_publisher.topic_path(emulators.project_id, f"{REQUESTS_TOPIC}-dlq")
        )

    _deliver(emulators, message, function="dead_letters", topic=f"{REQUESTS_TOPIC}-dlq")

    [letter] = _dead_letters(platform)
    assert letter["tenant_id"] == OTHER_TENANT
    assert CREDENTIAL_ATTRIBUTE not in letter["attributes"]


def test_one_tenants_producer_cannot_claim_another_tenants_event_id(
    api: Api,
    chart: dict[str, str],
    emulators: Any,
    platform: Any,
    results: PullSubscription,
    sign: Sign,
) -> None:
    # Tenant B's producer publishes first with the event id tenant A will use.
    squatter = sign(tenant=OTHER_TENANT)
    genuine = sign()
    genuine = replace(
        genuine, envelope=genuine.envelope.model_copy(update={"id": squatter.envelope.id})
    )
    _deliver(emulators, squatter)  # answered for B (its accounts do not exist)

    _deliver(emulators, genuine)

    assert api.balances(chart["cash"])["posted"] == "666.00"
    assert not [letter for letter in _dead_letters(platform) if OTHER_TENANT in letter["reason"]]


def test_a_huge_unauthenticated_message_is_kept_truncated_and_not_replayable(
    emulators: Any, platform: Any
) -> None:
    # Pub/Sub carries up to 10 MB; the dead letter must still fit a Firestore document.
    data = b'{"junk": "' + b"x" * 2_000_000 + b'"}'
    load_function("ledger_postings").handle(
        push_event(emulators.project_id, REQUESTS_TOPIC, data, {"type": REQUEST_TYPE})
    )

    [letter] = _dead_letters(platform)
    assert letter["reason"].startswith("credential_missing: ")
    assert (letter["data_size"], letter["data_truncated"]) == (len(data), True)
    assert letter["tenant_id"] is None
