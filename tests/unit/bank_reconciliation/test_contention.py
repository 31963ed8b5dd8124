"""A change that keeps meeting contention is a 503 ``contention`` that wrote nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from google.api_core.exceptions import Aborted
from google.cloud import firestore

from shared import resilience
from shared.bank_reconciliation.manual import unmatch_line
from shared.bank_reconciliation.model import BankStatement, StatementLine
from shared.bank_reconciliation.rules import LineStatus, MatchRule, StatementFormat, StatementStatus
from shared.bank_reconciliation.store import (
    line_ref,
    line_to_document,
    statement_ref,
    statement_to_document,
)
from shared.errors import ConflictError, ContentionError
from shared.events.transact import CONTENTION_RETRY
from shared.identity.actor import Actor
from tests.unit import firestore_memory
from tests.unit.firestore_memory import MemoryFirestore, Snapshot

TENANT = "tenant-a"
ACTOR = Actor.system("tests")
NOW = datetime(2030, 1, 31, 12, 0, tzinfo=UTC)


class _IdentifiedSnapshot(Snapshot):
    def __init__(self, data: dict[str, Any] | None, document_id: str) -> None:
        super().__init__(data)
        self.id = document_id


class _Reference(firestore_memory.Reference):
    def collection(self, name: str) -> _Reference:
        return _Reference(self._db, f"{self.path}/{name}")

    def document(self, document_id: str) -> _Reference:
        return _Reference(self._db, f"{self.path}/{document_id}")

    def get(self, transaction: Any = None) -> _IdentifiedSnapshot:
        self._db.reads += 1
        return _IdentifiedSnapshot(self._db.documents.get(self.path), self.path.rsplit("/")[-1])


class _LosingTransaction:
    """Records its writes; its commit always loses to another writer."""

    def __init__(self, db: MemoryFirestore) -> None:
        self._db = db
        self.writes: list[str] = []

    def set(self, reference: Any, data: dict[str, Any]) -> None:
        self.writes.append(reference.path)

    create = update = set

    def delete(self, reference: Any) -> None:
        self.writes.append(reference.path)

    def commit(self) -> None:
        self._db.commits += 1
        raise Aborted("too much contention on these documents")


class _BusyFirestore(MemoryFirestore):
    def collection(self, name: str) -> _Reference:
        return _Reference(self, name)

    def transaction(self, **options: Any) -> Any:
        self.transaction_options.append(options)
        return _LosingTransaction(self)


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> _BusyFirestore:
    monkeypatch.setattr(firestore, "transactional", firestore_memory.transactional)
    monkeypatch.setattr(resilience.SystemClock, "sleep", lambda _self, _seconds: None)
    busy = _BusyFirestore()
    statement = BankStatement(
        id="st1",
        tenant_id=TENANT,
        account_id="acc-bank",
        currency="EUR",
        format=StatementFormat.CSV,
        status=StatementStatus.MATCHED,
        period_start=date(2030, 1, 1),
        period_end=date(2030, 1, 31),
        line_count=2,
        matched_count=1,
        date_window_days=3,
        file_sha256="0" * 64,
        imported_at=NOW,
        imported_by=ACTOR.to_audit(),
    )
    busy.documents[statement_ref(busy, TENANT, "st1").path] = statement_to_document(statement)
    for line_id, matched in (("r000001", True), ("r000002", False)):
        line = StatementLine(
            id=line_id,
            number=int(line_id[1:]),
            booking_date=date(2030, 1, 5),
            value_date=None,
            amount_minor=1250,
            currency="EUR",
            reference="INV-1",
            end_to_end_id="",
            description="",
            status=LineStatus.MATCHED if matched else LineStatus.UNMATCHED,
            entry_ids=("e1",) if matched else (),
            match_rule=MatchRule.MANUAL if matched else None,
            matched_at=NOW if matched else None,
            matched_by=ACTOR.to_audit() if matched else None,
        )
        path = line_ref(busy, TENANT, "st1", line_id).path
        busy.documents[path] = line_to_document(line)
    return busy


def test_contention_outlasting_the_retries_is_the_503_every_domain_answers(
    db: _BusyFirestore,
) -> None:
    before = dict(db.documents)

    with pytest.raises(ContentionError) as refused:
        unmatch_line(db, TENANT, "st1", "r000001", actor=ACTOR)  # type: ignore[arg-type]

    assert (refused.value.status, refused.value.code) == (503, "contention")
    assert refused.value.headers["Retry-After"] == "1"
    assert "the statement line" in refused.value.detail
    assert db.commits == CONTENTION_RETRY.max_attempts
    assert db.documents == before


def test_a_refusal_is_answered_at_once_and_writes_nothing(db: _BusyFirestore) -> None:
    before = dict(db.documents)

    with pytest.raises(ConflictError) as refused:
        unmatch_line(db, TENANT, "st1", "r000002", actor=ACTOR)  # type: ignore[arg-type]

    assert refused.value.code == "statement_line_not_matched"
    assert db.commits == 0
    assert db.documents == before
