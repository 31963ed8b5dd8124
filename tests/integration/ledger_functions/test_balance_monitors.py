"""Balance monitors: created through the accounts function, evaluated by balance_monitors.

The ledger events the journal stages in the outbox are pushed to the consumer as Pub/Sub
would push them; each crossing is recorded once, with its event, whatever the order or
the number of deliveries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.events.envelope import EventEnvelope
from shared.events.outbox import OUTBOX_COLLECTION
from tests.integration.events.conftest import push_envelope
from tests.integration.ledger_functions.conftest import Api
from tests.support.http import load_function

State = Callable[[], dict[str, dict[str, Any]]]


def _outbox(db: Any, *types: str) -> list[EventEnvelope]:
    records = sorted(
        (s.to_dict() or {} for s in db.collection(OUTBOX_COLLECTION).stream()),
        key=lambda r: r["created_at"],
    )
    envelopes = [EventEnvelope.model_validate_json(r["data"]) for r in records]
    return [e for e in envelopes if not types or e.type in types]


class Monitors:
    def __init__(self, api: Api, db: Any, project_id: str) -> None:
        self.api, self.db, self.project_id = api, db, project_id
        self.consumer = load_function("balance_monitors").handle
        self.pushed: set[str] = set()

    def create(self, account_id: str, body: dict[str, Any], who: str = "accountant") -> Any:
        return self.api.accounts.post(f"/v1/accounts/{account_id}/monitors", json=body, token=who)

    def push_new_ledger_events(self) -> None:
        """Deliver every ledger event not delivered yet, as the push subscription would."""
        for envelope in _outbox(self.db):
            if envelope.type.startswith("ledger.") and envelope.id not in self.pushed:
                self.pushed.add(envelope.id)
                self.consumer(push_envelope(self.project_id, "ledger-events", envelope))

    def crossings(self) -> list[tuple[str, str]]:
        found = _outbox(
            self.db, "ledger.balance_monitor_triggered", "ledger.balance_monitor_cleared"
        )
        return [(e.data["monitor"]["id"], e.data["crossing"]) for e in found]


@pytest.fixture
def monitors(api: Api, platform: Any, emulators: Any) -> Monitors:
    return Monitors(api, platform, emulators.project_id)


def test_a_monitor_triggers_and_clears_once_each_as_the_balance_crosses(
    api: Api, monitors: Monitors, platform: Any, emulators: Any
) -> None:
    cash = api.create_account("1000-cash")
    equity = api.create_account("3000-equity", type="equity")
    created = monitors.create(
        cash,
        {
            "condition": {"balance": "posted", "operator": "gte", "amount": "1000.00"},
            "description": "Sweep the surplus",
        },
    )
    assert created.status == 201, created.json
    monitor = created.data
    assert monitor["met"] is False
    assert monitor["condition"] == {"balance": "posted", "operator": "gte", "amount": "1000.00"}
    assert created.headers["Location"] == f"/v1/accounts/{cash}/monitors/{monitor['id']}"

    assert api.post((cash, "debit", "600.00"), (equity, "credit", "600.00")).status == 201
    monitors.push_new_ledger_events()
    assert monitors.crossings() == []

    assert api.post((cash, "debit", "400.00"), (equity, "credit", "400.00")).status == 201
    monitors.push_new_ledger_events()
    assert monitors.crossings() == [(monitor["id"], "triggered")]
    [event] = _outbox(platform, "ledger.balance_monitor_triggered")
    assert event.tenant_id == "tenant-a"
    assert event.data["balances"]["posted"] == "1000.00"
    assert event.data["monitor"]["met"] is True

    # Every delivery again (a redelivery, a replay): nothing new.
    consumer = load_function("balance_monitors").handle
    for envelope in _outbox(platform, "ledger.entry_posted"):
        consumer(push_envelope(emulators.project_id, "ledger-events", envelope))
    assert monitors.crossings() == [(monitor["id"], "triggered")]

    assert api.post((equity, "debit", "0.01"), (cash, "credit", "0.01")).status == 201
    monitors.push_new_ledger_events()
    assert monitors.crossings() == [(monitor["id"], "triggered"), (monitor["id"], "cleared")]

    read = api.accounts.get(f"/v1/accounts/{cash}/monitors/{monitor['id']}", token="viewer")
    assert read.status == 200, read.json
    assert read.data["met"] is False
    assert read.data["last_crossed_at"] is not None
    audit = [e.data["action"] for e in _outbox(platform, "audit.recorded")]
    assert "ledger.balance_monitor.created" in audit
    assert audit.count("ledger.balance_monitor.triggered") == 1
    assert audit.count("ledger.balance_monitor.cleared") == 1


def test_available_balance_monitors_see_holds(api: Api, monitors: Monitors) -> None:
    cash = api.create_account("1000-cash")
    equity = api.create_account("3000-equity", type="equity")
    assert api.post((cash, "debit", "100.00"), (equity, "credit", "100.00")).status == 201
    low = monitors.create(
        cash, {"condition": {"balance": "available", "operator": "lt", "amount": "50.00"}}
    ).data
    hold = api.post((equity, "debit", "60.00"), (cash, "credit", "60.00"), pending=True)
    assert hold.status == 201, hold.json
    monitors.push_new_ledger_events()
    assert monitors.crossings() == [(low["id"], "triggered")]
    assert api.action(hold.data["id"], "void", {"reason": "not needed"}).status == 200
    monitors.push_new_ledger_events()
    assert monitors.crossings() == [(low["id"], "triggered"), (low["id"], "cleared")]


def test_monitors_are_listed_and_deleted_and_a_deleted_one_is_gone(
    api: Api, monitors: Monitors
) -> None:
    cash = api.create_account("1000-cash")
    first = monitors.create(cash, {"condition": {"operator": "gt", "amount": "10.00"}}).data
    second = monitors.create(cash, {"condition": {"operator": "lt", "amount": "-5.00"}}).data
    listed = api.accounts.get(f"/v1/accounts/{cash}/monitors", token="viewer")
    assert [m["id"] for m in listed.data] == [first["id"], second["id"]]

    path = f"/v1/accounts/{cash}/monitors/{first['id']}"
    assert api.accounts.request("DELETE", path, token="accountant").status == 204
    assert api.accounts.get(path, token="viewer").status == 404
    assert api.accounts.request("DELETE", path, token="accountant").status == 404
    remaining = api.accounts.get(f"/v1/accounts/{cash}/monitors", token="viewer").data
    assert [m["id"] for m in remaining] == [second["id"]]


@pytest.mark.parametrize(
    ("body", "status", "field", "code"),
    [
        ({"condition": {"operator": "gt", "amount": "10.001"}}, 422, "condition.amount", None),
        ({"condition": {"operator": "above", "amount": "10.00"}}, 422, "condition.operator", None),
        ({"condition": {"operator": "gt", "amount": 10}}, 422, "condition.amount", None),
        ({"condition": {"operator": "gt"}}, 422, "condition.amount", None),
        ({"condition": {"operator": "gt", "amount": "1"}, "extra": 1}, 422, "extra", None),
    ],
)
def test_a_bad_monitor_is_refused_naming_the_field_and_nothing_is_written(
    api: Api,
    monitors: Monitors,
    state: State,
    body: dict[str, Any],
    status: int,
    field: str,
    code: str | None,
) -> None:
    cash = api.create_account("1000-cash")
    before = state()
    refused = monitors.create(cash, body)
    assert refused.status == status, refused.json
    assert field in [e["field"] for e in refused.json["errors"]], refused.json
    assert state() == before


def test_unknown_accounts_other_tenants_viewers_and_a_full_account_are_refused(
    api: Api, monitors: Monitors, state: State
) -> None:
    cash = api.create_account("1000-cash")
    body = {"condition": {"operator": "gt", "amount": "1.00"}}
    for _ in range(10):
        assert monitors.create(cash, body).status == 201
    before = state()

    full = monitors.create(cash, body)
    assert full.status == 422, full.json
    assert full.json["errors"][0]["code"] == "too_many_monitors"
    assert monitors.create("acc_unknown", body).status == 404
    assert monitors.create(cash, body, who="other").status == 404
    assert monitors.create(cash, body, who="viewer").status == 403
    some = api.accounts.get(f"/v1/accounts/{cash}/monitors", token="viewer").data[0]
    theirs = api.accounts.request(
        "DELETE", f"/v1/accounts/{cash}/monitors/{some['id']}", token="other"
    )
    assert theirs.status == 404
    assert state() == before
