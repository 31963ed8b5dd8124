"""One delivery attempt over HTTP: checked address, deadline, circuit breaker per endpoint.

Every attempt resolves the endpoint's host again and checks every address
(``urls.py``), then connects to the first of those very addresses: the name is not
looked up a second time by the HTTP client, so a DNS answer that changes between
the check and the connection (rebinding) cannot steer the request inside. TLS still
verifies the certificate against the host name of the URL.

No redirect is followed (``http.client`` never follows one; a 3xx is a refusal, see
``rules.classify_status``). At most :data:`~shared.webhooks.rules.RESPONSE_BODY_LIMIT`
bytes of the answer are read. The whole attempt, connection and TLS included, has a
deadline of :data:`~shared.webhooks.rules.DELIVERY_TIMEOUT_SECONDS`.

Each endpoint has its own circuit breaker (per instance): after repeated timeouts,
connection errors or retriable answers, attempts to that endpoint fail at once for a
cool-down instead of holding a worker for the full deadline. The breaker is a second
line only: an instance sees only its own attempts. What keeps an endpoint that hangs
from delaying the others is the lane an attempt comes through (``delivery.py``): the
fast lane's attempts have a short deadline (the ``timeout_seconds`` given to
:meth:`Transport.attempt`), and an endpoint that timed out cools down, through its
Firestore record, on every instance. Retrying is Pub/Sub's job (the subscriptions'
backoff), so nothing here retries.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from shared.resilience import (
    BreakerPolicy,
    CallTimeoutError,
    CircuitBreaker,
    CircuitOpenError,
    Resilience,
    RetryPolicy,
)
from shared.webhooks.rules import (
    DELIVERY_TIMEOUT_SECONDS,
    RESPONSE_BODY_LIMIT,
    AttemptKind,
    Outcome,
    classify_status,
    outcome_of,
    truncated_body,
)
from shared.webhooks.urls import (
    ResolvedTarget,
    UnresolvableHostError,
    UnsafeUrlError,
    UrlPolicy,
    resolve_target,
)

# Opens after 5 attempts in a row without a usable answer; tries one again after a minute.
BREAKER_POLICY = BreakerPolicy(
    consecutive_failures=5, failure_rate=0.5, window_seconds=60.0, minimum_calls=10,
    cool_down_seconds=60.0,
)  # fmt: skip
# Breakers kept per instance; the least recently used go first beyond this.
_MAX_BREAKERS = 1000
_MAX_ERROR_LENGTH = 200


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one attempt met. ``response_body`` is already cut to the limit."""

    kind: AttemptKind
    latency_ms: float
    status_code: int | None = None
    response_body: str | None = None
    error: str | None = None

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.kind, self.status_code)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    body: bytes


class RetriableAnswerError(Exception):
    """An answer that asks to be retried (5xx, 408, 429): a failure to the breaker."""

    def __init__(self, answer: HttpAnswer) -> None:
        self.answer = answer
        super().__init__(f"answered {answer.status}")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP to one checked address (only for hosts the deployment allows)."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to one checked address, the certificate verified against the URL's host."""

    def __init__(
        self, host: str, port: int, *, address: str, timeout: float, tls: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=tls)
        self._address = address
        self._tls = tls

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        try:
            self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


def post(
    resolved: ResolvedTarget, body: bytes, headers: dict[str, str], timeout: float
) -> HttpAnswer:
    """POST ``body`` to the checked address of ``resolved``; reads a bounded answer."""
    target = resolved.target
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(
            target.host,
            target.port,
            address=resolved.address,
            timeout=timeout,
            tls=ssl.create_default_context(),
        )
    else:
        connection = _PinnedHTTPConnection(
            target.host, target.port, address=resolved.address, timeout=timeout
        )
    try:
        connection.request(
            "POST",
            target.request_target,
            body=body,
            headers={**headers, "Host": target.host_header, "Connection": "close"},
        )
        response = connection.getresponse()
        return HttpAnswer(response.status, response.read(RESPONSE_BODY_LIMIT))
    finally:
        connection.close()


def _no_usable_answer(exc: BaseException) -> bool:
    return isinstance(
        exc, RetriableAnswerError | CallTimeoutError | OSError | http.client.HTTPException
    )


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_LENGTH]


class Transport:
    """Sends attempts; one per-instance object holds the breakers of every endpoint."""

    def __init__(
        self,
        *,
        timeout_seconds: float = DELIVERY_TIMEOUT_SECONDS,
        breaker_policy: BreakerPolicy = BREAKER_POLICY,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.breaker_policy = breaker_policy
        self._breakers: OrderedDict[str, CircuitBreaker] = OrderedDict()
        self._lock = threading.Lock()

    def breaker(self, endpoint_id: str) -> CircuitBreaker:
        """The endpoint's breaker: one per endpoint, whatever the attempt's deadline."""
        with self._lock:
            breaker = self._breakers.get(endpoint_id)
            if breaker is None:
                breaker = CircuitBreaker(f"webhook:{endpoint_id}", self.breaker_policy)
                self._breakers[endpoint_id] = breaker
                while len(self._breakers) > _MAX_BREAKERS:
                    self._breakers.popitem(last=False)
            else:
                self._breakers.move_to_end(endpoint_id)
            return breaker

    def guard(self, endpoint_id: str, timeout_seconds: float | None = None) -> Resilience:
        """The deadline and the endpoint's breaker around one attempt."""
        return Resilience(
            f"webhook:{endpoint_id}",
            is_transient=_no_usable_answer,
            timeout_seconds=timeout_seconds or self.timeout_seconds,
            retry=RetryPolicy(max_attempts=1),
            breaker=self.breaker(endpoint_id),
        )

    def attempt(
        self,
        endpoint_id: str,
        url: str,
        body: bytes,
        headers: dict[str, str],
        policy: UrlPolicy,
        *,
        timeout_seconds: float | None = None,
    ) -> AttemptResult:
        """Check the URL now, then POST through the endpoint's breaker with a deadline
        (``timeout_seconds``, else the transport's)."""
        started = time.monotonic()
        deadline = timeout_seconds or self.timeout_seconds

        def elapsed() -> float:
            return round((time.monotonic() - started) * 1000, 1)

        try:
            resolved = resolve_target(url, policy)
        except UnresolvableHostError as exc:
            return AttemptResult(AttemptKind.UNRESOLVABLE, elapsed(), error=exc.reason)
        except UnsafeUrlError as exc:
            return AttemptResult(AttemptKind.URL_REFUSED, elapsed(), error=exc.reason)

        def send() -> HttpAnswer:
            answer = post(resolved, body, headers, deadline)
            if classify_status(answer.status) is Outcome.RETRIABLE:
                raise RetriableAnswerError(answer)
            return answer

        answer: Any
        try:
            answer = self.guard(endpoint_id, deadline).call(send, operation="deliver")
        except RetriableAnswerError as exc:
            answer = exc.answer
        except CircuitOpenError as exc:
            return AttemptResult(AttemptKind.CIRCUIT_OPEN, elapsed(), error=_short(exc))
        except CallTimeoutError as exc:
            return AttemptResult(AttemptKind.TIMEOUT, elapsed(), error=_short(exc))
        except TimeoutError as exc:
            return AttemptResult(AttemptKind.TIMEOUT, elapsed(), error=_short(exc))
        except (OSError, http.client.HTTPException) as exc:
            return AttemptResult(AttemptKind.CONNECTION_ERROR, elapsed(), error=_short(exc))
        return AttemptResult(
            AttemptKind.RESPONSE,
            elapsed(),
            status_code=answer.status,
            response_body=truncated_body(answer.body),
        )
