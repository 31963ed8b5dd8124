"""A producer topic's dead letter is filed under the tenant its valid key proves, or none.

Anyone allowed to publish to ``ledger-posting-requests`` reaches its dead-letter topic
too. The tenant a message names is a claim: filing it there would plant a record in
that tenant's dead-letter list. Internal topics keep the tenant their messages name.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.deadletters import record_rejected
from shared.deadletters.attribution import PRODUCER_TOPIC_SCOPES
from shared.events.envelope import EventEnvelope, new_event
from shared.identity.actor import Actor
from shared.producers import CREDENTIAL_ATTRIBUTE, CreateProducerKeyRequest, create_key, revoke_key
from shared.producers.store import key_ref
from tests.integration.deadletters.conftest import dead_letter_event
from tests.support.http import RouterClient, load_function

PRODUCER_TOPIC = "ledger-posting-requests"
KEY_OWNER = Actor.user("u-owner", role="owner")
# The tenant of the API's ``admin`` principal, and of ``other``'s.
TENANT_A, TENANT_B = "tenant-a", "tenant-b"


def _posting_request(claimed_tenant: str) -> EventEnvelope:
    return new_event(
        "ledger.posting_requested",
        source="billing",
        subject="invoices/INV-1",
        tenant_id=claimed_tenant,
        data={"request_id": "INV-1", "posting": {"lines": []}},
    )


def _key(db: Any, tenant: str) -> str:
    request = CreateProducerKeyRequest(name="billing", scopes=["ledger:post"])
    return create_key(db, tenant, request, actor=KEY_OWNER).credential


def _key_id(credential: str) -> str:
    return credential.split("_")[2]


def _dead_letter(
    emulators: Any, envelope: EventEnvelope, credential: str | None, topic: str = PRODUCER_TOPIC
) -> str:
    """Push ``envelope`` to the dead_letters function as ``{topic}-dlq``; its record id."""
    attributes = {
        **envelope.attributes(),
        "CloudPubSubDeadLetterSourceDeliveryCount": "5",
        "CloudPubSubDeadLetterSourceSubscription": f"{topic}--ledger_postings",
    }
    if credential is not None:
        attributes[CREDENTIAL_ATTRIBUTE] = credential
    message_id = uuid.uuid4().hex
    load_function("dead_letters").handle(
        dead_letter_event(emulators.project_id, topic, envelope.to_bytes(), message_id, attributes)
    )
    return f"dlq-{message_id}"


def _stored(db: Any, dead_letter_id: str) -> dict[str, Any]:
    return db.collection("dead_letters").document(dead_letter_id).get().to_dict() or {}


def _listed(api: RouterClient, token: str) -> list[dict[str, Any]]:
    page = api.get("/v1/dead-letters", token=token)
    assert page.status == 200, page.json
    return list(page.data)


def _assert_unattributed(api: RouterClient, db: Any, dead_letter_id: str, claimed: str) -> None:
    """Kept for operators (the record, with the claim apart) and shown to no tenant."""
    stored = _stored(db, dead_letter_id)
    assert stored["tenant_id"] is None
    assert stored["claimed_tenant_id"] == claimed
    assert CREDENTIAL_ATTRIBUTE not in stored["attributes"]
    for token in ("admin", "other"):
        assert _listed(api, token) == []
        assert api.get(f"/v1/dead-letters/{dead_letter_id}", token=token).status == 404
        replay = api.post(f"/v1/dead-letters/{dead_letter_id}/replay", token=token)
        discard = api.post(f"/v1/dead-letters/{dead_letter_id}/discard", token=token, json={})
        assert (replay.status, discard.status) == (404, 404)
    assert _stored(db, dead_letter_id)["status"] == "stored"


def test_a_message_without_a_credential_is_never_filed_under_the_tenant_it_names(
    api: RouterClient, emulators: Any, firestore_client: Any
) -> None:
    dead_letter_id = _dead_letter(emulators, _posting_request(TENANT_B), credential=None)

    _assert_unattributed(api, firestore_client, dead_letter_id, claimed=TENANT_B)


def test_a_valid_key_files_the_message_under_its_tenant_whatever_the_message_claims(
    api: RouterClient, emulators: Any, firestore_client: Any, credentials_client: Any
) -> None:
    credential = _key(credentials_client, TENANT_A)

    dead_letter_id = _dead_letter(emulators, _posting_request(TENANT_B), credential)

    [letter] = _listed(api, "admin")
    assert letter["id"] == dead_letter_id
    assert (letter["tenant_id"], letter["claimed_tenant_id"]) == (TENANT_A, TENANT_B)
    assert CREDENTIAL_ATTRIBUTE not in letter["attributes"]
    assert _listed(api, "other") == []
    # Recording a dead letter is no use of the key.
    assert key_ref(credentials_client, _key_id(credential)).get().get("last_used_at") is None
    usage = firestore_client.collection("producer_key_usage").document(_key_id(credential))
    assert not usage.get().exists


def _forged_secret(db: Any, credential: str) -> str:
    return credential[:-43] + "A" * 43


def _unknown_key(db: Any, credential: str) -> str:
    return "trb_pk_pk" + "0" * 24 + credential[-44:]


def _revoked(db: Any, credential: str) -> str:
    revoke_key(db, TENANT_A, _key_id(credential), actor=KEY_OWNER)
    return credential


def _expired(db: Any, credential: str) -> str:
    expired = datetime.now(UTC) - timedelta(days=1)
    key_ref(db, _key_id(credential)).update({"expires_at": expired})
    return credential


def _without_the_scope(db: Any, credential: str) -> str:
    key_ref(db, _key_id(credential)).update({"scopes": []})
    return credential


# Each turns tenant-a's valid credential into one that proves nothing.
REFUSED_CREDENTIALS: dict[str, Callable[[Any, str], str]] = {
    "malformed": lambda db, credential: "Bearer abc",
    "forged_secret": _forged_secret,
    "unknown_key": _unknown_key,
    "revoked": _revoked,
    "expired": _expired,
    "out_of_scope": _without_the_scope,
}


@pytest.mark.parametrize("case", list(REFUSED_CREDENTIALS))
@pytest.mark.parametrize("claimed", [TENANT_A, TENANT_B])
def test_a_credential_that_proves_no_valid_key_files_the_message_under_no_tenant(
    case: str,
    claimed: str,
    api: RouterClient,
    emulators: Any,
    firestore_client: Any,
    credentials_client: Any,
) -> None:
    credential = REFUSED_CREDENTIALS[case](credentials_client, _key(credentials_client, TENANT_A))

    dead_letter_id = _dead_letter(emulators, _posting_request(claimed), credential)

    _assert_unattributed(api, firestore_client, dead_letter_id, claimed=claimed)


def test_a_rejection_recorded_without_an_owner_follows_the_same_rule(
    api: RouterClient, firestore_client: Any, credentials_client: Any
) -> None:
    envelope = _posting_request(TENANT_B)
    stored = record_rejected(
        firestore_client,
        topic=PRODUCER_TOPIC,
        message_id=uuid.uuid4().hex,
        data=envelope.to_bytes(),
        attributes=envelope.attributes(),
        reason="unknown event type",
        consumer="ledger_postings",
        credentials=credentials_client,
    )

    _assert_unattributed(api, firestore_client, stored.id, claimed=TENANT_B)


def test_an_internal_topics_message_keeps_the_tenant_it_names(
    api: RouterClient, emulators: Any, firestore_client: Any
) -> None:
    assert "ledger-events" not in PRODUCER_TOPIC_SCOPES
    envelope = new_event(
        "ledger.entry_posted", source="journal", subject="entries/e-1", tenant_id=TENANT_B,
        data={"entry_id": "e-1"},
    )  # fmt: skip

    dead_letter_id = _dead_letter(emulators, envelope, credential=None, topic="ledger-events")

    [letter] = _listed(api, "other")
    assert letter["id"] == dead_letter_id
    assert (letter["tenant_id"], letter["claimed_tenant_id"]) == (TENANT_B, TENANT_B)
    assert _listed(api, "admin") == []
