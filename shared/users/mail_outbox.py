"""Emails that carry a token, through the outbox: staged with the change that issues the token,
published after the commit, and their outbox record deleted as soon as they are on the topic.

Published outbox records are otherwise kept a week, and these hold a token (an invitation's,
an address verification's, a password reset's). If the publish fails, the relay publishes the
record later and it stays until the outbox's own expiry; the token's lifetime bounds what it
is worth. Every use case that stages an email commits with ``publisher=publish_with_mail``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shared.events.envelope import EventEnvelope
from shared.events.outbox import OUTBOX_COLLECTION, StagedEvent, add_to_outbox, publish_committed
from shared.logger import get_logger
from shared.users.model import MAIL_TOPIC

if TYPE_CHECKING:
    from google.cloud import firestore

_log = get_logger("shared.users.mail_outbox")


def stage_mail(writer: Any, db: firestore.Client, mail: EventEnvelope) -> StagedEvent:
    """Stage one email event on the mail topic in ``writer`` (a batch or a transaction)."""
    return add_to_outbox(writer, db, MAIL_TOPIC, mail)


def publish_with_mail(db: firestore.Client, staged: Sequence[StagedEvent]) -> None:
    """The publisher of a change that may stage emails (pass it as ``publisher=`` to
    ``shared.events.transact``): its other events, then the emails among them (those on
    :data:`MAIL_TOPIC`), whose outbox records (their tokens) are deleted once published.

    The emails go in a publish of their own, so a mail topic that cannot be reached
    leaves only them pending for the relay, not the change's other events; and the
    other events failing does not hold the emails back. A failure is raised after both
    were tried, and the commit path logs it and leaves the rest to the relay.
    """
    emails = [s for s in staged if s.topic == MAIL_TOPIC]
    try:
        publish_committed(db, [s for s in staged if s.topic != MAIL_TOPIC])
    finally:
        if emails:
            publish_committed(db, emails)
            _forget(db, [s.envelope.id for s in emails])


def _forget(db: firestore.Client, event_ids: Sequence[str]) -> None:
    for event_id in event_ids:
        try:
            db.collection(OUTBOX_COLLECTION).document(event_id).delete()
        except Exception as exc:
            # The token expires whatever happens to the record.
            _log.warning("users.mail_record_kept", event_id=event_id, error=type(exc).__name__)
