"""Schemathesis against the real system: every operation of the gateway's OpenAPI document.

The stack of the real manifest (the deployable archives) serves the merged document at
``/openapi.json``; Schemathesis generates requests from it in every phase (examples,
coverage, fuzzing, stateful) and runs every check on each answer. The run fails on any
5xx, any answer its schema does not describe (status, content type, body, headers),
any schema-violating request that was accepted, and any schema-valid request refused
for a reason ``fuzz_allowlist.yaml`` does not list.

A tenant is signed up first and filled with data (accounts, a posted entry, a hold, a
payment, a tax calculation, a producer key, a webhook endpoint, a second user), whose
ids become the path parameters' examples, so id-taking operations reach real resources.

Two runs, so neither undoes the other:

* the API run, with the owner's token (every permission), over every operation but
  those that end sessions or need credentials (logout, password change and reset,
  signup, login), so it never revokes its own token or trips the login and signup throttles;
* the identity run over exactly those, from a few loopback addresses of its own, with
  a fresh login of a throwaway user for each case that needs a token.

Both send from loopback addresses no other test uses, so the per-address signup and
login throttles of the shared stack are never spent for the tests that follow.

CI runs a bounded budget; a longer run on demand::

    TRIBUTUM_FUZZ_MAX_EXAMPLES=50 .venv/bin/pytest tests/e2e/test_api_fuzz.py -s

``TRIBUTUM_FUZZ_MAX_SECONDS`` gives each run a time budget instead, which Schemathesis
spends whole (it repeats its phases with new seeds until the time is up);
``TRIBUTUM_FUZZ_SEED`` changes the seed. The report (operations, cases, phases, failures
by check) is printed either way.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.e2e.conftest import StackHandle
from tests.e2e.fuzzing import (
    AddressRotation,
    AllowList,
    FuzzReport,
    FuzzSettings,
    engine_config,
    fetch_document,
    fuzzing_from,
    run,
    with_path_examples,
)

pytestmark = pytest.mark.e2e

CI_MAX_EXAMPLES = 5
# Safety nets only: CI's budget is the number of examples, which takes the API run about
# three minutes and the identity run well under one on the CI machine.
CI_API_TIMEOUT = 900
CI_IDENTITY_TIMEOUT = 600
DEFAULT_SEED = 20251203
# The operations that end a session, change credentials or mint them: the identity run.
IDENTITY_OPERATIONS = frozenset(
    {
        "POST /v1/signup",
        "POST /v1/auth/token",
        "POST /v1/auth/refresh",
        "POST /v1/auth/logout",
        "POST /v1/users/me/password",
        "POST /v1/auth/password-reset",
        "POST /v1/auth/password-reset/confirm",
    }
)
# Loopback addresses of the fuzz runs (the gateway listens on 127.0.0.1; Linux routes
# all of 127/8 to this machine). Signup allows 10 per hour per address: the identity
# run's few addresses bound what it can take from the application-wide signup budget.
API_RUN_ADDRESS = "127.0.42.1"
IDENTITY_RUN_ADDRESSES = [f"127.0.43.{n}" for n in range(1, 9)]
OWN_ACCOUNT_CHANGES = frozenset(
    {"PATCH /v1/users/{user_id}/role", "PATCH /v1/users/{user_id}/status"}
)
PASSWORD = f"fuzz {secrets.token_hex(8)} horse staple"


def _settings() -> FuzzSettings:
    seconds = int(os.environ.get("TRIBUTUM_FUZZ_MAX_SECONDS") or 0)
    return FuzzSettings(
        max_examples=int(os.environ.get("TRIBUTUM_FUZZ_MAX_EXAMPLES") or CI_MAX_EXAMPLES),
        seed=int(os.environ.get("TRIBUTUM_FUZZ_SEED") or DEFAULT_SEED),
        max_seconds=seconds or None,
    )


SETTINGS = _settings()
# A run asked for by hand takes as long as it takes.
ON_DEMAND = bool(os.environ.get("TRIBUTUM_FUZZ_MAX_EXAMPLES") or SETTINGS.max_seconds)


class Api:
    """A JSON client of the gateway, from the loopback addresses of its session."""

    def __init__(self, base: str, session: requests.Session) -> None:
        self.base = base
        self.session = session
        self.token: str | None = None

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        response = self.session.request(
            method, f"{self.base}{path}", json=body, headers=headers, timeout=60
        )
        assert response.status_code < 300, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json()["data"] if response.content else None

    def keyed(self, path: str, body: Any) -> Any:
        return self.call("POST", path, body, **{"Idempotency-Key": uuid.uuid4().hex})

    def sign_up(self, name: str) -> dict[str, Any]:
        email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
        self.call("POST", "/v1/signup", {"email": email, "password": PASSWORD, "name": name})
        return self.log_in(email)

    def log_in(self, email: str) -> dict[str, Any]:
        self.token = None
        tokens = self.call("POST", "/v1/auth/token", {"email": email, "password": PASSWORD})
        self.token = tokens["access_token"]
        return dict(tokens)


@dataclass
class Tenant:
    api: Api
    user_id: str
    refresh_token: str
    known_ids: dict[str, list[str]]

    def guard(self, case: Any) -> None:
        """The run never demotes or disables the owner whose token it uses (with a
        second owner in the tenant, nothing else would stop it): such a case is sent
        for the other user instead."""
        parameters = case.path_parameters or {}
        if (
            case.operation.label in OWN_ACCOUNT_CHANGES
            and parameters.get("user_id") == self.user_id
        ):
            case.path_parameters = {**parameters, "user_id": self.known_ids["user_id"][0]}


def _wait(probe: Any, what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}", pytrace=False)


def _fill(api: Api) -> dict[str, list[str]]:
    """Data of every kind the API has ids for; returns the ids by path parameter name."""

    def account(code: str, kind: str, currency: str = "EUR") -> str:
        body = {"code": code, "name": code, "type": kind, "currency": currency}
        return str(api.call("POST", "/v1/accounts", body)["id"])

    cash, equity, revenue = (
        account("1000-cash", "asset"),
        account("3000-equity", "equity"),
        (account("4000-sales", "revenue")),
    )

    def lines(debit: str, credit: str, amount: str) -> list[dict[str, str]]:
        return [
            {"account_id": debit, "side": "debit", "amount": amount},
            {"account_id": credit, "side": "credit", "amount": amount},
        ]

    posted = api.keyed(
        "/v1/journal-entries", {"description": "capital", "lines": lines(cash, equity, "500.00")}
    )
    hold = api.keyed(
        "/v1/journal-entries",
        {"description": "a hold", "lines": lines(cash, revenue, "20.00"), "pending": True},
    )
    calculation = api.call(
        "POST",
        "/v1/tax/calculations",
        {
            "document_date": "2025-06-01",
            "currency": "EUR",
            "place_of_supply": "DE",
            "seller": {"country": "DE"},
            "lines": [{"quantity": "1", "unit_price": {"amount": "100.00", "currency": "EUR"}}],
        },
    )
    payment = api.keyed(
        "/v1/payments",
        {
            "amount": "49.90",
            "currency": "EUR",
            "payer_ref": "cust_1",
            "payee_ref": "merchant_1",
            "method_token": "tok_approve",
        },
    )
    manual = api.keyed(
        "/v1/payments",
        {
            "amount": "10.00",
            "currency": "EUR",
            "payer_ref": "cust_2",
            "payee_ref": "merchant_1",
            "method_token": "tok_approve",
            "capture_mode": "manual",
        },
    )
    key = api.call("POST", "/v1/producer-keys", {"name": "fuzz", "scopes": ["ledger:post"]})
    # The local stack's one private webhook target (its sink's address).
    endpoint = api.call(
        "POST",
        "/v1/webhooks/endpoints",
        {"url": "http://127.0.0.1:8790/fuzz", "event_types": ["ledger.entry_posted"]},
    )
    # An invitation (a user only once accepted): its id for the invitation routes; the
    # user routes get the owner (whose last-owner refusals are listed) and the
    # invitee's future id (a 404 until then).
    invitation = api.call(
        "POST",
        "/v1/users",
        {
            "email": f"viewer-{uuid.uuid4().hex[:8]}@example.com",
            "name": "Vic Viewer",
            "role": "viewer",
        },
    )
    me = api.call("GET", "/v1/users/me")
    jurisdictions = api.call("GET", "/v1/tax/jurisdictions?limit=5")
    codes = [str(j["code"]) for j in jurisdictions]
    rate_ids = [
        rate_id
        for code in codes[:2]
        for rate_id in _rate_ids(api.call("GET", f"/v1/tax/jurisdictions/{code}"))[:2]
    ]
    _wait(
        lambda: _payment_status(api, payment["id"]) in {"captured", "settled"},
        "the approved payment to be captured",
    )
    return {
        "account_id": [cash, equity, revenue],
        "entry_id": [posted["id"], hold["id"]],
        "payment_id": [payment["id"], manual["id"]],
        "calculation_id": [calculation["id"]],
        "key_id": [key["id"]],
        "endpoint_id": [endpoint["id"]],
        "user_id": [me["id"], invitation["user_id"]],
        "invitation_id": [invitation["id"]],
        "code": codes,
        "rate_id": rate_ids,
    }


def _rate_ids(node: Any) -> list[str]:
    """The ids of the rates anywhere in a jurisdiction (under its taxes' categories)."""
    if isinstance(node, list):
        return [rate_id for item in node for rate_id in _rate_ids(item)]
    if not isinstance(node, dict):
        return []
    found = [str(rate["id"]) for rate in node.get("rates", []) if isinstance(rate, dict)]
    return found + [
        rate_id for key, value in node.items() if key != "rates" for rate_id in _rate_ids(value)
    ]


def _profile(api: Api) -> dict[str, Any] | None:
    response = api.session.get(
        f"{api.base}/v1/users/me", headers={"Authorization": f"Bearer {api.token}"}, timeout=60
    )
    return response.json()["data"] if response.status_code == 200 else None


def _payment_status(api: Api, payment_id: str) -> str:
    return str(api.call("GET", f"/v1/payments/{payment_id}")["status"])


@pytest.fixture(scope="module")
def allowlist() -> AllowList:
    return AllowList.load()


@pytest.fixture(scope="module")
def owner(product: StackHandle) -> Tenant:
    api = Api(product.gateway_url, AddressRotation([API_RUN_ADDRESS]).session())
    tokens = api.sign_up("fuzz-owner")
    me = _wait(lambda: _profile(api), "the owner's profile (project_users by push)")
    return Tenant(api, me["id"], tokens["refresh_token"], _fill(api))


def owner_token(tenant: Tenant) -> type:
    """An auth provider: the owner's access token, renewed through the refresh route."""

    class OwnerToken:
        def get(self, case: Any, ctx: Any) -> str:
            api = tenant.api
            saved, api.token = api.token, None
            try:
                body = {"refresh_token": tenant.refresh_token}
                tokens = api.call("POST", "/v1/auth/refresh", body)
            finally:
                api.token = saved
            tenant.refresh_token = tokens["refresh_token"]
            api.token = tokens["access_token"]
            return str(tokens["access_token"])

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return OwnerToken


def _report(report: FuzzReport) -> str:
    text = report.render()
    print(f"\n{text}")  # the figures of every run, also when it passes
    return text


@pytest.mark.timeout(0 if ON_DEMAND else CI_API_TIMEOUT)
def test_every_operation_holds_to_its_schema_under_fuzzing(
    product: StackHandle, owner: Tenant, allowlist: AllowList
) -> None:
    document = with_path_examples(
        fetch_document(product.gateway_url, owner.api.session), owner.known_ids
    )
    operations = {
        f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
    }
    assert operations >= IDENTITY_OPERATIONS, "the identity run names operations that are gone"
    stale = allowlist.operations() - operations
    assert not stale, f"the allow-list names operations the API no longer has: {sorted(stale)}"

    def configure(schema: Any) -> None:
        # Renewed every 10 minutes; an access token lives 15.
        schema.auth(refresh_interval=600)(owner_token(owner))

    config = engine_config(product.gateway_url, SETTINGS)
    with fuzzing_from(AddressRotation([API_RUN_ADDRESS]), owner.guard):
        report = run(
            "API run",
            document,
            config,
            allowlist,
            include=lambda label: label not in IDENTITY_OPERATIONS,
            configure=configure,
        )
    text = _report(report)
    assert len(report.operations) == len(operations - IDENTITY_OPERATIONS), text
    assert not report.failed, text


def fresh_login(api: Api, email: str) -> type:
    """An auth provider: a new session of the throwaway user for every case, so a case
    that logs out or is refused a password change leaves the next one a live token."""

    class FreshLogin:
        def get(self, case: Any, ctx: Any) -> str:
            return str(api.log_in(email)["access_token"])

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return FreshLogin


@pytest.mark.timeout(0 if ON_DEMAND else CI_IDENTITY_TIMEOUT)
def test_the_identity_operations_hold_to_their_schema_under_fuzzing(
    product: StackHandle, allowlist: AllowList
) -> None:
    rotation = AddressRotation(IDENTITY_RUN_ADDRESSES)
    api = Api(product.gateway_url, rotation.session())
    email = f"fuzz-identity-{uuid.uuid4().hex[:8]}@example.com"
    api.call("POST", "/v1/signup", {"email": email, "password": PASSWORD, "name": "Fuzz Id"})
    document = fetch_document(product.gateway_url, api.session)

    def configure(schema: Any) -> None:
        needs_token = ["/v1/auth/logout", "/v1/users/me/password"]
        schema.auth(refresh_interval=None).apply_to(path=needs_token)(fresh_login(api, email))

    with fuzzing_from(rotation, lambda case: None):
        report = run(
            "identity run",
            document,
            engine_config(product.gateway_url, SETTINGS),
            allowlist,
            include=lambda label: label in IDENTITY_OPERATIONS,
            configure=configure,
        )
    text = _report(report)
    assert report.operations == IDENTITY_OPERATIONS, text
    assert not report.failed, text
