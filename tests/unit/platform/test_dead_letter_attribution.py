"""The dead letters' producer topics are the manifest's public inbound topics, same scopes.

A public topic missing from ``PRODUCER_TOPIC_SCOPES`` would have its dead letters filed
under whatever tenant a message names; a scope differing from its consumer's would
refuse (or accept) keys the consumer judges otherwise.
"""

from __future__ import annotations

from shared.deadletters.attribution import PRODUCER_TOPIC_SCOPES, producer_scope_of
from shared.topology import load_manifest
from tests.support.http import load_function

MANIFEST = load_manifest()
PUBLIC = {topic.name for topic in MANIFEST.topics if topic.public}


def _consumer_scopes() -> dict[str, set[str | None]]:
    """Each public topic one of our functions consumes: its consumers' producer scopes."""
    scopes: dict[str, set[str | None]] = {}
    for function in MANIFEST.functions:
        for consumption in function.consumes:
            if consumption.topic in PUBLIC:
                spec = load_function(function.name).handle.consumer_spec
                scopes.setdefault(consumption.topic, set()).add(spec.producer_scope)
    return scopes


def test_every_inbound_public_topic_is_a_producer_topic_with_its_consumers_scope() -> None:
    inbound = _consumer_scopes()
    assert inbound, "some public topic is consumed inside Tributum"
    assert {topic: {scope} for topic, scope in PRODUCER_TOPIC_SCOPES.items()} == inbound


def test_internal_topics_keep_the_tenant_their_messages_name() -> None:
    internal = {topic.name for topic in MANIFEST.topics if not topic.public}
    assert internal
    assert [topic for topic in internal if producer_scope_of(topic) is not None] == []
