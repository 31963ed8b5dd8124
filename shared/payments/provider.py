"""The payment provider port: what the payments processor needs from a PSP.

Every operation either returns a result or raises one of three errors:

* :class:`ProviderDeclined` (permanent): the provider answered "no" with a code
  (``card_declined``, ``insufficient_funds``...). Retrying cannot change it.
* :class:`ProviderUnavailable` (transient): the provider could not answer now.
* :class:`ProviderTimeout` (transient): no answer within the deadline; the
  operation may or may not have happened.

Because a transient failure may hide a completed operation, every request carries
an idempotency key (the payment id; the refund id for refunds) and a provider must
answer a repeated request with the result of the first one. That is what makes
retries, and redelivered events, safe.

:class:`ResilientProvider` wraps any provider with a deadline per call, bounded
retries of transient failures and a circuit breaker (see ``resilience.py``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, TypeVar

from shared.resilience import (
    SYSTEM_CLOCK,
    BreakerPolicy,
    CircuitBreaker,
    Clock,
    Resilience,
    RetryPolicy,
)

T = TypeVar("T")


class ProviderError(Exception):
    """Base of the provider's failures."""


class ProviderDeclined(ProviderError):
    """A permanent refusal; ``code`` is stable and snake_case (``card_declined``)."""

    def __init__(self, code: str, message: str = "") -> None:
        self.code = code
        self.message = message or code.replace("_", " ")
        super().__init__(f"{code}: {self.message}")


class ProviderUnavailable(ProviderError):
    """A transient failure: the provider could not process the request now."""


class ProviderTimeout(ProviderError):
    """No answer within the deadline; the outcome is unknown (retry with the same key)."""

    def __init__(self, operation: str, timeout_seconds: float) -> None:
        self.operation = operation
        self.timeout_seconds = timeout_seconds
        super().__init__(f"{operation} did not answer within {timeout_seconds:g} s")


def is_transient_provider_error(exc: BaseException) -> bool:
    return isinstance(exc, ProviderUnavailable | ProviderTimeout)


# -- requests and results -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    payment_id: str  # the idempotency key
    tenant_id: str
    amount: Decimal
    currency: str
    method_token: str


@dataclass(frozen=True, slots=True)
class AuthorizationResult:
    provider_reference: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class CaptureRequest:
    payment_id: str  # the idempotency key
    tenant_id: str
    provider_reference: str
    amount: Decimal
    currency: str
    method_token: str


@dataclass(frozen=True, slots=True)
class CaptureResult:
    provider_reference: str
    amount: Decimal
    # True when the provider settled the funds with the capture (the sandbox does).
    settled: bool


@dataclass(frozen=True, slots=True)
class VoidRequest:
    payment_id: str  # the idempotency key
    tenant_id: str
    provider_reference: str
    method_token: str


@dataclass(frozen=True, slots=True)
class VoidResult:
    provider_reference: str


@dataclass(frozen=True, slots=True)
class RefundRequest:
    payment_id: str
    refund_id: str  # the idempotency key
    tenant_id: str
    provider_reference: str
    amount: Decimal
    currency: str
    method_token: str


@dataclass(frozen=True, slots=True)
class RefundResult:
    provider_reference: str  # the refund's own reference at the provider
    amount: Decimal


class PaymentProvider(Protocol):
    """A payment service provider. Implementations must be thread-safe."""

    @property
    def name(self) -> str: ...

    def authorize(self, request: AuthorizationRequest) -> AuthorizationResult: ...

    def capture(self, request: CaptureRequest) -> CaptureResult: ...

    def void(self, request: VoidRequest) -> VoidResult: ...

    def refund(self, request: RefundRequest) -> RefundResult: ...


# -- resilience ---------------------------------------------------------------------------


def _provider_timeout(operation: str, timeout_seconds: float) -> BaseException:
    return ProviderTimeout(operation, timeout_seconds)


class ResilientProvider:
    """A provider behind a deadline, retries of transient failures and a circuit breaker.

    One per instance (the breaker's memory is the point). While the circuit is open,
    every call raises :class:`~shared.resilience.CircuitOpenError` at once.
    """

    def __init__(
        self,
        provider: PaymentProvider,
        *,
        timeout_seconds: float = 5.0,
        retry: RetryPolicy | None = None,
        breaker_policy: BreakerPolicy | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self.inner = provider
        self.resilience = Resilience(
            f"provider:{provider.name}",
            is_transient=is_transient_provider_error,
            timeout_seconds=timeout_seconds,
            retry=retry or RetryPolicy(max_attempts=3, base_delay_seconds=0.2, max_delay_seconds=2),
            breaker=CircuitBreaker(f"provider:{provider.name}", breaker_policy, clock=clock),
            clock=clock,
            rng=rng,
            timeout_error=_provider_timeout,
        )

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def breaker(self) -> CircuitBreaker:
        return self.resilience.breaker

    def _call(self, operation: str, fn: Callable[[], T]) -> T:
        return self.resilience.call(fn, operation=operation)

    def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        return self._call("authorize", lambda: self.inner.authorize(request))

    def capture(self, request: CaptureRequest) -> CaptureResult:
        return self._call("capture", lambda: self.inner.capture(request))

    def void(self, request: VoidRequest) -> VoidResult:
        return self._call("void", lambda: self.inner.void(request))

    def refund(self, request: RefundRequest) -> RefundResult:
        return self._call("refund", lambda: self.inner.refund(request))
