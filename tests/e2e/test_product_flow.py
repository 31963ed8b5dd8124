"""The real system, as it would be deployed: one client's journey through the gateway.

A stack of the real manifest runs beside the test stack on its own project id and
ports, from the packaged archives, each function in an environment installed only
from its own requirements.txt. A client signs up, gets tokens, opens
accounts, posts a journal entry, pays, and reads the audit trail; background
functions (projection, payment processing, audit writer) run by Pub/Sub push.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.conftest import (
    Reply,
    StackHandle,
    http,
    wait_for,
)

pytestmark = pytest.mark.e2e


class Client:
    """A JSON client of the gateway, with a bearer token once it has one."""

    def __init__(self, stack: StackHandle) -> None:
        self.base = stack.gateway_url
        self.token: str | None = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        idempotency_key: str | None = None,
        token: str | None = None,
    ) -> Reply:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        bearer = token or self.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        data = json.dumps(body).encode() if body is not None else None
        return http(method, f"{self.base}{path}", headers=headers, body=data, timeout=60)

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        reply = self.call(method, path, body, **kwargs)
        assert 200 <= reply.status < 300, f"{method} {path}: {reply.status} {reply.body!r}"
        return reply.json()["data"] if reply.body else None


def _signup(client: Client) -> dict[str, Any]:
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct horse battery staple"
    user = client.ok(
        "POST", "/v1/signup", {"email": email, "password": password, "name": "Ada Owner"}
    )
    tokens = client.ok("POST", "/v1/auth/token", {"email": email, "password": password})
    client.token = tokens["access_token"]
    return {"user": user, "tokens": tokens, "email": email, "password": password}


def _account(client: Client, code: str, kind: str, currency: str) -> str:
    body = {"code": code, "name": code, "type": kind, "currency": currency}
    return str(client.ok("POST", "/v1/accounts", body)["id"])


def _balances(client: Client, account_id: str) -> dict[str, str]:
    return dict(client.ok("GET", f"/v1/accounts/{account_id}")["balances"])


def _accounts_by_code(client: Client, currency: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    cursor = ""
    while True:
        reply = client.call("GET", f"/v1/accounts?currency={currency}&limit=100{cursor}")
        assert reply.status == 200, reply.body
        document = reply.json()
        found.update({account["code"]: account for account in document["data"]})
        next_cursor = document["meta"].get("next_cursor")
        if not next_cursor:
            return found
        cursor = f"&cursor={next_cursor}"


def _payment_in(client: Client, payment_id: str, *statuses: str) -> dict[str, Any] | None:
    payment = client.ok("GET", f"/v1/payments/{payment_id}")
    return dict(payment) if payment["status"] in statuses else None


def test_a_client_signs_up_books_entries_pays_and_audits(product: StackHandle) -> None:
    owner = Client(product)
    session = _signup(owner)
    me = wait_for(
        lambda: owner.call("GET", "/v1/users/me").status == 200 or None,
        timeout=60,
        what="the users read model to show the new owner (project_users by push)",
    )
    assert me
    profile = owner.ok("GET", "/v1/users/me")
    assert profile["email"] == session["email"]
    assert profile["role"] == "owner"
    assert "password_hash" not in json.dumps(profile)

    # Double entry: an owner's contribution, posted once however often it is sent.
    cash = _account(owner, "1000-cash", "asset", "EUR")
    equity = _account(owner, "3000-equity", "equity", "EUR")
    entry = {
        "description": "owner contribution",
        "lines": [
            {"account_id": cash, "side": "debit", "amount": "1000.00"},
            {"account_id": equity, "side": "credit", "amount": "1000.00"},
        ],
    }
    key = f"contribution-{uuid.uuid4().hex}"
    first = owner.ok("POST", "/v1/journal-entries", entry, idempotency_key=key)
    again = owner.call("POST", "/v1/journal-entries", entry, idempotency_key=key)
    assert again.status in (200, 201)
    assert again.header("Idempotent-Replayed") == "true"
    assert again.json()["data"]["id"] == first["id"]
    assert _balances(owner, cash)["posted"] == "1000.00"

    # A wrong entry is refused with the field named, and changes nothing.
    short_credit = {**entry["lines"][1], "amount": "999.99"}
    unbalanced = {**entry, "lines": [entry["lines"][0], short_credit]}
    refused = owner.call(
        "POST", "/v1/journal-entries", unbalanced, idempotency_key=f"bad-{uuid.uuid4().hex}"
    )
    assert refused.status == 422, refused.body
    assert refused.header("Content-Type") == "application/problem+json"
    assert _balances(owner, cash)["posted"] == "1000.00"

    # Trial balance sums to zero per currency.
    trial = owner.ok("GET", "/v1/ledger/trial-balance")
    assert trial["balanced"] is True

    # A payment settling a Quebec invoice: GST and QST go to tax-payable accounts.
    calculation = owner.ok(
        "POST",
        "/v1/tax/calculations",
        {
            "document_date": "2025-06-01",
            "currency": "CAD",
            "place_of_supply": "CA-QC",
            "seller": {"country": "CA"},
            "lines": [{"quantity": "1", "unit_price": {"amount": "100.00", "currency": "CAD"}}],
        },
    )
    assert calculation["totals"] == {"net": "100.00", "tax": "14.98", "gross": "114.98"}
    payment = owner.ok(
        "POST",
        "/v1/payments",
        {
            "amount": "114.98",
            "currency": "CAD",
            "payer_ref": "cust_1042",
            "payee_ref": "merchant_7",
            "method_token": "tok_approve",
            "description": "invoice 2025-0042",
            "tax_calculation_id": calculation["id"],
        },
        idempotency_key=f"pay-{uuid.uuid4().hex}",
    )
    assert payment["status"] == "requested"
    assert "method_token" not in payment
    settled = wait_for(
        lambda: _payment_in(owner, payment["id"], "captured", "settled"),
        timeout=90,
        what="the payment to be authorized and captured (process_payment by push)",
    )
    assert settled["captured_amount"] == "114.98"
    tax_accounts = [
        account["id"]
        for code, account in _accounts_by_code(owner, "CAD").items()
        if code.startswith("payments:tax:")
    ]
    tax_owed = sorted(_balances(owner, account_id)["posted"] for account_id in tax_accounts)
    assert tax_owed == ["5.00", "9.98"]

    # A partial refund reverses the tax in proportion.
    owner.ok(
        "POST",
        f"/v1/payments/{payment['id']}/refunds",
        {"amount": "57.49", "reason": "half returned"},
        idempotency_key=f"refund-{uuid.uuid4().hex}",
    )
    wait_for(
        lambda: _payment_in(owner, payment["id"], "partially_refunded"),
        timeout=90,
        what="the refund to be processed",
    )
    remaining = [Decimal(_balances(owner, account_id)["posted"]) for account_id in tax_accounts]
    # 57.49 of 114.98 is half: half of GST 5.00 and of QST 9.98 are reversed.
    assert sum(remaining, Decimal(0)) == Decimal("7.49")
    assert owner.ok("GET", "/v1/ledger/trial-balance")["balanced"] is True

    # A declined card fails the payment and posts nothing.
    books_before = owner.ok("GET", "/v1/ledger/trial-balance")
    books_before.pop("as_of")
    declined = owner.ok(
        "POST",
        "/v1/payments",
        {
            "amount": "20.00",
            "currency": "CAD",
            "payer_ref": "cust_1043",
            "payee_ref": "merchant_7",
            "method_token": "tok_decline",
        },
        idempotency_key=f"pay-{uuid.uuid4().hex}",
    )
    failed = wait_for(
        lambda: _payment_in(owner, declined["id"], "failed"),
        timeout=90,
        what="the declined payment to fail",
    )
    assert failed["failure_code"] == "card_declined"
    assert failed["ledger_hold_id"] is None
    books_after = owner.ok("GET", "/v1/ledger/trial-balance")
    books_after.pop("as_of")
    assert books_after == books_before

    # Everything above left a tamper-evident audit trail (audit_writer by push).
    wait_for(
        lambda: len(owner.ok("GET", "/v1/audit?limit=100")) >= 2 or None,
        timeout=90,
        what="audit records",
    )
    report = owner.ok("GET", "/v1/audit/verify")
    assert report["ok"] is True
    assert report["records_checked"] >= 2
    # The owner's own signup and login are found by who acted, as every other record is.
    owner_id = profile["id"]
    own_actions = wait_for(
        lambda: {
            record["action"]
            for record in owner.ok("GET", f"/v1/audit?actor={owner_id}&limit=100")
        }
        >= {"user.signed_up", "auth.login", "ledger.entry.posted"}
        or None,
        timeout=90,
        what="the owner's signup, login and posting under actor=<owner id>",
    )
    assert own_actions

    # Another tenant sees none of it.
    stranger = Client(product)
    _signup(stranger)
    assert stranger.call("GET", f"/v1/payments/{payment['id']}").status == 404
    assert stranger.call("GET", f"/v1/accounts/{cash}").status == 404
    assert stranger.call("GET", f"/v1/journal-entries/{first['id']}").status == 404

    # A refresh rotates; logging out revokes the access token.
    tokens = owner.ok(
        "POST", "/v1/auth/refresh", {"refresh_token": session["tokens"]["refresh_token"]}
    )
    owner.token = tokens["access_token"]
    assert owner.call("GET", "/v1/users/me").status == 200
    assert owner.call("POST", "/v1/auth/logout").status == 204
    assert owner.call("GET", "/v1/users/me").status == 401


def test_a_producer_posts_over_pubsub_and_bad_messages_are_dead_lettered(
    product: StackHandle,
) -> None:
    from shared.events.envelope import new_event

    owner = Client(product)
    session = _signup(owner)
    tenant_id = session["user"]["tenant_id"]
    cash = _account(owner, "1000-cash", "asset", "EUR")
    revenue = _account(owner, "4000-sales", "revenue", "EUR")
    request = new_event(
        "ledger.posting_requested",
        source="point-of-sale",
        subject="sales/receipt-77",
        tenant_id=tenant_id,
        data={
            "request_id": f"receipt-{uuid.uuid4().hex}",
            "posting": {
                "description": "receipt 77",
                "lines": [
                    {"account_id": cash, "side": "debit", "amount": "19.90"},
                    {"account_id": revenue, "side": "credit", "amount": "19.90"},
                ],
            },
        },
    )
    # The tenant's admin creates the producer's key; every message presents it.
    created = owner.call(
        "POST", "/v1/producer-keys", {"name": "point-of-sale", "scopes": ["ledger:post"]}
    )
    assert created.status == 201, created.body
    key = {"producer_key": created.json()["data"]["credential"]}
    pubsub = product.pubsub()
    pubsub.publish("ledger-posting-requests", request.to_bytes(), key)
    wait_for(
        lambda: _balances(owner, revenue)["posted"] == "19.90" or None,
        timeout=90,
        what="the posting requested over Pub/Sub (ledger_postings by push)",
    )
    # The same request again (a producer's retry) posts nothing more.
    again = new_event(
        request.type,
        source=request.source,
        subject=request.subject,
        tenant_id=tenant_id,
        data=request.data,
    )
    pubsub.publish("ledger-posting-requests", again.to_bytes(), key)

    # A request no result can answer (no request id): dead-lettered under its tenant.
    unanswerable = new_event(
        request.type,
        source=request.source,
        subject="sales/receipt-78",
        tenant_id=tenant_id,
        data={"posting": request.data["posting"]},
    )
    pubsub.publish("ledger-posting-requests", unanswerable.to_bytes(), key)
    dead = wait_for(
        lambda: (
            [
                letter
                for letter in owner.ok("GET", "/v1/dead-letters?limit=100")
                if letter["topic"] == "ledger-posting-requests"
            ]
            or None
        ),
        timeout=90,
        what="the malformed request in dead letters",
    )
    assert dead[0]["reason"]
    # By now the retry was delivered too (the malformed one was published after it).
    entries = owner.ok("GET", f"/v1/accounts/{revenue}/entries")
    assert len(entries) == 1
    assert _balances(owner, revenue)["posted"] == "19.90"
