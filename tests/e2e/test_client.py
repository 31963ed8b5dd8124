"""The Python client (shared.client) against a stack of the real manifest, and the
README's Python quickstart run as written."""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulator.mail_sink import Mailbox
from shared.client import (
    AuthenticationError,
    NotFound,
    PermissionDenied,
    Tributum,
    ValidationError,
)
from shared.webhooks.signing import delivery_headers
from tests.e2e.conftest import StackHandle, wait_for
from tests.unit.client.readme import python_quickstart

# A loopback address of its own: the signup and login throttles count per client
# address, and the stack's default one is left to the walkthroughs.
CLIENT_ADDRESS = "127.0.45.1"


def _from_own_address() -> httpx.HTTPTransport:
    return httpx.HTTPTransport(local_address=CLIENT_ADDRESS)


PASSWORD = "correct horse battery staple"
# An emailed token stands alone on its line.
EMAILED_TOKEN = re.compile(r"^\s+([A-Za-z0-9_-]{20,})$", re.M)


def _entry(
    debit: str, credit: str, amount: str, credit_amount: str | None = None
) -> dict[str, Any]:
    return {
        "description": "owner contribution",
        "lines": [
            {"account_id": debit, "side": "debit", "amount": amount},
            {"account_id": credit, "side": "credit", "amount": credit_amount or amount},
        ],
    }


@pytest.fixture
def owner(product: StackHandle) -> Iterator[Tributum]:
    """A new tenant's owner, logged in with a password."""
    email = f"client-{uuid.uuid4().hex[:10]}@example.com"
    with Tributum(product.gateway_url, transport=_from_own_address()) as client:
        signed_up = client.sign_up({"email": email, "password": PASSWORD, "name": "Ada Client"})
        assert signed_up["email"] == email and signed_up["role"] == "owner"
        pair = client.log_in(email, PASSWORD)
        assert pair["token_type"] == "Bearer" and pair["expires_in"] > 0
        yield client


def _account(client: Tributum, code: str, kind: str = "asset") -> str:
    body = {"code": code, "name": code, "type": kind, "currency": "EUR"}
    return str(client.create_account(body)["id"])


def test_a_balanced_entry_posts_once_however_often_its_key_is_sent(owner: Tributum) -> None:
    cash, equity = _account(owner, "1000-cash"), _account(owner, "3000-equity", "equity")
    key = f"contribution-{uuid.uuid4().hex}"

    first = owner.post_journal_entry(_entry(cash, equity, "250.00"), idempotency_key=key)
    again = owner.post_journal_entry(_entry(cash, equity, "250.00"), idempotency_key=key)
    other = owner.post_journal_entry(_entry(cash, equity, "1.00"))  # its own fresh key

    assert first["status"] == "posted"
    assert again["id"] == first["id"]
    assert other["id"] != first["id"]
    assert owner.get_account(cash)["balances"]["posted"] == "251.00"
    assert owner.get_journal_entry(first["id"])["lines"][0]["account_id"] == cash
    entries = [e["id"] for e in owner.iter_account_entries(cash, page_size=1)]
    assert sorted(entries) == sorted([first["id"], other["id"]])
    assert owner.get_trial_balance()["balanced"] is True


def test_an_unbalanced_entry_raises_a_validation_error_naming_the_field(owner: Tributum) -> None:
    cash, equity = _account(owner, "1000-cash"), _account(owner, "3000-equity", "equity")

    with pytest.raises(ValidationError) as refused:
        owner.post_journal_entry(_entry(cash, equity, "100.00", credit_amount="99.99"))

    problem = refused.value
    assert problem.status == 422
    assert problem.code == "entry_unbalanced"
    assert problem.errors and {e.code for e in problem.errors} == {"entry_unbalanced"}
    assert problem.correlation_id
    assert owner.get_account(cash)["balances"]["posted"] == "0.00"


def test_refusals_of_other_families_raise_their_own_classes(
    owner: Tributum, product: StackHandle
) -> None:
    with pytest.raises(NotFound) as missing:
        owner.get_account("acc-that-does-not-exist")
    assert missing.value.status == 404
    with pytest.raises(AuthenticationError):
        stranger = Tributum(product.gateway_url, transport=_from_own_address())
        stranger.log_in("nobody@example.com", "not the password")
    anonymous = Tributum(product.gateway_url, api_key="not-a-key", transport=_from_own_address())
    with anonymous, pytest.raises(AuthenticationError) as unauthenticated:
        anonymous.get_trial_balance()
    assert unauthenticated.value.status == 401
    with pytest.raises(ValidationError) as invalid:
        owner.create_account({"code": "x", "name": "x", "type": "asset", "currency": "euro"})
    assert "currency" in invalid.value.field_codes()
    # A viewer may read but not write.
    viewer_email = f"viewer-{uuid.uuid4().hex[:10]}@example.com"
    # Adding a user invites them: the token comes by email (the stack's mail sink).
    mailbox = Mailbox()
    seen = mailbox.mark()
    owner.add_user({"email": viewer_email, "name": "Vi", "role": "viewer"})
    invitation = mailbox.wait_for(viewer_email, after=seen, timeout=90)
    (token,) = EMAILED_TOKEN.findall(invitation["text"])
    with Tributum(product.gateway_url, transport=_from_own_address()) as viewer:
        viewer.accept_invitation({"token": token, "password": PASSWORD})
        viewer.log_in(viewer_email, PASSWORD)
        with pytest.raises(PermissionDenied):
            viewer.create_account({"code": "9", "name": "x", "type": "asset", "currency": "EUR"})


def test_the_accounts_iterator_follows_the_cursor_across_every_page(owner: Tributum) -> None:
    created = {_account(owner, f"1{n:03d}-asset") for n in range(5)}

    first = owner.list_accounts(limit=2)
    listed = [a["id"] for a in owner.iter_accounts(page_size=2)]

    assert len(first) == 2 and first.next_cursor is not None
    assert len(listed) == len(set(listed)) == 5
    assert set(listed) == created
    assert [a["id"] for a in owner.iter_accounts(type="equity")] == []


def test_a_payment_is_created_and_its_status_read(owner: Tributum) -> None:
    payment = owner.create_payment(
        {
            "amount": "49.90",
            "currency": "EUR",
            "payer_ref": "cust_1042",
            "payee_ref": "merchant_7",
            "method_token": "tok_approve",
            "description": "order 1042",
        }
    )
    assert payment["status"] == "requested"

    def captured_payment() -> dict[str, Any] | None:
        read = owner.get_payment(payment["id"])
        return read if read["status"] in ("captured", "settled") else None

    captured = wait_for(
        captured_payment,
        timeout=90,
        what="the payment to be authorized and captured (process_payment by push)",
    )
    assert captured["captured_amount"] == "49.90"
    assert payment["id"] in {p["id"] for p in owner.iter_payments(payer_ref="cust_1042")}


def test_the_readme_python_quickstart_runs_as_written(
    product: StackHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIBUTUM_URL", product.gateway_url)
    namespace: dict[str, Any] = {"__name__": "quickstart"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(python_quickstart(), "README.md", "exec"), namespace)  # noqa: S102
    lines = printed.getvalue().splitlines()

    assert lines[0].startswith("entry: ") and lines[0].endswith(" posted")
    entry_id = lines[0].split()[1]
    assert f"cash entry: {entry_id} capital" in lines
    assert "cash posted: 100.00" in lines
    (refused,) = [line for line in lines if line.startswith("refused:")]
    assert refused.startswith("refused: 422 entry_unbalanced {")
    assert namespace["WEBHOOK_SECRET"].startswith("whsec_")

    # Its receiver accepts a delivery signed the way the service signs, and nothing else.
    body = json.dumps({"type": "payment.captured", "data": {"id": "pay_1"}}).encode()
    headers = delivery_headers([namespace["WEBHOOK_SECRET"]], "msg_1", int(time.time()), body)
    receive = namespace["receive"]
    with contextlib.redirect_stdout(io.StringIO()) as received:
        assert receive(body, headers) == 200
    assert received.getvalue() == "webhook: payment.captured\n"
    assert receive(body.replace(b"pay_1", b"pay_2"), headers) == 400
    stale = delivery_headers([namespace["WEBHOOK_SECRET"]], "msg_2", int(time.time()) - 600, body)
    assert receive(body, stale) == 400
    namespace["client"].close()


def test_a_balance_monitor_is_triggered_by_the_ledger_events_of_a_posting(
    owner: Tributum,
) -> None:
    cash, equity = _account(owner, "1000-cash"), _account(owner, "3000-equity", "equity")
    monitor = owner.create_balance_monitor(
        cash, {"condition": {"operator": "gte", "amount": "100.00"}, "description": "float"}
    )
    assert monitor["met"] is False
    assert [m["id"] for m in owner.list_balance_monitors(cash)] == [monitor["id"]]

    owner.post_journal_entry(_entry(cash, equity, "150.00"))

    # balance_monitors receives ledger-events by push and records the crossing.
    crossed = wait_for(
        lambda: (read := owner.get_balance_monitor(cash, monitor["id"]))["met"] and read,
        timeout=90,
        what="the monitor to see the posting (balance_monitors by push)",
    )
    assert crossed["last_crossed_at"] is not None
    owner.delete_balance_monitor(cash, monitor["id"])
    assert owner.list_balance_monitors(cash) == []
