"""When each producer key was last used: ``producer_key_usage/{key id}`` in the main database.

A key's record lives in the credentials database, which every HTTP function may only
read (they authenticate callers with it) and only the ``producer_keys`` function may
write. Yet any function that accepts a key notes its use. So the note lives apart, in
the main database, as ``{"last_used_at": <instant>}``, and the key listing and reading
(``shared.producers.service``) merge it into the key: the API shows ``last_used_at``
as before.

The note is bookkeeping: written best effort (a failed write never refuses a request
or a message), at most once a minute per key per instance (a busy client must not
turn every request into a write), and not attempted at all where the function may
only read the main database (``firestore.access.main == "read"``, e.g. ``audit``):
its deployment could not write it, so a key's use there goes unrecorded.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.producers.model import ProducerKey

if TYPE_CHECKING:
    from google.cloud import firestore

PRODUCER_KEY_USAGE = "producer_key_usage"
# ``last_used_at`` is refreshed at most this often: a busy producer must not turn
# every message into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_MAX_REMEMBERED = 10_000


def usage_ref(db: firestore.Client, key_id: str) -> Any:
    return db.collection(PRODUCER_KEY_USAGE).document(key_id)


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return datetime.fromtimestamp(value.timestamp(), UTC)


def read_last_used(db: firestore.Client, key_ids: Iterable[str]) -> dict[str, datetime]:
    """The noted last use of each key that has one (one batched read)."""
    references = [usage_ref(db, key_id) for key_id in dict.fromkeys(key_ids)]
    if not references:
        return {}
    found: dict[str, datetime] = {}
    for snapshot in db.get_all(references):
        if snapshot.exists:
            used = _aware((snapshot.to_dict() or {}).get("last_used_at"))
            if used is not None:
                found[snapshot.id] = used
    return found


def with_last_use(keys: Sequence[ProducerKey], used: dict[str, datetime]) -> list[ProducerKey]:
    """The keys with their last use: the later of the note and the record's own field
    (keys used before the note existed carry it on their record)."""
    merged = []
    for key in keys:
        noted = used.get(key.id)
        if noted is not None and (key.last_used_at is None or noted > key.last_used_at):
            key = replace(key, last_used_at=noted)
        merged.append(key)
    return merged


def may_record_usage() -> bool:
    """False where the function may only read the main database: no write is attempted."""
    from shared.config import get_settings

    access = get_settings().firestore.access
    return access is None or access.main == "write"


class UsageRecorder:
    """Notes a key's use at most once per :data:`LAST_USED_RESOLUTION` on this instance.

    Thread-safe; remembers the last :data:`_MAX_REMEMBERED` keys it wrote for.
    """

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._written: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, db: Callable[[], firestore.Client], key_id: str, now: datetime) -> bool:
        """Note that ``key_id`` was used at ``now`` unless noted within the minute here;
        True when a write was attempted. ``db`` gives the main database's client (called
        only when a write is due)."""
        if not may_record_usage():
            return False
        tick = self._monotonic()
        with self._lock:
            written = self._written.get(key_id)
            if written is not None and tick - written < LAST_USED_RESOLUTION.total_seconds():
                return False
            self._written[key_id] = tick
            self._written.move_to_end(key_id)
            while len(self._written) > _MAX_REMEMBERED:
                self._written.popitem(last=False)
        # Best effort: bookkeeping never refuses a valid request or message.
        with contextlib.suppress(Exception):
            usage_ref(db(), key_id).set({"last_used_at": now}, merge=True)
        return True
