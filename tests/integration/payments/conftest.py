"""The payments and process_payment functions, in-process, against the real emulators.

``Stack`` drives a test the way Pub/Sub would: API calls go through the payments
Router; the events they commit to the outbox are pushed to the process_payment
consumer (as functions-framework hands a push delivery to it) by ``process()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import pytest
from google.api_core.exceptions import AlreadyExists
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.clients import reset_clients
from shared.config import reset_settings
from shared.events.envelope import EventEnvelope
from shared.events.outbox import OUTBOX_COLLECTION
from shared.ledger.instance import ledger_service
from shared.payments import PROCESSED_EVENT_TYPES, ResilientProvider, SandboxProvider
from shared.payments import sandbox as sandbox_module
from shared.payments.ledger_adapter import clearing_code, payee_code, tax_payable_code
from shared.payments.sandbox import set_global_outage
from shared.resilience import RetryPolicy
from shared.tax import store as tax_store
from shared.tax.requests import TaxCalculationRequest
from shared.tax.service import create_calculation
from tests.integration.events.conftest import push_envelope
from tests.support.http import Answer, Principal, RouterClient, StaticAuthenticator, load_function

TENANT = "tenant-pay"
OTHER_TENANT = "tenant-other"
TOPICS = ("payment-events", "audit-events", "ledger-events")
PAYMENT_TOPIC = "payment-events"

_CLERK = frozenset({"payments:read", "payments:create", "payments:capture"})
PRINCIPALS = {
    "clerk": Principal("u-clerk", TENANT, "accountant", _CLERK),
    "admin": Principal("u-admin", TENANT, "admin", _CLERK | {"payments:refund"}),
    "viewer": Principal("u-viewer", TENANT, "viewer", frozenset({"payments:read"})),
    "other-admin": Principal("u-other", OTHER_TENANT, "admin", _CLERK | {"payments:refund"}),
}


def dump(db: Any) -> dict[str, dict[str, Any]]:
    """Every document in the database, by path."""
    return {
        snapshot.reference.path: snapshot.to_dict() or {}
        for collection in db.collections()
        for snapshot in collection.recursive().stream()
    }


def dump_without_idempotency(db: Any) -> dict[str, dict[str, Any]]:
    """The dump minus ``idempotency_keys``: the shared Router stores every answer to a
    request with an Idempotency-Key, a 4xx included, so that a retry replays it."""
    return {k: v for k, v in dump(db).items() if not k.startswith("idempotency_keys/")}


@dataclass
class Stack:
    db: Any
    api: RouterClient
    project_id: str
    consumer: Any
    delivered: set[str] = field(default_factory=set)
    _keys: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    # -- API ----------------------------------------------------------------------------

    def key(self) -> dict[str, str]:
        return {"Idempotency-Key": f"key-{next(self._keys)}"}

    def create(self, as_user: str = "clerk", **body: Any) -> Answer:
        payload = {
            "amount": "100.00",
            "currency": "EUR",
            "payer_ref": "cust_1",
            "payee_ref": "merchant_7",
            "method_token": "tok_approve",
            "description": "order 1",
            **body,
        }
        return self.api.post("/v1/payments", json=payload, token=as_user, headers=self.key())

    def refund(self, payment_id: str, as_user: str = "admin", **body: Any) -> Answer:
        return self.api.post(
            f"/v1/payments/{payment_id}/refunds", json=body, token=as_user, headers=self.key()
        )

    def get(self, payment_id: str) -> dict[str, Any]:
        answer = self.api.get(f"/v1/payments/{payment_id}", token="clerk")
        assert answer.status == 200, answer.json
        return answer.data  # type: ignore[no-any-return]

    # -- events -------------------------------------------------------------------------

    def pending_requests(self) -> list[EventEnvelope]:
        """Payment requests in the outbox not yet pushed to the consumer, oldest first."""
        records = [
            s.to_dict() or {}
            for s in self.db.collection(OUTBOX_COLLECTION)
            .where(filter=FieldFilter("topic", "==", PAYMENT_TOPIC))
            .stream()
        ]
        records.sort(key=lambda r: r["created_at"])
        envelopes = [EventEnvelope.from_bytes(r["data"]) for r in records]
        return [
            e for e in envelopes if e.type in PROCESSED_EVENT_TYPES and e.id not in self.delivered
        ]

    def push(self, envelope: EventEnvelope) -> None:
        """One push delivery; an exception is what makes Pub/Sub redeliver."""
        self.consumer(push_envelope(self.project_id, PAYMENT_TOPIC, envelope))

    def process(self) -> list[EventEnvelope]:
        """Deliver every pending request (and those its processing stages) once."""
        done: list[EventEnvelope] = []
        while pending := self.pending_requests():
            for envelope in pending:
                self.push(envelope)
                self.delivered.add(envelope.id)
                done.append(envelope)
        return done

    def write_audit(self) -> list[str]:
        """Push every audit event in the outbox to audit_writer; the chain's actions."""
        from shared.audit import list_records, verify_chain

        writer = load_function("audit_writer").handle
        records = [
            s.to_dict() or {}
            for s in self.db.collection(OUTBOX_COLLECTION)
            .where(filter=FieldFilter("topic", "==", "audit-events"))
            .stream()
        ]
        records.sort(key=lambda r: r["created_at"])
        for record in records:
            writer(
                push_envelope(
                    self.project_id, "audit-events", EventEnvelope.from_bytes(record["data"])
                )
            )
        assert verify_chain(self.db, TENANT).ok
        page = list_records(self.db, TENANT, limit=100)
        return [r.content["action"] for r in reversed(page.items)]

    # -- ledger -------------------------------------------------------------------------

    def account_id(self, code: str) -> str | None:
        snapshot = ledger_service().paths.account_code(TENANT, code).get()
        return str(snapshot.get("account_id")) if snapshot.exists else None

    def balances(self, code: str) -> dict[str, str]:
        account_id = self.account_id(code)
        assert account_id is not None, f"no account {code}"
        return ledger_service().get_account(TENANT, account_id).balances.to_json()

    def posted(self, code: str) -> Decimal:
        return Decimal(self.balances(code)["posted"])

    def entry_ids(self) -> list[str]:
        return sorted(s.id for s in ledger_service().paths.entries(TENANT).stream())

    def trial_balance_is_zero(self) -> bool:
        return bool(ledger_service().trial_balance(TENANT).balanced)

    def tax_calculation(self, body: dict[str, Any]) -> str:
        request = TaxCalculationRequest.model_validate_json(orjson.dumps(body))
        return create_calculation(self.db, TENANT, request, created_by="u-clerk").id


CLEARING_EUR = clearing_code("EUR")
PAYEE_EUR = payee_code("merchant_7", "EUR")
CLEARING_CAD = clearing_code("CAD")
PAYEE_CAD = payee_code("merchant_7", "CAD")
GST_CAD = tax_payable_code("CA", "CAD")
QST_CAD = tax_payable_code("CA-QC", "CAD")


def fast_provider(**sandbox: Any) -> ResilientProvider:
    """The sandbox behind the resilience layer with short waits, as the instance's provider."""
    from shared.resilience import BreakerPolicy

    provider = ResilientProvider(
        SandboxProvider(**sandbox),
        timeout_seconds=2.0,
        retry=RetryPolicy(max_attempts=2, base_delay_seconds=0.01, max_delay_seconds=0.02),
        breaker_policy=BreakerPolicy(consecutive_failures=3, cool_down_seconds=0.5),
    )
    sandbox_module.default_payment_provider.install(provider)
    return provider


@pytest.fixture
def stack(firestore_client: Any, emulators: Any, pubsub_publisher: Any) -> Iterator[Stack]:
    reset_settings()
    reset_clients()
    tax_store.default_cache().clear()
    for topic in TOPICS:
        with contextlib.suppress(AlreadyExists):
            pubsub_publisher.create_topic(
                name=pubsub_publisher.topic_path(emulators.project_id, topic)
            )
    set_global_outage(False)
    fast_provider()
    payments = load_function("payments")
    payments.router._authenticator = StaticAuthenticator(PRINCIPALS)
    consumer = load_function("process_payment").handle
    yield Stack(firestore_client, RouterClient(payments.router), emulators.project_id, consumer)
    set_global_outage(False)
    sandbox_module.reset_default_payment_provider()
    reset_clients()
    reset_settings()


def quebec_invoice(amount: str = "100.00") -> dict[str, Any]:
    """CA-QC in 2025: GST 5 % (jurisdiction CA) + QST 9.975 % (CA-QC) on the price."""
    return {
        "document_date": "2025-06-01",
        "currency": "CAD",
        "place_of_supply": "CA-QC",
        "seller": {"country": "CA"},
        "lines": [{"quantity": "1", "unit_price": {"amount": amount, "currency": "CAD"}}],
    }
