"""Topics and subscriptions from the manifest, created in the Pub/Sub emulator.

The plan is pure (unit-tested); applying it talks to the emulator's REST API,
which keeps the stack's own processes free of gRPC threads. Applying is
idempotent: existing topics are kept and existing subscriptions are updated to
the plan (or recreated when they point at another topic).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.topology import Manifest, RetryPolicy


def push_endpoint(host: str, port: int, project_id: str, topic: str) -> str:
    """functions-framework reads the topic from this path when it builds the CloudEvent."""
    return f"http://{host}:{port}/projects/{project_id}/topics/{topic}"


@dataclass(frozen=True, slots=True)
class SubscriptionPlan:
    name: str
    topic: str
    push_endpoint: str | None  # None: a pull subscription
    ack_deadline_seconds: int
    minimum_backoff_seconds: int | None = None
    maximum_backoff_seconds: int | None = None
    dead_letter_topic: str | None = None
    max_delivery_attempts: int | None = None
    consumer: str | None = None

    def resource(self, project_id: str) -> dict[str, Any]:
        """The subscription as the Pub/Sub REST API spells it."""
        body: dict[str, Any] = {
            "topic": f"projects/{project_id}/topics/{self.topic}",
            "ackDeadlineSeconds": self.ack_deadline_seconds,
            "pushConfig": {"pushEndpoint": self.push_endpoint} if self.push_endpoint else {},
        }
        if self.minimum_backoff_seconds is not None and self.maximum_backoff_seconds is not None:
            body["retryPolicy"] = {
                "minimumBackoff": f"{self.minimum_backoff_seconds}s",
                "maximumBackoff": f"{self.maximum_backoff_seconds}s",
            }
        if self.dead_letter_topic is not None:
            body["deadLetterPolicy"] = {
                "deadLetterTopic": f"projects/{project_id}/topics/{self.dead_letter_topic}",
                "maxDeliveryAttempts": self.max_delivery_attempts,
            }
        return body


@dataclass(frozen=True, slots=True)
class PubSubPlan:
    topics: tuple[str, ...]
    subscriptions: tuple[SubscriptionPlan, ...]

    def subscription(self, name: str) -> SubscriptionPlan:
        return next(s for s in self.subscriptions if s.name == name)


def build_plan(
    manifest: Manifest, project_id: str, ports: Mapping[str, int], host: str
) -> PubSubPlan:
    """Every topic and its ``T-dlq``, the ``T-dlq-sub`` on it, and each consumer's ``T--F``."""
    topics: list[str] = []
    subscriptions: list[SubscriptionPlan] = []
    dead_letter_consumer = manifest.dead_letter_consumer()
    for topic in manifest.topics:
        topics += [topic.name, topic.dead_letter_topic]
        if dead_letter_consumer is not None:
            default = RetryPolicy()
            endpoint = push_endpoint(
                host, ports[dead_letter_consumer.name], project_id, topic.dead_letter_topic
            )
            subscriptions.append(
                SubscriptionPlan(
                    name=topic.dead_letter_subscription,
                    topic=topic.dead_letter_topic,
                    push_endpoint=endpoint,
                    ack_deadline_seconds=default.ack_deadline_seconds,
                    minimum_backoff_seconds=default.minimum_backoff_seconds,
                    maximum_backoff_seconds=default.maximum_backoff_seconds,
                    consumer=dead_letter_consumer.name,
                )
            )
        else:
            # Nobody consumes dead letters: a pull subscription keeps them for inspection.
            subscriptions.append(
                SubscriptionPlan(
                    name=topic.dead_letter_subscription,
                    topic=topic.dead_letter_topic,
                    push_endpoint=None,
                    ack_deadline_seconds=RetryPolicy().ack_deadline_seconds,
                )
            )
    for fn in manifest.functions:
        for consumed in fn.consumes:
            retry = consumed.retry
            subscriptions.append(
                SubscriptionPlan(
                    name=manifest.push_subscription(fn, consumed.topic),
                    topic=consumed.topic,
                    push_endpoint=push_endpoint(host, ports[fn.name], project_id, consumed.topic),
                    ack_deadline_seconds=retry.ack_deadline_seconds,
                    minimum_backoff_seconds=retry.minimum_backoff_seconds,
                    maximum_backoff_seconds=retry.maximum_backoff_seconds,
                    dead_letter_topic=f"{consumed.topic}-dlq",
                    max_delivery_attempts=retry.max_delivery_attempts,
                    consumer=fn.name,
                )
            )
    return PubSubPlan(tuple(topics), tuple(subscriptions))


class PubSubError(RuntimeError):
    """The emulator refused a request; the message says which and why."""


_UPDATE_MASK = "pushConfig,ackDeadlineSeconds,retryPolicy,deadLetterPolicy"


class PubSubRest:
    """The few Pub/Sub emulator REST calls the stack and its tests need."""

    def __init__(self, address: str, project_id: str, timeout: float = 10.0) -> None:
        self.base = f"http://{address}/v1/projects/{project_id}"
        self.project_id = project_id
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return int(response.status), _json(response.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), _json(exc.read())

    def _expect(self, what: str, status: int, answer: dict[str, Any]) -> dict[str, Any]:
        if status != 200:
            message = answer.get("error", {}).get("message", answer)
            raise PubSubError(f"{what}: the Pub/Sub emulator answered {status}: {message}")
        return answer

    def ensure_topic(self, topic: str) -> None:
        status, answer = self._call("PUT", f"/topics/{topic}", {})
        if status != 409:  # 409: it exists already, which is what we want
            self._expect(f"create topic {topic}", status, answer)

    def ensure_subscription(self, plan: SubscriptionPlan) -> None:
        resource = plan.resource(self.project_id)
        path = f"/subscriptions/{plan.name}"
        status, answer = self._call("PUT", path, resource)
        if status != 409:
            self._expect(f"create subscription {plan.name}", status, answer)
            return
        current = self.get_subscription(plan.name)
        if current.get("topic") != resource["topic"]:
            # A subscription's topic cannot change: replace the subscription.
            self._expect(f"delete {plan.name}", *self._call("DELETE", path))
            self._expect(f"create subscription {plan.name}", *self._call("PUT", path, resource))
            return
        update = {key: value for key, value in resource.items() if key != "topic"}
        self._expect(
            f"update subscription {plan.name}",
            *self._call("PATCH", path, {"subscription": update, "updateMask": _UPDATE_MASK}),
        )

    def get_subscription(self, name: str) -> dict[str, Any]:
        return self._expect(f"get {name}", *self._call("GET", f"/subscriptions/{name}"))

    def list_topics(self) -> list[str]:
        answer = self._expect("list topics", *self._call("GET", "/topics?pageSize=1000"))
        return [t["name"].rsplit("/", 1)[1] for t in answer.get("topics", [])]

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str] | None = None) -> str:
        message: dict[str, Any] = {"data": base64.b64encode(data).decode()}
        if attributes:
            message["attributes"] = dict(attributes)
        answer = self._expect(
            f"publish to {topic}",
            *self._call("POST", f"/topics/{topic}:publish", {"messages": [message]}),
        )
        return str(answer["messageIds"][0])

    def pull(self, subscription: str, max_messages: int = 10) -> list[dict[str, Any]]:
        """Pull and acknowledge; each item is the REST ``receivedMessage`` with data decoded."""
        answer = self._expect(
            f"pull {subscription}",
            *self._call(
                "POST",
                f"/subscriptions/{subscription}:pull",
                {"maxMessages": max_messages, "returnImmediately": True},
            ),
        )
        received = answer.get("receivedMessages", [])
        if received:
            self._expect(
                f"acknowledge on {subscription}",
                *self._call(
                    "POST",
                    f"/subscriptions/{subscription}:acknowledge",
                    {"ackIds": [r["ackId"] for r in received]},
                ),
            )
        for item in received:
            message = item.get("message", {})
            message["data"] = base64.b64decode(message.get("data", ""))
        return list(received)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {"raw": raw.decode(errors="replace")}
    return value if isinstance(value, dict) else {"value": value}


def apply_plan(plan: PubSubPlan, address: str, project_id: str) -> None:
    admin = PubSubRest(address, project_id)
    for topic in plan.topics:
        admin.ensure_topic(topic)
    for subscription in plan.subscriptions:
        admin.ensure_subscription(subscription)
