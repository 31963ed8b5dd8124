"""The linked-entries use case: several journal entries that post all or none.

TigerBeetle's linked transfers for the ledger: a finance user books, say, a sale,
its fee and its tax as separate entries that must never land one without the others.
The batch goes through the posting machinery of single entries
(``EntryUseCases._commit_postings``) in its *linked* mode: one Firestore transaction,
each entry decided in order against what the earlier ones leave (so balance
constraints apply to the batch's entries together), each with its own id, events and
audit record in the outbox, and each recording the batch's id. The first refusal
rolls the transaction back: nothing of the batch is written. The batch's rules are
pure functions in :mod:`shared.ledger.batches`.

In the group commit's queue the batch weighs the whole write budget, so it commits
in a transaction of its own (a refusal must never be another posting's outcome) while
taking its turn with the tenant's other postings on the instance: batches and postings
of one instance never contend with each other.
"""

from __future__ import annotations

from shared.identity.actor import Actor
from shared.ledger import batches
from shared.ledger.entries import EntryUseCases, LinkedPostings, PostingCommand, QueuedOutcome
from shared.ledger.model import new_id
from shared.ledger.requests import PostLinkedEntriesRequest


class LinkedEntryUseCases(EntryUseCases):
    def post_linked_entries(
        self,
        tenant_id: str,
        request: PostLinkedEntriesRequest,
        *,
        actor: Actor,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> batches.LinkedBatch:
        """Post every entry of ``request`` in one transaction, or none of them.

        A refusal of any entry (its shape, its accounts, the closed period, a balance
        constraint counting the earlier entries of the batch) is raised with its fields
        under ``entries.<index>`` and nothing is written. With an ``idempotency_key``
        the batch's id and its entries' ids derive from it, so a retry after a lost
        answer gets the batch it committed instead of posting it twice.
        """
        recorded = actor.to_audit()
        now = self._now()
        batch_id = (
            batches.batch_id_for_key(idempotency_key)
            if idempotency_key is not None
            else new_id(batches.BATCH_ID_PREFIX)
        )
        parsed = batches.parse_linked_entries(
            request, now=now, default_timeout=self.settings.default_hold_timeout
        )
        commands = [
            PostingCommand(
                tenant_id=tenant_id,
                entry_id=item.request.entry_id or batches.linked_entry_id(batch_id, index),
                request=item.request,
                proposed=item.proposed,
                effective_date=item.effective_date,
                expires_at=item.expires_at,
                fingerprint=batches.linked_fingerprint(batch_id, request, index),
                actor=recorded,
                correlation_id=correlation_id,
                created_at=now,
                # A retry may follow a commit whose answer was lost; a client-chosen id
                # may exist already. Both are told apart by the fingerprint.
                check_existing=True,
                batch_id=batch_id,
            )
            for index, item in enumerate(parsed)
        ]
        batches.check_linked_batch(
            [entry.entry_id for entry in request.entries],
            [command.writes for command in commands],
            max_writes=self.settings.max_batch_writes,
        )

        queued = LinkedPostings(tuple(commands), writes=self.settings.max_batch_writes)

        result: QueuedOutcome | BaseException
        if self.settings.group_commit:
            result = self._committer.submit(tenant_id, queued)
        else:
            outcome = self._commit_queued(tenant_id, [queued])
            if outcome.after_release is not None:
                outcome.after_release()  # publishes the committed events
            (result,) = outcome.outcomes
        if isinstance(result, BaseException):  # linked mode raises instead
            raise result
        assert isinstance(result, list)  # a linked batch's outcome
        return batches.LinkedBatch(batch_id, tuple(result))
