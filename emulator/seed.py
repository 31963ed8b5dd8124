"""``python -m emulator seed``: a demo tenant on a running stack, made through its public API.

Everything goes through the gateway as a client would (no writes behind the API), so the
seed also exercises the stack: a tenant with a user of every role, a chart of accounts, a
balanced entry, a pending hold, a tax calculation and a payment settling it. It prints
``export`` lines for a shell: a token per role, the tenant and the main account ids.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.mail_sink import Mailbox, MailNotReceivedError

# The local demo tenant's users share one documented password; never a cloud credential.
DEMO_PASSWORD = "demo ledger passphrase 2026"  # noqa: S105
ROLES = ("admin", "accountant", "viewer")
CHART = (
    ("1000-cash", "Cash", "asset"),
    ("1200-receivables", "Receivables", "asset"),
    ("2000-payables", "Payables", "liability"),
    ("3000-equity", "Owner's equity", "equity"),
    ("4000-revenue", "Revenue", "revenue"),
    ("6000-rent", "Rent", "expense"),
)


# An emailed token stands alone on its line.
EMAILED_TOKEN = re.compile(r"^\s+([A-Za-z0-9_-]{20,})$", re.M)


class SeedError(RuntimeError):
    """A call the seed needs was refused; the message has the status and problem."""


def _emailed_token(mailbox: Mailbox, email: str, after: int) -> str:
    """The token in the newest email to ``email`` the stack's mail sink received."""
    try:
        mail = mailbox.wait_for(email, after=after, timeout=90.0)
    except (MailNotReceivedError, OSError) as exc:
        raise SeedError(f"{exc} (the stack's mail sink: python -m emulator status)") from None
    found = EMAILED_TOKEN.findall(str(mail.get("text", "")))
    if not found:
        raise SeedError(f"the email to {email} holds no token")
    return str(found[0])


@dataclass
class DemoClient:
    base_url: str
    token: str | None = None
    calls: list[str] = field(default_factory=list)

    def call(
        self, method: str, path: str, body: Any = None, *, idempotency_key: str | None = None
    ) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=headers
        )
        self.calls.append(f"{method} {path}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = response.read()
        except urllib.error.HTTPError as exc:
            raise SeedError(f"{method} {path}: {exc.code} {exc.read().decode()[:500]}") from None
        return json.loads(answer)["data"] if answer else None


@dataclass(frozen=True)
class DemoTenant:
    tenant_id: str
    emails: dict[str, str]
    tokens: dict[str, str]
    accounts: dict[str, str]
    payment_id: str

    def exports(self) -> list[str]:
        role_tokens = " ".join(f"{role.upper()}_TOKEN={t}" for role, t in self.tokens.items())
        return [
            f"export TRIBUTUM_TENANT_ID={self.tenant_id} TOKEN={self.tokens['owner']}",
            f"export {role_tokens}",
            f"export CASH_ACCOUNT_ID={self.accounts['1000-cash']} "
            f"EQUITY_ACCOUNT_ID={self.accounts['3000-equity']} "
            f"REVENUE_ACCOUNT_ID={self.accounts['4000-revenue']}",
            f"export PAYMENT_ID={self.payment_id}",
        ]


def _wait(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SeedError(f"timed out waiting for {what}")
        time.sleep(0.5)


def seed(base_url: str, say: Callable[[str], None] = print) -> DemoTenant:
    stamp = uuid.uuid4().hex[:8]
    owner = DemoClient(base_url)
    emails = {"owner": f"owner-{stamp}@demo.tributum.dev"}
    signup = {"email": emails["owner"], "password": DEMO_PASSWORD, "name": "Demo Owner"}
    tenant_id = owner.call("POST", "/v1/signup", signup)["tenant_id"]
    tokens = {"owner": _login(owner, emails["owner"])}
    owner.token = tokens["owner"]
    say(f"tenant {tenant_id}: owner {emails['owner']}")

    # Users are invited, and an invitation's token arrives by email: the stack's mail
    # sink (``up`` runs it) keeps it in its mailbox.
    mailbox = Mailbox()
    for role in ROLES:
        emails[role] = f"{role}-{stamp}@demo.tributum.dev"
        user = {"email": emails[role], "name": f"Demo {role.title()}", "role": role}
        seen = mailbox.mark()
        owner.call("POST", "/v1/users", user, idempotency_key=f"seed-user-{role}-{stamp}")
        # An added user is invited: they accept with the emailed token.
        acceptance = {
            "token": _emailed_token(mailbox, emails[role], seen),
            "password": DEMO_PASSWORD,
        }
        DemoClient(base_url).call("POST", "/v1/users/invitations/accept", acceptance)
        tokens[role] = _login(DemoClient(base_url), emails[role])
    say(f"users: {', '.join(emails[r] for r in ROLES)} (password: {DEMO_PASSWORD})")

    accounts = {}
    for code, name, kind in CHART:
        account = {"code": code, "name": name, "type": kind, "currency": "EUR"}
        accounts[code] = owner.call("POST", "/v1/accounts", account)["id"]
    say(f"accounts: {len(accounts)} in EUR")

    def line(code: str, side: str, amount: str) -> dict[str, str]:
        return {"account_id": accounts[code], "side": side, "amount": amount}

    owner.call(
        "POST",
        "/v1/journal-entries",
        {
            "description": "owner contribution",
            "lines": [
                line("1000-cash", "debit", "10000.00"),
                line("3000-equity", "credit", "10000.00"),
            ],
        },
        idempotency_key=f"seed-capital-{stamp}",
    )
    owner.call(
        "POST",
        "/v1/journal-entries",
        {
            "description": "rent reserved for December",
            "pending": True,
            "lines": [
                line("6000-rent", "debit", "1200.00"),
                line("1000-cash", "credit", "1200.00"),
            ],
        },
        idempotency_key=f"seed-rent-hold-{stamp}",
    )
    say("entries: an owner contribution (posted) and a rent hold (pending)")

    calculation = owner.call(
        "POST",
        "/v1/tax/calculations",
        {
            "document_date": time.strftime("%Y-%m-%d"),
            "currency": "EUR",
            "place_of_supply": "DE",
            "seller": {"country": "DE"},
            "lines": [{"quantity": "2", "unit_price": {"amount": "50.00", "currency": "EUR"}}],
        },
    )
    payment = owner.call(
        "POST",
        "/v1/payments",
        {
            "amount": calculation["totals"]["gross"],
            "currency": "EUR",
            "payer_ref": "cust_demo",
            "payee_ref": "merchant_demo",
            "method_token": "tok_approve",
            "description": "demo invoice",
            "tax_calculation_id": calculation["id"],
        },
        idempotency_key=f"seed-payment-{stamp}",
    )
    _wait(
        lambda: (
            owner.call("GET", f"/v1/payments/{payment['id']}")["status"] in ("captured", "settled")
        ),
        "the demo payment to be captured (process_payment by push)",
    )
    say(f"payment {payment['id']}: {calculation['totals']['gross']} EUR incl. German VAT, captured")
    return DemoTenant(tenant_id, emails, tokens, accounts, payment["id"])


def _login(client: DemoClient, email: str) -> str:
    tokens = client.call("POST", "/v1/auth/token", {"email": email, "password": DEMO_PASSWORD})
    return str(tokens["access_token"])
