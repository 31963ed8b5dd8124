"""The instance's one :class:`LedgerService`, created on first use over the instance's client.

A service keeps per-instance state that only helps when it is shared by every
request of the instance: the group committer (concurrent postings share one
transaction) and the account cache. So adapters never build their own; they ask
for this one. It is rebuilt only if the instance's Firestore client was replaced
(tests reset clients between cases).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.clients import firestore_client
from shared.instance import per_instance_over
from shared.ledger.service import LedgerService

if TYPE_CHECKING:
    from google.cloud import firestore


@per_instance_over(firestore_client)
def ledger_service(db: firestore.Client) -> LedgerService:
    return LedgerService(db)
