"""Publishing and the outbox record: no ordering keys, since no subscription orders."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest

from shared.events import outbox, publisher
from shared.events.envelope import EventEnvelope, new_event


class FakePublisher:
    """Records every publish call; a topic named in ``failing`` fails its future."""

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.calls: list[tuple[str, bytes, dict[str, Any]]] = []
        self.failing = failing

    def publish(self, topic: str, data: bytes, **kwargs: Any) -> Future[str]:
        self.calls.append((topic, data, kwargs))
        future: Future[str] = Future()
        if topic in self.failing:
            future.set_exception(RuntimeError(f"publish to {topic} failed"))
        else:
            future.set_result(f"id-{len(self.calls)}")
        return future

    def resume_publish(self, topic: str, ordering_key: str) -> None:
        raise AssertionError("nothing publishes with an ordering key, so nothing resumes")


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> FakePublisher:
    fake = FakePublisher(failing=frozenset({"topics/broken"}))
    monkeypatch.setattr(publisher, "publisher_client", lambda: fake)
    monkeypatch.setattr(publisher, "topic_path", lambda topic: f"topics/{topic}")
    return fake


def _event(subject: str = "entries/e-1") -> EventEnvelope:
    return new_event(
        "ledger.entry_posted",
        source="ledger",
        subject=subject,
        tenant_id="t-1",
        data={"entry_id": "e-1"},
        correlation_id="c-1",
    )


def test_envelopes_are_published_with_their_attributes_and_no_ordering_key(
    client: FakePublisher,
) -> None:
    first, second = _event("entries/e-1"), _event("entries/e-2")
    ids = publisher.publish_envelopes([("ledger-events", first), ("audit-events", second)])
    assert ids == ["id-1", "id-2"]
    assert client.calls == [
        ("topics/ledger-events", first.to_bytes(), first.attributes()),
        ("topics/audit-events", second.to_bytes(), second.attributes()),
    ]


def test_the_first_failure_is_raised_after_every_message_settled(client: FakePublisher) -> None:
    with pytest.raises(RuntimeError, match="publish to topics/broken failed"):
        publisher.publish_raw([("broken", b"a", {}), ("ledger-events", b"b", {"type": "x"})])
    assert [topic for topic, _, _ in client.calls] == ["topics/broken", "topics/ledger-events"]


class FakeDocument:
    def __init__(self, path: str) -> None:
        self.path = path


class FakeDb:
    def collection(self, name: str) -> FakeDb:
        self.name = name
        return self

    def document(self, document_id: str) -> FakeDocument:
        return FakeDocument(f"{self.name}/{document_id}")


class FakeWriter:
    def __init__(self) -> None:
        self.created: dict[str, dict[str, Any]] = {}

    def create(self, document: FakeDocument, data: dict[str, Any]) -> None:
        self.created[document.path] = data


def test_the_outbox_stages_an_event_without_an_ordering_key() -> None:
    writer, envelope = FakeWriter(), _event()
    staged = outbox.add_to_outbox(writer, FakeDb(), "ledger-events", envelope)
    assert staged == outbox.StagedEvent("ledger-events", envelope)
    record = writer.created[f"outbox/{envelope.id}"]
    assert "ordering_key" not in record
    assert record["topic"] == "ledger-events"
    assert record["data"] == envelope.to_bytes()
    assert record["status"] == outbox.STATUS_PENDING


def test_the_outbox_refuses_an_ordering_key() -> None:
    with pytest.raises(TypeError):
        outbox.add_to_outbox(
            FakeWriter(), FakeDb(), "ledger-events", _event(), ordering_key="t-1/e-1"
        )
