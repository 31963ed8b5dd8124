"""Firestore store and use cases for dead letters (collection ``dead_letters``, main database).

Whose a producer topic's message is depends on the producer key it carries, read in the
credentials database: the recording use cases take that database's client as
``credentials`` besides ``db``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson

from shared import errors
from shared.deadletters.attribution import producer_scope_of, proven_tenant
from shared.events.push import PushedMessage
from shared.events.transact import commit_in_transaction, transact
from shared.identity.actor import Actor
from shared.pagination import DEFAULT_PAGE_SIZE, Page, newest_first
from shared.producers.rules import CREDENTIAL_ATTRIBUTE

if TYPE_CHECKING:
    from google.cloud import firestore

DEAD_LETTER_COLLECTION = "dead_letters"
DEAD_LETTER_SUFFIX = "-dlq"
_PUBSUB_DLQ_ATTRIBUTE_PREFIX = "CloudPubSubDeadLetter"
# A message's data is kept up to this size (base64 and text both fit a Firestore document
# of 1 MiB). Pub/Sub allows 10 MB: a larger message, which anyone allowed to publish to a
# public topic can send, is kept truncated rather than failing its rejection forever.
MAX_STORED_DATA_BYTES = 256 * 1024
# Message attributes that carry a credential; never stored (see shared/producers).
SECRET_ATTRIBUTES = frozenset({CREDENTIAL_ATTRIBUTE})
Status = Literal["stored", "replayed", "discarded"]
# The list's name in its cursors: a cursor of another list is refused.
_LIST_CURSOR = "dead_letters"
# Every stored id is "dlq-<Pub/Sub message id>" or "rej-<40 hex>"; any other text is
# answered as missing without a read (Firestore rejects ids such as "__x__" outright).
_DEAD_LETTER_ID = re.compile(r"^(?:dlq|rej)-[A-Za-z0-9_.-]{1,200}$", re.ASCII)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    topic: str
    tenant_id: str | None
    event_id: str | None
    event_type: str | None
    reason: str
    consumer: str | None
    status: str
    data_base64: str
    data_text: str | None
    attributes: dict[str, str]
    delivery_count: int | None
    source_subscription: str | None
    seen_count: int
    replay_count: int
    first_seen: datetime
    last_seen: datetime
    data_size: int | None = None
    data_truncated: bool = False
    # Secrets in the data (an emailed token, a password) were replaced before storing.
    data_redacted: bool = False
    # The tenant the message itself names: a claim, never used to decide who sees it.
    claimed_tenant_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "topic": self.topic,
            "tenant_id": self.tenant_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "reason": self.reason,
            "consumer": self.consumer,
            "status": self.status,
            "data_base64": self.data_base64,
            "data_text": self.data_text,
            "attributes": self.attributes,
            "delivery_count": self.delivery_count,
            "source_subscription": self.source_subscription,
            "seen_count": self.seen_count,
            "replay_count": self.replay_count,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "data_size": self.data_size,
            "data_truncated": self.data_truncated,
            "data_redacted": self.data_redacted,
            "claimed_tenant_id": self.claimed_tenant_id,
        }

    @classmethod
    def from_document(cls, doc_id: str, doc: dict[str, Any]) -> DeadLetter:
        return cls(
            id=doc_id,
            topic=doc["topic"],
            tenant_id=doc.get("tenant_id"),
            event_id=doc.get("event_id"),
            event_type=doc.get("event_type"),
            reason=doc["reason"],
            consumer=doc.get("consumer"),
            status=doc["status"],
            data_base64=doc["data_base64"],
            data_text=doc.get("data_text"),
            attributes=dict(doc.get("attributes") or {}),
            delivery_count=doc.get("delivery_count"),
            source_subscription=doc.get("source_subscription"),
            seen_count=int(doc.get("seen_count", 1)),
            replay_count=int(doc.get("replay_count", 0)),
            first_seen=doc["first_seen"],
            last_seen=doc["last_seen"],
            data_size=doc.get("data_size"),
            data_truncated=bool(doc.get("data_truncated", False)),
            data_redacted=bool(doc.get("data_redacted", False)),
            claimed_tenant_id=doc.get("claimed_tenant_id"),
        )


def _envelope_fields(data: bytes, attributes: dict[str, str]) -> dict[str, str | None]:
    """The tenant named, event id and type: from attributes or, failing that, the envelope."""
    fields: dict[str, str | None] = {
        "tenant_id": attributes.get("tenant_id"),
        "event_type": attributes.get("type"),
        "event_id": None,
    }
    try:
        envelope = orjson.loads(data)
    except orjson.JSONDecodeError:
        return fields
    if isinstance(envelope, dict):
        for key, field in (("tenant_id", "tenant_id"), ("type", "event_type"), ("id", "event_id")):
            value = envelope.get(key)
            if fields[field] is None and isinstance(value, str):
                fields[field] = value
    return fields


def _kept_attributes(attributes: dict[str, str]) -> dict[str, str]:
    """Attributes minus credentials: a dead letter is read by people and replayed as is."""
    return {k: v for k, v in attributes.items() if k not in SECRET_ATTRIBUTES}


REDACTED = "[redacted]"


def _redacted(data: bytes) -> bytes | None:
    """The JSON data with every secret-named value replaced, or None if it holds none.

    A dead letter is read by the tenant's admins: an emailed reset or invitation token
    in it would let one act as the user it was sent to.
    """
    import orjson

    from shared.logger import is_sensitive_key

    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    found = False

    def scrub(value: Any) -> Any:
        nonlocal found
        if isinstance(value, dict):
            cleaned = {}
            for key, item in value.items():
                if isinstance(key, str) and is_sensitive_key(key) and item not in (None, ""):
                    found = True
                    cleaned[key] = REDACTED
                else:
                    cleaned[key] = scrub(item)
            return cleaned
        if isinstance(value, list):
            return [scrub(item) for item in value]
        return value

    cleaned = scrub(document)
    return orjson.dumps(cleaned) if found else None


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _new_document(
    *,
    topic: str,
    data: bytes,
    attributes: dict[str, str],
    reason: str,
    consumer: str | None,
    delivery_count: int | None,
    source_subscription: str | None,
    now: datetime,
    owner: tuple[str | None] | None = None,
) -> dict[str, Any]:
    fields = _envelope_fields(data, attributes)
    # What the message names is kept apart; whose it is was decided by the caller.
    fields["claimed_tenant_id"] = fields["tenant_id"]
    if owner is not None:
        fields["tenant_id"] = owner[0]
    size = len(data)
    redacted = _redacted(data)
    if redacted is not None:
        data = redacted
    data = data[:MAX_STORED_DATA_BYTES]
    return {
        "topic": topic,
        **fields,
        "reason": reason,
        "consumer": consumer,
        "status": "stored",
        "data_base64": base64.b64encode(data).decode("ascii"),
        "data_text": _text(data),
        "attributes": _kept_attributes(attributes),
        "data_size": size,
        "data_truncated": size > MAX_STORED_DATA_BYTES,
        "data_redacted": redacted is not None,
        "delivery_count": delivery_count,
        "source_subscription": source_subscription,
        "seen_count": 1,
        "replay_count": 0,
        "first_seen": now,
        "last_seen": now,
    }


def _upsert(db: firestore.Client, doc_id: str, document: dict[str, Any]) -> DeadLetter:
    """Create the record, or count one more sighting of it (redelivery of a dead letter)."""
    ref = db.collection(DEAD_LETTER_COLLECTION).document(doc_id)

    def write(transaction: Any) -> dict[str, Any]:
        snapshot = ref.get(transaction=transaction)
        if snapshot.exists:
            current: dict[str, Any] = snapshot.to_dict() or {}
            update = {"last_seen": document["last_seen"], "seen_count": current["seen_count"] + 1}
            transaction.update(ref, update)
            return {**current, **update}
        transaction.create(ref, document)
        return document

    # Recorded by consumers: contention that outlasts the retries is raised as it is
    # (busy=None), so the message is delivered again.
    committed = commit_in_transaction(db, write, name="deadletters.record", busy=None)
    return DeadLetter.from_document(doc_id, committed.result)


def record_dead_letter(
    db: firestore.Client, message: PushedMessage, *, credentials: firestore.Client
) -> DeadLetter:
    """Store a message Pub/Sub forwarded to ``T-dlq`` after exhausting its delivery attempts.

    ``credentials`` (the credentials database) is where the key a producer topic's
    message carries is checked.
    """
    original = {
        k: v
        for k, v in message.attributes.items()
        if not k.startswith(_PUBSUB_DLQ_ATTRIBUTE_PREFIX)
    }
    count = message.attributes.get(f"{_PUBSUB_DLQ_ATTRIBUTE_PREFIX}SourceDeliveryCount")
    topic = message.topic.removesuffix(DEAD_LETTER_SUFFIX)
    # Anyone allowed to publish can reach the dead-letter topic too: the tenant comes from
    # what the message proves, as when the consumer rejects it (see attribution.py).
    document = _new_document(
        topic=topic,
        data=message.data,
        attributes=original,
        reason="delivery attempts exhausted",
        consumer=None,
        delivery_count=int(count) if count and count.isdigit() else None,
        source_subscription=message.attributes.get(
            f"{_PUBSUB_DLQ_ATTRIBUTE_PREFIX}SourceSubscription"
        ),
        now=datetime.now(UTC),
        owner=_owner(credentials, topic, original),
    )
    # The dead-letter message's own id is stable across its redeliveries.
    return _upsert(db, f"dlq-{message.message_id}", document)


def _owner(
    credentials: firestore.Client | None,
    topic: str,
    attributes: dict[str, str],
    owner: tuple[str | None] | None = None,
) -> tuple[str | None] | None:
    """Whose dead letter it is: ``owner`` when the caller knows, else by the topic's rule.

    None keeps the tenant the message names (internal topics: our own functions publish
    them). On a producer topic, a one-element tuple: the tenant a valid key proves in
    ``credentials``, or ``(None,)`` (operators only), so that no message files itself
    under a tenant it merely names. Without ``credentials`` no key can be proven: the
    message is the operators' too.
    """
    if owner is not None:
        return owner
    scope = producer_scope_of(topic)
    if scope is None:
        return None
    if credentials is None:
        return (None,)
    return (proven_tenant(credentials, attributes, scope),)


def record_rejected(
    db: firestore.Client,
    *,
    topic: str,
    message_id: str,
    data: bytes,
    attributes: dict[str, str],
    reason: str,
    consumer: str,
    owner: tuple[str | None] | None = None,
    credentials: firestore.Client | None = None,
) -> DeadLetter:
    """Store a message a consumer rejected as permanently unprocessable, then acknowledged.

    ``owner`` says whose it is (a one-element tuple; ``(None,)`` keeps it for operators
    only). Without it, a message of an internal topic is filed under the tenant it names
    and one of a producer topic under the tenant its valid key proves in ``credentials``
    (the credentials database), if any: none without ``credentials``.
    """
    document = _new_document(
        topic=topic,
        data=data,
        attributes=attributes,
        reason=reason,
        consumer=consumer,
        delivery_count=None,
        source_subscription=None,
        now=datetime.now(UTC),
        owner=_owner(credentials, topic, attributes, owner),
    )
    key = hashlib.sha256(f"{consumer}:{topic}:{message_id}".encode()).hexdigest()[:40]
    return _upsert(db, f"rej-{key}", document)


def _owned(db: firestore.Client, tenant_id: str, dead_letter_id: str) -> Any:
    if not _DEAD_LETTER_ID.match(dead_letter_id):
        raise errors.NotFoundError(f"dead letter {dead_letter_id} not found")
    ref = db.collection(DEAD_LETTER_COLLECTION).document(dead_letter_id)
    snapshot = ref.get()
    if not snapshot.exists or snapshot.get("tenant_id") != tenant_id:
        # Another tenant's dead letter is indistinguishable from a missing one.
        raise errors.NotFoundError(f"dead letter {dead_letter_id} not found")
    return snapshot


def get_dead_letter(db: firestore.Client, tenant_id: str, dead_letter_id: str) -> DeadLetter:
    snapshot = _owned(db, tenant_id, dead_letter_id)
    return DeadLetter.from_document(snapshot.id, snapshot.to_dict() or {})


def list_dead_letters(
    db: firestore.Client,
    tenant_id: str,
    *,
    status: str | None = None,
    topic: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[DeadLetter]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    collection = db.collection(DEAD_LETTER_COLLECTION)
    query = collection.where(filter=FieldFilter("tenant_id", "==", tenant_id))
    if status:
        query = query.where(filter=FieldFilter("status", "==", status))
    if topic:
        query = query.where(filter=FieldFilter("topic", "==", topic))
    # The declared indexes end in first_seen descending, the order newest_first asks.
    return newest_first(
        query,
        time_field="first_seen",
        documents=collection,
        scope=_LIST_CURSOR,
        cursor=cursor,
        limit=limit,
        to_item=lambda d: DeadLetter.from_document(d.id, d.to_dict() or {}),
    )


def _transition(
    db: firestore.Client,
    tenant_id: str,
    dead_letter_id: str,
    *,
    to: Status,
    actor: dict[str, Any],
    note: str | None,
) -> DeadLetter:
    if not _DEAD_LETTER_ID.match(dead_letter_id):
        raise errors.NotFoundError(f"dead letter {dead_letter_id} not found")
    ref = db.collection(DEAD_LETTER_COLLECTION).document(dead_letter_id)

    def write(transaction: Any) -> dict[str, Any]:
        snapshot = ref.get(transaction=transaction)
        if not snapshot.exists or snapshot.get("tenant_id") != tenant_id:
            raise errors.NotFoundError(f"dead letter {dead_letter_id} not found")
        current: dict[str, Any] = snapshot.to_dict() or {}
        if current["status"] == "discarded":
            raise errors.ConflictError(
                f"dead letter {dead_letter_id} was discarded", code="dead_letter_discarded"
            )
        now = datetime.now(UTC)
        update: dict[str, Any] = {"status": to, f"{to}_at": now, f"{to}_by": actor}
        if note:
            update[f"{to}_note"] = note
        if to == "replayed":
            update["replay_count"] = current.get("replay_count", 0) + 1
        transaction.update(ref, update)
        return {**current, **update}

    return DeadLetter.from_document(dead_letter_id, transact(db, write, name=f"deadletters.{to}"))


def replay(
    db: firestore.Client, tenant_id: str, dead_letter_id: str, *, actor: Actor
) -> DeadLetter:
    """Publish the original message to its original topic again, then mark it replayed.

    The publish happens first: if it fails, nothing is marked and the replay can be
    retried. Consumers deduplicate by event id, so replaying twice is harmless.
    """
    from shared.events.publisher import publish_raw

    current = get_dead_letter(db, tenant_id, dead_letter_id)
    if current.status == "discarded":
        raise errors.ConflictError(
            f"dead letter {dead_letter_id} was discarded", code="dead_letter_discarded"
        )
    if current.data_truncated:
        raise errors.ConflictError(
            f"dead letter {dead_letter_id} kept only the first {MAX_STORED_DATA_BYTES} bytes "
            f"of its {current.data_size}: it cannot be replayed",
            code="dead_letter_truncated",
        )
    if current.data_redacted:
        raise errors.ConflictError(
            f"dead letter {dead_letter_id} had secrets removed from its data: replaying it "
            "would deliver a message without them (ask for a new token instead)",
            code="dead_letter_redacted",
        )
    attributes = {**current.attributes, "replayed_from": dead_letter_id}
    publish_raw([(current.topic, base64.b64decode(current.data_base64), attributes)])
    return _transition(
        db, tenant_id, dead_letter_id, to="replayed", actor=actor.to_audit(), note=None
    )


def discard(
    db: firestore.Client,
    tenant_id: str,
    dead_letter_id: str,
    *,
    actor: Actor,
    note: str | None = None,
) -> DeadLetter:
    """Mark a dead letter as deliberately dropped (kept for the record, never replayed)."""
    return _transition(
        db, tenant_id, dead_letter_id, to="discarded", actor=actor.to_audit(), note=note
    )
