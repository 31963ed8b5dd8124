"""Push tokens: every Pub/Sub push is proven by the OIDC token its subscription signs.

In the cloud each push subscription carries an ``oidc_token`` block (infra/pubsub.tf):
Pub/Sub signs a Google ID token as the push-invoker service account, with the receiving
function's URL as its audience, and sends it as ``Authorization: Bearer``. Cloud Run's
IAM check (``run.invoker``) already refuses a request without such a token; the
consumers check it again in code, so a mistake in ingress or IAM does not open them to
forged events. A token passes when:

* its signature verifies against Google's published certificates (cached per instance,
  refetched when a token names an unknown key, at most once a minute);
* it has not expired and was not issued in the future (google-auth's clock skew);
* its issuer is Google's (``https://accounts.google.com``);
* its audience is this function's own URL (``https://`` and the request's ``Host``: the
  front end routes by host, so a token minted for another service does not fit);
* its ``email`` is the push invoker's (``TRIBUTUM_PUSH__INVOKER``) and verified.

A push without a valid token is answered 401 (no token) or 403 (a token that does not
pass) as a problem document, and nothing is read from its body. Pub/Sub treats either
as a failed delivery: a genuine push refused by a misconfiguration is retried, then
kept by the dead-letter topic, never lost.

The Pub/Sub emulator signs no tokens, so on the local stack the manifest's environment
leaves the invoker empty and verification is off; each instance logs the mode once, at
its first push. Settings refuse an empty invoker in the cloud.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from shared.errors import AppError, ForbiddenError, UnauthorizedError, problem_document
from shared.instance import per_instance, reset_instances
from shared.logger import get_logger

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})
# How long fetched certificates are trusted when the answer names no max-age, and the
# least time between two fetches forced by an unknown key id (a forged kid must not make
# every request fetch).
DEFAULT_CERTS_TTL_SECONDS = 3600.0
REFETCH_INTERVAL_SECONDS = 60.0

Certs = Mapping[str, str]


class PushTokenError(Exception):
    """A push whose token does not prove it came from this deployment's subscriptions."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing

    def as_app_error(self) -> AppError:
        if self.missing:
            return UnauthorizedError(self.reason, code="push_token_missing")
        return ForbiddenError(self.reason, code="push_token_invalid")


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise PushTokenError("the push carries no bearer token", missing=True)
    return token.strip()


def verify_push_token(
    authorization: str | None,
    *,
    invoker: str,
    audience: str,
    certs: Callable[[str | None], Certs],
) -> Mapping[str, Any]:
    """The token's claims when it proves a push of ``invoker`` to ``audience``.

    ``certs`` returns the key-id → certificate map; it is called again with the
    token's key id when that id is not in the first answer.
    """
    from google.auth import exceptions as auth_exceptions
    from google.auth import jwt

    token = bearer_token(authorization)
    try:
        header = jwt.decode_header(token)  # type: ignore[no-untyped-call]
    except (ValueError, auth_exceptions.GoogleAuthError) as exc:
        raise PushTokenError(f"the push token is not a JWT: {exc}") from None
    key_id = header.get("kid") if isinstance(header, dict) else None
    known = certs(None)
    if isinstance(key_id, str) and key_id not in known:
        known = certs(key_id)
    try:
        claims: dict[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]
            token, certs=dict(known), audience=audience
        )
    except (ValueError, auth_exceptions.GoogleAuthError) as exc:
        raise PushTokenError(f"the push token does not verify: {exc}") from None
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise PushTokenError("the push token was not issued by Google")
    if claims.get("email") != invoker or claims.get("email_verified") is not True:
        raise PushTokenError("the push token was not signed for the push invoker")
    return claims


class GoogleCerts:
    """Google's token-signing certificates, fetched lazily and kept per instance."""

    def __init__(
        self,
        fetch: Callable[[], tuple[Certs, float | None]] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch or _fetch_google_certs
        self._clock = clock
        self._lock = threading.Lock()
        self._certs: Certs = {}
        self._expires = 0.0
        self._fetched = float("-inf")

    def __call__(self, missing_key_id: str | None) -> Certs:
        with self._lock:
            now = self._clock()
            stale = now >= self._expires
            unknown = missing_key_id is not None and missing_key_id not in self._certs
            may_refetch = now - self._fetched >= REFETCH_INTERVAL_SECONDS
            if stale or (unknown and may_refetch):
                certs, max_age = self._fetch()
                self._certs = dict(certs)
                self._fetched = now
                self._expires = now + (
                    max_age if max_age is not None else DEFAULT_CERTS_TTL_SECONDS
                )
            return self._certs


def _fetch_google_certs() -> tuple[Certs, float | None]:
    from google.auth.transport.requests import Request

    response = Request()(GOOGLE_CERTS_URL, method="GET", timeout=5)
    if response.status != 200:
        raise PushTokenError(f"Google's certificates could not be fetched ({response.status})")
    certs = orjson.loads(response.data)
    return certs, _max_age(response.headers.get("cache-control", ""))


def _max_age(cache_control: str) -> float | None:
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age" and value.isdigit():
            return float(value)
    return None


class PushVerifier:
    """The instance's check of pushes: off without an invoker, the token's check with one."""

    def __init__(self, invoker: str, certs: Callable[[str | None], Certs] | None = None) -> None:
        self.invoker = invoker
        self._certs = certs or GoogleCerts()
        self._announced = False

    def check(self, authorization: str | None, host: str) -> None:
        """Raise :class:`PushTokenError` unless the push proves its origin."""
        if not self._announced:
            self._announced = True
            log = get_logger("events.push_auth")
            if self.invoker:
                log.info("push_auth.mode", verified=True, invoker=self.invoker)
            else:
                log.warning(
                    "push_auth.mode",
                    verified=False,
                    reason="no push invoker is configured: the local stack's emulator "
                    "signs no push tokens",
                )
        if not self.invoker:
            return
        verify_push_token(
            authorization, invoker=self.invoker, audience=f"https://{host}", certs=self._certs
        )


@per_instance
def push_verifier() -> PushVerifier:
    """The instance's verifier, built once from the settings."""
    from shared.config import get_settings

    return PushVerifier(get_settings().push.invoker)


def reset_push_verifier() -> None:
    """Forget the instance's verifier (tests that change the settings)."""
    reset_instances(__name__)


def check_current_push() -> None:
    """Check the push being served, or refuse it with a 401/403 problem document.

    Runs inside functions-framework's request (its ``flask`` request context). Outside
    one (a consumer called directly, as tests do) there is no push to check.
    """
    flask = sys.modules.get("flask")  # loaded by functions-framework; never imported here
    if flask is None or not flask.has_request_context():
        return
    request = flask.request
    try:
        push_verifier().check(request.headers.get("Authorization"), request.host)
    except PushTokenError as exc:
        error = exc.as_app_error()
        get_logger("events.push_auth").warning(
            "push_auth.refused", reason=exc.reason, code=error.code, status=error.status
        )
        _refuse(error)


def _refuse(error: AppError) -> None:
    from werkzeug.exceptions import HTTPException
    from werkzeug.wrappers import Response

    body = orjson.dumps(problem_document(error, correlation_id=None))
    response = Response(body, status=error.status, content_type="application/problem+json")
    for name, value in error.headers.items():
        response.headers[name] = value
    raise HTTPException(response=response)
