"""Every request body example of the gateway's OpenAPI document is accepted as shown.

One tenant is walked through the whole API with the documented examples, in the order a
client would send them. Only what an example cannot know is replaced: the ids of the
caller's own resources (``acc_cash`` stands for the tenant's cash account), an email
address that must be new, a refresh token, and the webhook URL (the machine resolves no
public names, so the local sink stands in). The test fails if an example is refused, or
if the document has an example this walk does not send.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

import pytest
import requests

from emulator.mail_sink import Mailbox
from tests.e2e.conftest import StackHandle, wait_for
from tests.e2e.fuzzing import AddressRotation

pytestmark = pytest.mark.e2e

# A loopback address of its own, so the signup throttle of the shared stack's default
# address is not spent here.
CLIENT_ADDRESS = "127.0.44.1"
SINK_URL = "http://127.0.0.1:8790/examples"
# The token stands alone on a line of the reset email.
RESET_TOKEN = re.compile(r"^\s+([A-Za-z0-9_-]{20,})$", re.M)

Operation = tuple[str, str]


class ExampleWalk:
    """Sends the documented examples and records which ones were sent and accepted."""

    def __init__(self, base: str, session: requests.Session, document: dict[str, Any]) -> None:
        self.base = base
        self.session = session
        self.token: str | None = None
        self.examples: dict[Operation, list[Any]] = {}
        self.keyed: set[Operation] = set()
        schemas = document["components"]["schemas"]
        for path, item in document["paths"].items():
            for method, operation in item.items():
                key = (method.upper(), path)
                if any(
                    parameter.get("in") == "header" and parameter["name"] == "Idempotency-Key"
                    for parameter in operation.get("parameters", [])
                ):
                    self.keyed.add(key)
                body = operation.get("requestBody")
                if body is None:
                    continue
                reference = body["content"]["application/json"]["schema"]["$ref"]
                self.examples[key] = schemas[reference.rsplit("/", 1)[1]].get("examples", [])
        self.sent: set[tuple[str, str, int]] = set()

    def send(
        self,
        method: str,
        path: str,
        index: int = 0,
        *,
        params: dict[str, str] | None = None,
        replace: dict[str, Any] | None = None,
    ) -> Any:
        """Send example ``index`` of ``method path``; ``replace`` names fields whose
        value is swapped: a mapping translates placeholders, anything else is the value."""
        body = _replaced(copy.deepcopy(self.examples[(method, path)][index]), replace or {})
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if (method, path) in self.keyed:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        url = self.base + path.format(**(params or {}))
        response = self.session.request(method, url, json=body, headers=headers, timeout=60)
        assert response.status_code < 300, (
            f"the example {index} of {method} {path} was refused: "
            f"{response.status_code} {response.text} (sent {body})"
        )
        self.sent.add((method, path, index))
        return response.json()["data"] if response.content else None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """A request that is not an example (setting the scene, reading a state)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self.session.request(
            method, self.base + path, json=body, headers=headers, timeout=60
        )
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json()["data"] if response.content else None

    def unsent(self) -> set[tuple[str, str, int]]:
        documented = {
            (method, path, index)
            for (method, path), examples in self.examples.items()
            for index in range(len(examples))
        }
        return documented - self.sent


def _replaced(value: Any, replace: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [_replaced(item, replace) for item in value]
    if not isinstance(value, dict):
        return value
    result = {}
    for key, item in value.items():
        if key in replace:
            swap = replace[key]
            item = swap[item] if isinstance(swap, dict) else swap
        result[key] = _replaced(item, replace)
    return result


def _status(walk: ExampleWalk, payment_id: str) -> str:
    return str(walk.call("GET", f"/v1/payments/{payment_id}")["status"])


def _payment_in(walk: ExampleWalk, payment_id: str, *statuses: str) -> None:
    wait_for(
        lambda: _status(walk, payment_id) in statuses or None,
        timeout=90,
        what=f"payment {payment_id} to be {' or '.join(statuses)}",
    )


@pytest.fixture(scope="module")
def walk(product: StackHandle) -> ExampleWalk:
    session = AddressRotation([CLIENT_ADDRESS]).session()
    document = session.get(f"{product.gateway_url}/openapi.json", timeout=60).json()
    return ExampleWalk(product.gateway_url, session, document)


def test_every_documented_request_example_is_accepted(
    product: StackHandle, walk: ExampleWalk
) -> None:
    owner_email = f"ada-{uuid.uuid4().hex[:8]}@example.com"

    # -- identity ------------------------------------------------------------------------
    walk.send("POST", "/v1/signup", replace={"email": owner_email})
    tokens = walk.send("POST", "/v1/auth/token", replace={"email": owner_email})
    tokens = walk.send(
        "POST", "/v1/auth/refresh", replace={"refresh_token": tokens["refresh_token"]}
    )
    walk.token = tokens["access_token"]
    me = wait_for(
        lambda: _profile(walk), timeout=90, what="the owner's profile (project_users by push)"
    )
    tenant_id = me["tenant_id"]

    # -- ledger --------------------------------------------------------------------------
    cash = walk.send("POST", "/v1/accounts", 0)["id"]
    sales = walk.send("POST", "/v1/accounts", 1)["id"]
    equity = walk.call(
        "POST",
        "/v1/accounts",
        {"code": "3000-equity", "name": "Equity", "type": "equity", "currency": "EUR"},
    )["id"]
    accounts = {"account_id": {"acc_cash": cash, "acc_sales": sales, "acc_equity": equity}}
    walk.send("PATCH", "/v1/accounts/{account_id}", params={"account_id": cash})
    for index in (0, 1):
        walk.send("POST", "/v1/accounts/{account_id}/monitors", index, params={"account_id": cash})
    posted = walk.send("POST", "/v1/journal-entries", 0, replace=accounts)["id"]
    hold = walk.send("POST", "/v1/journal-entries", 1, replace=accounts)["id"]
    other_hold = walk.send("POST", "/v1/journal-entries", 1, replace=accounts)["id"]
    walk.send("POST", "/v1/journal-entry-batches", replace=accounts)
    walk.send("POST", "/v1/journal-entries/{entry_id}/post", params={"entry_id": hold})
    walk.send("POST", "/v1/journal-entries/{entry_id}/void", params={"entry_id": other_hold})
    walk.send("POST", "/v1/journal-entries/{entry_id}/reverse", params={"entry_id": posted})
    walk.send("POST", "/v1/ledger/period/close")
    walk.send("POST", "/v1/ledger/period/reopen")

    # -- payments ------------------------------------------------------------------------
    automatic = walk.send("POST", "/v1/payments", 0)["id"]
    manual = [walk.send("POST", "/v1/payments", 1)["id"] for _ in range(3)]
    for payment_id in manual:
        _payment_in(walk, payment_id, "authorized")
    walk.send("POST", "/v1/payments/{payment_id}/capture", 0, params={"payment_id": manual[0]})
    walk.send("POST", "/v1/payments/{payment_id}/capture", 1, params={"payment_id": manual[1]})
    walk.send("POST", "/v1/payments/{payment_id}/cancel", params={"payment_id": manual[2]})
    _payment_in(walk, automatic, "captured", "settled")
    walk.send("POST", "/v1/payments/{payment_id}/refunds", 0, params={"payment_id": automatic})
    walk.send("POST", "/v1/payments/{payment_id}/refunds", 1, params={"payment_id": automatic})

    # -- tax -----------------------------------------------------------------------------
    walk.send("POST", "/v1/tax/calculations", 0)
    walk.send("POST", "/v1/tax/calculations", 1)
    walk.send("POST", "/v1/tax/jurisdictions")
    rate = walk.send("POST", "/v1/tax/jurisdictions/{code}/rates", params={"code": "DE"})
    rate_path = "/v1/tax/jurisdictions/{code}/rates/{rate_id}"
    for index in range(2):
        walk.send("PATCH", rate_path, index, params={"code": "DE", "rate_id": rate["id"]})
    walk.send("POST", "/v1/tax/jurisdictions/{code}/categories", params={"code": "DE"})
    walk.send("POST", "/v1/tax/exemption-certificates")

    # -- producers, webhooks -------------------------------------------------------------
    key = walk.send("POST", "/v1/producer-keys")
    reporting = walk.send("POST", "/v1/producer-keys", 1)
    walk.send("POST", "/v1/producer-keys", 2)
    walk.send("POST", "/v1/producer-keys/{key_id}/rotate", params={"key_id": reporting["id"]})
    endpoint = walk.send("POST", "/v1/webhooks/endpoints", replace={"url": SINK_URL})["id"]
    endpoint_path = "/v1/webhooks/endpoints/{endpoint_id}"
    walk.send("PATCH", endpoint_path, 0, params={"endpoint_id": endpoint})
    walk.send("POST", endpoint_path + "/resend", params={"endpoint_id": endpoint})
    walk.send("PATCH", endpoint_path, 1, params={"endpoint_id": endpoint})

    # -- bank statements: both imports, then a line matched by hand --------------------
    cash_account = {"account_id": {"acc_cash": cash}}
    statement = walk.send("POST", "/v1/bank-statements", 0, replace=cash_account)
    walk.send("POST", "/v1/bank-statements", 1, replace=cash_account)
    statement_path = f"/v1/bank-statements/{statement['id']}"
    wait_for(
        lambda: walk.call("GET", statement_path)["status"] == "matched" or None,
        timeout=90,
        what="the statement's matching (match_bank_statements by push)",
    )
    # The example's second line (file line 3) is 89.90 out of the bank: no entry had
    # that effect, so it stayed unmatched; an entry with it now is matched by hand.
    supplies = walk.session.post(
        f"{walk.base}/v1/journal-entries",
        json={
            "description": "Office supplies",
            "currency": "EUR",
            "lines": [
                {"account_id": equity, "side": "debit", "amount": "89.90"},
                {"account_id": cash, "side": "credit", "amount": "89.90"},
            ],
        },
        headers={"Authorization": f"Bearer {walk.token}", "Idempotency-Key": uuid.uuid4().hex},
        timeout=60,
    )
    assert supplies.status_code == 201, supplies.text
    walk.send(
        "POST",
        "/v1/bank-statements/{statement_id}/lines/{line_id}/match",
        params={"statement_id": statement["id"], "line_id": "r000003"},
        replace={"entry_ids": [supplies.json()["data"]["id"]]},
    )

    # -- dead letters: a posting request no result can answer (it names no request id) ---
    from shared.events.envelope import new_event

    unanswerable = new_event(
        "ledger.posting_requested",
        source="examples",
        subject="receipt-1",
        tenant_id=tenant_id,
        data={"posting": {"lines": []}},
    )
    product.pubsub().publish(
        "ledger-posting-requests",
        unanswerable.to_bytes(),
        {"producer_key": key["credential"]},
    )
    letter = wait_for(
        lambda: walk.call("GET", "/v1/dead-letters?limit=100") or None,
        timeout=90,
        what="the unanswerable posting request in the tenant's dead letters",
    )[0]
    walk.send(
        "POST", "/v1/dead-letters/{dead_letter_id}/discard", params={"dead_letter_id": letter["id"]}
    )

    # -- users (the password change last: it ends the owner's other sessions) ------------
    grace = f"grace-{uuid.uuid4().hex[:8]}@example.com"
    # Adding a user invites them; the invitation and the owner's address verification
    # come by email to the stack's mail sink, with the token each acceptance needs. Only
    # emails after the mark count: the signup's own verification email came before.
    mailbox = Mailbox()
    seen = mailbox.mark()
    walk.send("POST", "/v1/users", replace={"email": grace})
    walk.call("POST", "/v1/auth/verify-email/resend")
    invitation_mail = mailbox.wait_for(grace, after=seen)
    verification_mail = mailbox.wait_for(owner_email, after=seen)
    (invitation_token,) = RESET_TOKEN.findall(invitation_mail["text"])
    user = walk.send("POST", "/v1/users/invitations/accept", replace={"token": invitation_token})
    (verification_token,) = RESET_TOKEN.findall(verification_mail["text"])
    walk.send("POST", "/v1/auth/verify-email", replace={"token": verification_token})
    wait_for(lambda: _user_listed(walk, user["id"]), timeout=90, what="the new user (by push)")
    walk.send("PATCH", "/v1/users/me")
    walk.send("PATCH", "/v1/users/{user_id}/role", params={"user_id": user["id"]})
    for index in range(2):
        walk.send("PATCH", "/v1/users/{user_id}/status", index, params={"user_id": user["id"]})
    # A reset for the added user: the stack mails the token to its mail sink.
    seen = mailbox.mark()
    walk.send("POST", "/v1/auth/password-reset", replace={"email": grace})
    mail = mailbox.wait_for(grace, after=seen)
    (token,) = RESET_TOKEN.findall(mail["text"])
    walk.send("POST", "/v1/auth/password-reset/confirm", replace={"token": token})
    walk.send("POST", "/v1/users/me/password")

    assert not walk.unsent(), f"examples this walk does not send: {sorted(walk.unsent())}"


def _profile(walk: ExampleWalk) -> dict[str, Any] | None:
    response = walk.session.get(
        f"{walk.base}/v1/users/me", headers={"Authorization": f"Bearer {walk.token}"}, timeout=60
    )
    return response.json()["data"] if response.status_code == 200 else None


def _user_listed(walk: ExampleWalk, user_id: str) -> bool:
    return any(user["id"] == user_id for user in walk.call("GET", "/v1/users?limit=100"))
