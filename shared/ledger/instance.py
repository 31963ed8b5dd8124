"""The instance's one :class:`LedgerService`, created on first use over the instance's client.

A service keeps per-instance state that only helps when it is shared by every
request of the instance: the group committer (concurrent postings share one
transaction) and the account cache. So adapters never build their own; they ask
for this one. It is rebuilt only if the instance's Firestore client was replaced
(tests reset clients between cases).
"""

from __future__ import annotations

import threading

from shared.clients import firestore_client
from shared.ledger.service import LedgerService

_lock = threading.Lock()
_service: LedgerService | None = None


def ledger_service() -> LedgerService:
    global _service
    db = firestore_client()
    service = _service
    if service is not None and service.db is db:
        return service
    with _lock:
        if _service is None or _service.db is not db:
            _service = LedgerService(db)
        return _service
