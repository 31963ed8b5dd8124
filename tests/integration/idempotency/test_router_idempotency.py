"""The store as the HTTP router uses it: replays, reuse and failures through a real route."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from shared import errors
from shared.clients import reset_clients
from shared.config import reset_settings
from shared.http import RequestContext, Router
from tests.support.http import RouterClient


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    amount: str
    currency: str


@pytest.fixture
def client(firestore_client: Any) -> Any:
    reset_settings()
    reset_clients()
    router = Router("payments_probe")
    counter = firestore_client.collection("executions").document("payments")

    @router.post(
        "/v1/probe-payments", auth="public", body=PaymentIn, status=201, idempotency="required"
    )
    def create_payment(ctx: RequestContext) -> dict[str, Any]:
        from google.cloud import firestore

        if ctx.body.amount == "0.00":
            raise errors.ServiceUnavailableError("processor down")
        counter.set({"count": firestore.Increment(1)}, merge=True)
        return {"amount": ctx.body.amount, "executions": counter.get().get("count")}

    yield RouterClient(router), counter
    reset_clients()
    reset_settings()


def _post(api: RouterClient, key: str | None, amount: str = "12.34") -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return api.post(
        "/v1/probe-payments", json={"amount": amount, "currency": "EUR"}, headers=headers
    )


def test_a_retry_with_the_same_key_replays_without_executing(client: Any) -> None:
    api, counter = client
    first = _post(api, "pay-1")
    second = _post(api, "pay-1")

    assert first.status == second.status == 201
    assert second.body == first.body
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert counter.get().get("count") == 1


def test_the_same_key_with_another_body_is_refused(client: Any) -> None:
    api, counter = client
    _post(api, "pay-2")
    reused = _post(api, "pay-2", amount="99.99")

    assert reused.status == 422
    assert reused.json["code"] == "idempotency_key_reused"
    assert counter.get().get("count") == 1


def test_a_failed_execution_can_be_retried_with_its_key(client: Any) -> None:
    api, counter = client
    assert _post(api, "pay-3", amount="0.00").status == 503
    assert _post(api, "pay-3", amount="0.00").status == 503  # executed again, not replayed
    assert not counter.get().exists


def test_a_bad_key_is_a_validation_error_on_the_header(client: Any) -> None:
    api, _ = client
    answer = _post(api, "x" * 256)
    assert answer.status == 422
    assert answer.json["errors"][0]["field"] == "Idempotency-Key"
