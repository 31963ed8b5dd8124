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
from dataclasses import dataclass
from typing import Any

_TOPIC_MARKER = "/topics/"


class MalformedPushError(ValueError):
    """The delivery is not a Pub/Sub message at all; retrying cannot help."""


@dataclass(frozen=True, slots=True)
class PushedMessage:
    topic: str
    message_id: str
    data: bytes
    attributes: dict[str, str]
    publish_time: str | None


def decode_push(cloud_event: Any) -> PushedMessage:
    """The Pub/Sub message inside a functions-framework CloudEvent."""
    payload = getattr(cloud_event, "data", None)
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, dict):
        raise MalformedPushError("the CloudEvent carries no Pub/Sub message")
    try:
        data = base64.b64decode(message.get("data") or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise MalformedPushError("message data is not base64") from None
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise MalformedPushError("message attributes are not a map")
    source = ""
    try:
        source = str(cloud_event["source"])
    except (KeyError, TypeError):
        source = ""
    topic = source.rsplit(_TOPIC_MARKER, 1)[1] if _TOPIC_MARKER in source else ""
    message_id = str(message.get("messageId") or message.get("message_id") or "")
    if not message_id:
        raise MalformedPushError("message has no id")
    return PushedMessage(
        topic=topic,
        message_id=message_id,
        data=data,
        attributes={str(k): str(v) for k, v in attributes.items()},
        publish_time=message.get("publishTime"),
    )
