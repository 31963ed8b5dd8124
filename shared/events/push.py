"""Decoding a Pub/Sub push delivery as functions-framework hands it to a CloudEvent function.

functions-framework turns the raw push body into a
``google.cloud.pubsub.topic.v1.messagePublished`` CloudEvent: ``data`` is
``{"message": {"data": base64, "attributes": {...}, "messageId": ..., "publishTime": ...}}``
and ``source`` is ``//pubsub.googleapis.com/projects/P/topics/T`` (taken from the
push endpoint's path, which is why every push endpoint ends in ``/projects/P/topics/T``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import sys
from dataclasses import dataclass
from typing import Any

import orjson

from shared.logger import EXECUTION_ID_HEADER

_TOPIC_MARKER = "/topics/"


class MalformedPushError(ValueError):
    """The delivery cannot be read as a Pub/Sub message; retrying cannot help.

    ``raw`` is what the delivery carried (its CloudEvent data as JSON), ``topic`` and
    ``message_id`` whatever could still be read, so the delivery can be kept as a
    dead letter for inspection.
    """

    def __init__(self, reason: str, *, raw: bytes = b"", topic: str = "", message_id: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.raw = raw
        self.topic = topic
        self.message_id = message_id or "malformed-" + hashlib.sha256(raw).hexdigest()[:32]


def current_execution_id() -> str | None:
    """The execution id of the request being served, if functions-framework serves one."""
    flask = sys.modules.get("flask")  # loaded by functions-framework; never imported here
    if flask is None or not flask.has_request_context():
        return None
    value = flask.request.headers.get(EXECUTION_ID_HEADER)
    return str(value) if value else None


@dataclass(frozen=True, slots=True)
class PushedMessage:
    topic: str
    message_id: str
    data: bytes
    attributes: dict[str, str]
    publish_time: str | None


def _raw(payload: Any) -> bytes:
    try:
        return orjson.dumps(payload, default=str)
    except TypeError:
        return repr(payload).encode()


def decode_push(cloud_event: Any) -> PushedMessage:
    """The Pub/Sub message inside a functions-framework CloudEvent."""
    payload = getattr(cloud_event, "data", None)
    source = ""
    try:
        source = str(cloud_event["source"])
    except (KeyError, TypeError):
        source = ""
    topic = source.rsplit(_TOPIC_MARKER, 1)[1] if _TOPIC_MARKER in source else ""
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, dict):
        raise MalformedPushError(
            "the CloudEvent carries no Pub/Sub message", raw=_raw(payload), topic=topic
        )
    message_id = str(message.get("messageId") or message.get("message_id") or "")

    def malformed(reason: str) -> MalformedPushError:
        return MalformedPushError(reason, raw=_raw(payload), topic=topic, message_id=message_id)

    try:
        data = base64.b64decode(message.get("data") or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise malformed("message data is not base64") from None
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise malformed("message attributes are not a map")
    if not message_id:
        raise malformed("message has no id")
    return PushedMessage(
        topic=topic,
        message_id=message_id,
        data=data,
        attributes={str(k): str(v) for k, v in attributes.items()},
        publish_time=message.get("publishTime"),
    )
