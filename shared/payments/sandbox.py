"""The sandbox payment provider: deterministic outcomes for development and tests.

Outcomes depend only on the method token, the amount and (for ``tok_transient``)
how many times this instance has been asked; the table is in the package README
and mirrored by :data:`TOKEN_OUTCOMES` and :func:`amount_rule`.

Failure switches, checked before anything else on every call:

* the provider's own ``outage`` attribute (per instance);
* :func:`set_global_outage` (every sandbox in the process);
* the environment variable ``TRIBUTUM_SANDBOX_PROVIDER_OUTAGE=1``;
* an ``outage_source`` callable, e.g. :class:`FirestoreOutageSwitch`, which reads the
  document ``sandbox_provider/config`` (``{"outage": true}``) with a short cache, so
  a test can switch the outage on and off in a running local stack.

While an outage is on, every call raises :class:`ProviderUnavailable`.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from shared.instance import per_instance, reset_instances
from shared.logger import get_logger
from shared.payments.provider import (
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    CaptureResult,
    ProviderDeclined,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
    ResilientProvider,
    VoidRequest,
    VoidResult,
)
from shared.resilience import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from google.cloud import firestore

OUTAGE_ENV_VAR = "TRIBUTUM_SANDBOX_PROVIDER_OUTAGE"
CONFIG_COLLECTION = "sandbox_provider"
CONFIG_DOCUMENT = "config"
# Authorizations above this amount (major units, any currency) are declined.
AMOUNT_LIMIT = Decimal("100000")
DEFAULT_TRANSIENT_FAILURES = 2
# How long tok_timeout hangs: longer than any sensible call deadline.
DEFAULT_HANG_SECONDS = 30.0
_MAX_TRACKED_KEYS = 10_000

Operation = Literal["authorize", "capture", "void", "refund"]
_log = get_logger("shared.payments.sandbox")


@dataclass(frozen=True, slots=True)
class TokenBehaviour:
    """What a method token does; ``declines`` maps an operation to a decline code."""

    declines: dict[str, str]
    transient: bool = False
    hangs: bool = False


TOKEN_OUTCOMES: dict[str, TokenBehaviour] = {
    "tok_approve": TokenBehaviour({}),
    "tok_decline": TokenBehaviour({"authorize": "card_declined"}),
    "tok_insufficient_funds": TokenBehaviour({"authorize": "insufficient_funds"}),
    "tok_expired_card": TokenBehaviour({"authorize": "expired_card"}),
    "tok_fraud": TokenBehaviour({"authorize": "suspected_fraud"}),
    "tok_capture_decline": TokenBehaviour({"capture": "capture_declined"}),
    "tok_refund_decline": TokenBehaviour({"refund": "refund_declined"}),
    "tok_transient": TokenBehaviour({}, transient=True),
    "tok_timeout": TokenBehaviour({}, hangs=True),
}
UNKNOWN_TOKEN_CODE = "invalid_payment_method"  # noqa: S105 - a decline code


def amount_rule(amount: Decimal) -> str | None:
    """The decline code an authorization of ``amount`` gets whatever the token, or None.

    Cents ``.13`` decline as ``card_declined``, cents ``.51`` as ``insufficient_funds``
    (the fractional part exactly: ``10.13`` and ``10.130`` but not ``10.131``), and
    anything above :data:`AMOUNT_LIMIT` as ``amount_limit_exceeded``.
    """
    if amount > AMOUNT_LIMIT:
        return "amount_limit_exceeded"
    fraction = amount - amount.to_integral_value(rounding="ROUND_FLOOR")
    if fraction == Decimal("0.13"):
        return "card_declined"
    if fraction == Decimal("0.51"):
        return "insufficient_funds"
    return None


def _reference(prefix: str, key: str) -> str:
    """A provider reference derived from the idempotency key: a repeat gets the same one."""
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


_global_outage = threading.Event()


def set_global_outage(enabled: bool) -> None:
    """Switch a simulated outage on or off for every sandbox provider in this process."""
    if enabled:
        _global_outage.set()
    else:
        _global_outage.clear()


def outage_from_environment() -> bool:
    return os.environ.get(OUTAGE_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


class FirestoreOutageSwitch:
    """Reads ``sandbox_provider/config`` ``{"outage": bool}``, cached for ``ttl_seconds``.

    A read failure keeps the last known value (and means "no outage" before the first
    successful read): the switch must never itself make the sandbox fail.
    """

    def __init__(
        self,
        db_factory: Callable[[], firestore.Client],
        *,
        ttl_seconds: float = 2.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._db_factory = db_factory
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._value = False
        self._read_at: float | None = None

    def __call__(self) -> bool:
        with self._lock:
            now = self._clock.monotonic()
            if self._read_at is not None and now - self._read_at < self._ttl:
                return self._value
            self._read_at = now
            try:
                snapshot = (
                    self._db_factory().collection(CONFIG_COLLECTION).document(CONFIG_DOCUMENT).get()
                )
                document: dict[str, Any] = (snapshot.to_dict() or {}) if snapshot.exists else {}
                self._value = document.get("outage") is True
            except Exception as exc:
                _log.warning("sandbox.outage_switch_unreadable", error=type(exc).__name__)
            return self._value


class SandboxProvider:
    """Deterministic provider; thread-safe. See the module docstring and README."""

    name = "sandbox"

    def __init__(
        self,
        *,
        latency_seconds: float = 0.0,
        transient_failures: int = DEFAULT_TRANSIENT_FAILURES,
        hang_seconds: float = DEFAULT_HANG_SECONDS,
        outage: bool = False,
        outage_source: Callable[[], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if latency_seconds < 0 or transient_failures < 0 or hang_seconds < 0:
            raise ValueError("latency, transient failures and hang time must not be negative")
        self.latency_seconds = latency_seconds
        self.transient_failures = transient_failures
        self.hang_seconds = hang_seconds
        self.outage = outage
        self._outage_source = outage_source
        self._sleep = sleep
        self._lock = threading.Lock()
        self._attempts: dict[tuple[str, str], int] = {}

    # -- the port ---------------------------------------------------------------------

    def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        self._enter("authorize", request.method_token, request.payment_id)
        code = amount_rule(request.amount)
        if code is not None:
            raise ProviderDeclined(code)
        return AuthorizationResult(_reference("sbx_auth", request.payment_id), request.amount)

    def capture(self, request: CaptureRequest) -> CaptureResult:
        self._enter("capture", request.method_token, request.payment_id)
        return CaptureResult(
            _reference("sbx_cap", request.payment_id), request.amount, settled=True
        )

    def void(self, request: VoidRequest) -> VoidResult:
        self._enter("void", request.method_token, request.payment_id)
        return VoidResult(_reference("sbx_void", request.payment_id))

    def refund(self, request: RefundRequest) -> RefundResult:
        self._enter("refund", request.method_token, request.refund_id)
        return RefundResult(_reference("sbx_rfd", request.refund_id), request.amount)

    # -- switches and the outcome table -----------------------------------------------

    def outage_active(self) -> bool:
        return (
            self.outage
            or _global_outage.is_set()
            or outage_from_environment()
            or (self._outage_source is not None and self._outage_source())
        )

    def attempts(self, operation: Operation, key: str) -> int:
        """How many times this instance was asked ``operation`` for ``key`` (tok_transient)."""
        with self._lock:
            return self._attempts.get((operation, key), 0)

    def _enter(self, operation: Operation, token: str, key: str) -> None:
        """Everything common to the operations: latency, outage, then the token's rule."""
        if self.latency_seconds:
            self._sleep(self.latency_seconds)
        if self.outage_active():
            raise ProviderUnavailable(f"sandbox provider outage ({operation})")
        behaviour = TOKEN_OUTCOMES.get(token)
        if behaviour is None:
            # Never echo the token: the message becomes the payment's failure_reason.
            raise ProviderDeclined(UNKNOWN_TOKEN_CODE, "unknown sandbox method token")
        if behaviour.hangs:
            self._sleep(self.hang_seconds)
        if behaviour.transient:
            with self._lock:
                if len(self._attempts) >= _MAX_TRACKED_KEYS:
                    self._attempts.clear()  # bounded memory on a long-lived instance
                attempt = self._attempts.get((operation, key), 0) + 1
                self._attempts[(operation, key)] = attempt
            if attempt <= self.transient_failures:
                raise ProviderUnavailable(
                    f"sandbox transient failure {attempt} of {self.transient_failures} "
                    f"({operation})"
                )
        code = behaviour.declines.get(operation)
        if code is not None:
            raise ProviderDeclined(code)


@per_instance
def default_payment_provider() -> ResilientProvider:
    """The instance's provider: the sandbox behind the resilience layer, created once.

    Its outage switch also follows the Firestore document ``sandbox_provider/config``.
    """
    from shared.clients import firestore_client

    return ResilientProvider(SandboxProvider(outage_source=FirestoreOutageSwitch(firestore_client)))


def reset_default_payment_provider() -> None:
    """Forget the instance's provider (tests that change the environment)."""
    reset_instances(__name__)
