"""Emails published after the commit on their own: a failing publish of one group does not
hold back the other, and only an email that reached its topic loses its outbox record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.envelope import new_event
from shared.events.outbox import OUTBOX_COLLECTION, StagedEvent, add_to_outbox
from shared.users import mail_outbox
from shared.users.mail_outbox import publish_with_mail, stage_mail
from shared.users.model import EVENT_SOURCE, MAIL_TOPIC, USER_INVITED
from tests.integration.users.conftest import Identity, documents


class FlakyPublish:
    """Stands in for ``publish_committed``: records each group, fails for ``failing`` topics."""

    def __init__(self, failing: set[str]) -> None:
        self.groups: list[list[str]] = []
        self.failing = failing

    def __call__(self, db: Any, staged: Sequence[StagedEvent]) -> None:
        if not staged:
            return
        self.groups.append([s.topic for s in staged])
        if {s.topic for s in staged} & self.failing:
            raise RuntimeError("topic unreachable")


def _commit_audit_and_mail(db: Any) -> list[StagedEvent]:
    audit = audit_event(
        "user.invited",
        tenant_id="t-mail",
        actor={"type": "system"},
        resource_type="user_invitation",
        resource_id="i-1",
        details={},
        source=EVENT_SOURCE,
    )
    mail = new_event(
        USER_INVITED, source=EVENT_SOURCE, subject="i-1", tenant_id="t-mail", data={"token": "s"}
    )
    batch = db.batch()
    staged = [add_to_outbox(batch, db, AUDIT_TOPIC, audit), stage_mail(batch, db, mail)]
    batch.commit()
    return staged


def test_an_unreachable_event_topic_does_not_hold_the_email_back(
    identity: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit, mail = _commit_audit_and_mail(identity.db)
    publish = FlakyPublish(failing={AUDIT_TOPIC})
    monkeypatch.setattr(mail_outbox, "publish_committed", publish)

    with pytest.raises(RuntimeError):
        publish_with_mail(identity.db, [mail, audit])

    assert publish.groups == [[AUDIT_TOPIC], [MAIL_TOPIC]]
    records = documents(identity.db, OUTBOX_COLLECTION)
    # The email reached its topic: its record (the token) is gone; the audit event waits
    # for the relay.
    assert mail.envelope.id not in records
    assert records[audit.envelope.id]["status"] == "pending"


def test_an_unreachable_mail_topic_keeps_the_email_for_the_relay(
    identity: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit, mail = _commit_audit_and_mail(identity.db)
    publish = FlakyPublish(failing={MAIL_TOPIC})
    monkeypatch.setattr(mail_outbox, "publish_committed", publish)

    with pytest.raises(RuntimeError):
        publish_with_mail(identity.db, [audit, mail])

    assert publish.groups == [[AUDIT_TOPIC], [MAIL_TOPIC]]
    records = documents(identity.db, OUTBOX_COLLECTION)
    assert records[mail.envelope.id]["status"] == "pending"
