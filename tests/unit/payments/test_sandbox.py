"""The sandbox provider's outcome table, failure switches and latency."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.payments.provider import (
    AuthorizationRequest,
    CaptureRequest,
    ProviderDeclined,
    ProviderUnavailable,
    RefundRequest,
    VoidRequest,
)
from shared.payments.sandbox import (
    AMOUNT_LIMIT,
    OUTAGE_ENV_VAR,
    FirestoreOutageSwitch,
    SandboxProvider,
    amount_rule,
    set_global_outage,
)

D = Decimal


def authorize(
    provider: SandboxProvider, token: str, amount: str = "10.00", pid: str = "pay_1"
) -> Any:
    return provider.authorize(AuthorizationRequest(pid, "tenant-a", D(amount), "EUR", token))


def capture(provider: SandboxProvider, token: str, pid: str = "pay_1") -> Any:
    return provider.capture(CaptureRequest(pid, "tenant-a", "ref", D("10.00"), "EUR", token))


def void(provider: SandboxProvider, token: str, pid: str = "pay_1") -> Any:
    return provider.void(VoidRequest(pid, "tenant-a", "ref", token))


def refund(provider: SandboxProvider, token: str, rid: str = "rfd_1") -> Any:
    return provider.refund(RefundRequest("pay_1", rid, "tenant-a", "ref", D("4.00"), "EUR", token))


@pytest.fixture(autouse=True)
def no_outage(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv(OUTAGE_ENV_VAR, raising=False)
    set_global_outage(False)
    yield
    set_global_outage(False)


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("tok_decline", "card_declined"),
        ("tok_insufficient_funds", "insufficient_funds"),
        ("tok_expired_card", "expired_card"),
        ("tok_fraud", "suspected_fraud"),
        ("tok_unknown", "invalid_payment_method"),
    ],
)
def test_declining_tokens_decline_authorization_with_their_code(token: str, code: str) -> None:
    with pytest.raises(ProviderDeclined) as caught:
        authorize(SandboxProvider(), token)
    assert caught.value.code == code


def test_tok_approve_approves_everything_with_stable_references() -> None:
    provider = SandboxProvider()
    first = authorize(provider, "tok_approve", "25.00")
    assert first.amount == D("25.00")
    assert first.provider_reference.startswith("sbx_auth_")
    assert authorize(provider, "tok_approve", "25.00") == first
    assert authorize(provider, "tok_approve", "25.00", pid="pay_2") != first
    captured = capture(provider, "tok_approve")
    assert captured.settled
    assert captured.amount == D("10.00")
    assert void(provider, "tok_approve").provider_reference.startswith("sbx_void_")
    assert refund(provider, "tok_approve").amount == D("4.00")
    assert refund(provider, "tok_approve", "rfd_1") == refund(provider, "tok_approve", "rfd_1")


def test_capture_and_refund_decline_tokens_authorize_first() -> None:
    provider = SandboxProvider()
    authorize(provider, "tok_capture_decline")
    with pytest.raises(ProviderDeclined) as capture_refused:
        capture(provider, "tok_capture_decline")
    assert capture_refused.value.code == "capture_declined"
    authorize(provider, "tok_refund_decline")
    capture(provider, "tok_refund_decline")
    with pytest.raises(ProviderDeclined) as refund_refused:
        refund(provider, "tok_refund_decline")
    assert refund_refused.value.code == "refund_declined"


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("10.13", "card_declined"),
        ("0.13", "card_declined"),
        ("10.130", "card_declined"),
        ("10.51", "insufficient_funds"),
        (str(AMOUNT_LIMIT + D("0.01")), "amount_limit_exceeded"),
        ("10.131", None),
        ("10.12", None),
        ("13", None),
        (str(AMOUNT_LIMIT), None),
    ],
)
def test_amount_rules(amount: str, code: str | None) -> None:
    assert amount_rule(D(amount)) == code


def test_amount_rules_apply_to_approving_tokens() -> None:
    with pytest.raises(ProviderDeclined) as caught:
        authorize(SandboxProvider(), "tok_approve", "99.13")
    assert caught.value.code == "card_declined"


def test_tok_transient_fails_n_times_per_payment_then_approves() -> None:
    provider = SandboxProvider(transient_failures=2)
    for attempt in (1, 2):
        with pytest.raises(ProviderUnavailable, match=f"{attempt} of 2"):
            authorize(provider, "tok_transient", pid="pay_a")
    assert authorize(provider, "tok_transient", pid="pay_a").amount == D("10.00")
    assert provider.attempts("authorize", "pay_a") == 3
    with pytest.raises(ProviderUnavailable):
        authorize(provider, "tok_transient", pid="pay_b")
    with pytest.raises(ProviderUnavailable):
        capture(provider, "tok_transient", pid="pay_a")


def test_tok_timeout_hangs_for_the_configured_time() -> None:
    slept: list[float] = []
    provider = SandboxProvider(hang_seconds=42.0, sleep=slept.append)
    authorize(provider, "tok_timeout")
    assert slept == [42.0]


def test_latency_is_injected_before_every_call() -> None:
    slept: list[float] = []
    provider = SandboxProvider(latency_seconds=0.25, sleep=slept.append)
    authorize(provider, "tok_approve")
    capture(provider, "tok_approve")
    assert slept == [0.25, 0.25]


def test_the_instance_outage_switch() -> None:
    provider = SandboxProvider(outage=True)
    with pytest.raises(ProviderUnavailable, match="outage"):
        authorize(provider, "tok_approve")
    provider.outage = False
    authorize(provider, "tok_approve")


def test_the_process_wide_outage_switch() -> None:
    provider = SandboxProvider()
    set_global_outage(True)
    with pytest.raises(ProviderUnavailable):
        refund(provider, "tok_approve")
    set_global_outage(False)
    refund(provider, "tok_approve")


def test_the_environment_outage_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = SandboxProvider()
    monkeypatch.setenv(OUTAGE_ENV_VAR, "1")
    with pytest.raises(ProviderUnavailable):
        void(provider, "tok_approve")
    monkeypatch.setenv(OUTAGE_ENV_VAR, "0")
    void(provider, "tok_approve")


def test_an_outage_does_not_count_as_a_transient_attempt() -> None:
    provider = SandboxProvider(outage=True)
    with pytest.raises(ProviderUnavailable):
        authorize(provider, "tok_transient")
    assert provider.attempts("authorize", "pay_1") == 0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeSnapshot:
    def __init__(self, document: dict[str, Any] | None) -> None:
        self.exists = document is not None
        self._document = document

    def to_dict(self) -> dict[str, Any] | None:
        return self._document


class FakeConfigStore:
    """Just the ``collection().document().get()`` chain the switch reads."""

    def __init__(self) -> None:
        self.document: dict[str, Any] | None = None
        self.reads = 0
        self.fail = False
        self.path: tuple[str, str] | None = None

    def collection(self, name: str) -> Any:
        store = self

        class Collection:
            def document(self, document_id: str) -> Any:
                store.path = (name, document_id)

                class Document:
                    def get(self) -> FakeSnapshot:
                        store.reads += 1
                        if store.fail:
                            raise ConnectionError("firestore unreachable")
                        return FakeSnapshot(store.document)

                return Document()

        return Collection()


def test_the_firestore_switch_reads_its_document_with_a_short_cache() -> None:
    store = FakeConfigStore()
    clock = FakeClock()
    switch = FirestoreOutageSwitch(lambda: store, ttl_seconds=2.0, clock=clock)
    provider = SandboxProvider(outage_source=switch)
    authorize(provider, "tok_approve")
    assert store.path == ("sandbox_provider", "config")
    store.document = {"outage": True}
    authorize(provider, "tok_approve")  # still cached: no outage yet
    assert store.reads == 1
    clock.now += 2.0
    with pytest.raises(ProviderUnavailable):
        authorize(provider, "tok_approve")
    assert store.reads == 2
    store.document = {"outage": False}
    clock.now += 2.0
    authorize(provider, "tok_approve")


def test_an_unreadable_switch_keeps_its_last_value() -> None:
    store = FakeConfigStore()
    store.document = {"outage": True}
    clock = FakeClock()
    switch = FirestoreOutageSwitch(lambda: store, ttl_seconds=1.0, clock=clock)
    assert switch() is True
    store.fail = True
    clock.now += 5
    assert switch() is True
    assert store.reads == 2
