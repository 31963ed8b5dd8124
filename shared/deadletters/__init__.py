"""Dead letters: messages that could never be processed, kept for inspection and replay.

Two ways in, one store: the ``dead_letters`` function records what Pub/Sub
forwards to a dead-letter topic after the subscription's delivery attempts, and
the shared event consumer records permanent failures (malformed, unknown schema)
that it acknowledges at once. Replaying publishes the original data and
attributes to the original topic; consumers deduplicate by event id, so a replay
is processed once. Whose a dead letter is (``attribution.py``): on the producers'
public topics, the tenant of a valid key, never merely the tenant a message names.
"""

from shared.deadletters.store import (
    DEAD_LETTER_COLLECTION,
    SECRET_ATTRIBUTES,
    DeadLetter,
    discard,
    get_dead_letter,
    list_dead_letters,
    record_dead_letter,
    record_rejected,
    replay,
)

__all__ = [
    "DEAD_LETTER_COLLECTION",
    "SECRET_ATTRIBUTES",
    "DeadLetter",
    "discard",
    "get_dead_letter",
    "list_dead_letters",
    "record_dead_letter",
    "record_rejected",
    "replay",
]
