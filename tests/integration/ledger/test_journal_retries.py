"""A retry of a hold post, void or reversal whose answer was lost replays it over HTTP.

The instance commits the change and then dies (here: the use case raises after its
commit), so the client sees a 5xx and the router releases the Idempotency-Key. The
client retries with the same key: it must get the outcome of its own request, not a
409 telling it that somebody (itself) already did it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.api_core.exceptions import AlreadyExists

from shared.clients import reset_clients
from shared.config import reset_settings
from shared.identity.roles import permissions_for
from shared.ledger.idempotency import hold_posting_entry_id, reversal_entry_id
from shared.ledger.instance import ledger_service
from tests.support.http import Answer, Principal, RouterClient, StaticAuthenticator, load_function

TENANT = "tenant-retry"
PRINCIPALS = {
    "accountant": Principal("u-accountant", TENANT, "accountant", permissions_for("accountant")),
}


class InstanceDied(RuntimeError):
    """What the test raises after a commit, as a crash would cut the answer off."""


@pytest.fixture
def clients(firestore_client: Any, emulators: Any, pubsub_publisher: Any) -> Iterator[Any]:
    reset_settings()
    reset_clients()
    for topic in ("ledger-events", "audit-events"):
        with contextlib.suppress(AlreadyExists):
            pubsub_publisher.create_topic(
                name=pubsub_publisher.topic_path(emulators.project_id, topic)
            )
    routers = {}
    for name in ("accounts", "journal"):
        module = load_function(name)
        module.router._authenticator = StaticAuthenticator(PRINCIPALS)
        routers[name] = RouterClient(module.router)
    yield routers
    reset_clients()
    reset_settings()


def _call(client: RouterClient, path: str, body: dict[str, Any], key: str) -> Answer:
    return client.post(path, json=body, token="accountant", headers={"Idempotency-Key": key})


def _posted(accounts: RouterClient, account_id: str) -> str:
    answer = accounts.get(f"/v1/accounts/{account_id}", token="accountant")
    assert answer.status == 200, answer.json
    return str(answer.data["balances"]["posted"])


def _dies_after_commit(use_case: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        use_case(*args, **kwargs)
        raise InstanceDied("the instance died before answering")

    return run


@pytest.mark.parametrize(
    ("verb", "use_case", "body", "posted_cash"),
    [
        ("post", "post_pending", {"amount": "4.00"}, "4.00"),
        ("void", "void_pending", {"reason": "cancelled"}, "0.00"),
        ("reverse", "reverse_entry", {}, "0.00"),
    ],
)
def test_a_retry_after_the_answer_was_lost_replays_the_committed_change(
    clients: dict[str, RouterClient],
    monkeypatch: pytest.MonkeyPatch,
    verb: str,
    use_case: str,
    body: dict[str, Any],
    posted_cash: str,
) -> None:
    accounts, journal = clients["accounts"], clients["journal"]
    ids = []
    for code, kind in (("cash", "asset"), ("sales", "revenue")):
        created = accounts.post(
            "/v1/accounts",
            json={"code": code, "name": code, "type": kind, "currency": "EUR"},
            token="accountant",
        )
        assert created.status == 201, created.json
        ids.append(created.data["id"])
    cash, sales = ids
    entry = _call(
        journal,
        "/v1/journal-entries",
        {
            "lines": [
                {"account_id": cash, "side": "debit", "amount": "10.00"},
                {"account_id": sales, "side": "credit", "amount": "10.00"},
            ],
            "pending": verb != "reverse",
        },
        uuid.uuid4().hex,
    )
    assert entry.status == 201, entry.json
    entry_id = entry.data["id"]
    path = f"/v1/journal-entries/{entry_id}/{verb}"
    service = ledger_service()
    monkeypatch.setattr(service, use_case, _dies_after_commit(getattr(service, use_case)))

    lost = _call(journal, path, body, "the-one-key")
    monkeypatch.undo()
    retry = _call(journal, path, body, "the-one-key")
    another = _call(journal, path, body, "another-key")

    assert lost.status == 500
    assert retry.status == (201 if verb == "reverse" else 200), retry.json
    assert retry.headers.get("Idempotent-Replayed") is None, "replayed by the ledger itself"
    if verb == "reverse":
        assert retry.data["reversal"]["id"] == reversal_entry_id(entry_id)
        assert retry.data["original"]["reversed_by_entry_id"] == reversal_entry_id(entry_id)
        assert another.json["code"] == "entry_already_reversed"
    elif verb == "post":
        assert retry.data["posting"]["id"] == hold_posting_entry_id(entry_id)
        assert retry.data["hold"]["status"] == "posted"
        assert another.json["code"] == "hold_already_posted"
    else:
        assert (retry.data["hold"]["status"], retry.data["posting"]) == ("voided", None)
        assert another.json["code"] == "hold_already_voided"
    assert another.status == 409
    assert _posted(accounts, cash) == posted_cash
