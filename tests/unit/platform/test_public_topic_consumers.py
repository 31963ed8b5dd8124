"""Every consumer of a topic that systems outside Tributum publish to authenticates them."""

from __future__ import annotations

import pytest

from shared.topology import load_manifest
from tests.support.http import load_function

MANIFEST = load_manifest()
PUBLIC = {topic.name for topic in MANIFEST.topics if topic.public}
CONSUMERS = sorted({fn.name for fn in MANIFEST.functions for c in fn.consumes if c.topic in PUBLIC})


def test_a_public_inbound_topic_has_a_consumer() -> None:
    assert CONSUMERS, "the public inbound topics are consumed by someone"


@pytest.mark.parametrize("name", CONSUMERS)
def test_consumers_of_public_topics_require_a_producer_key(name: str) -> None:
    spec = load_function(name).handle.consumer_spec
    assert spec.producer_scope, f"{name} reads a public topic without checking producer keys"
