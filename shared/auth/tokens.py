"""Access and refresh tokens: ES256 JWTs issued and verified with pinned rules.

Claims of both token types: ``iss``, ``aud``, ``sub`` (user id), ``tid`` (tenant id),
``role``, ``iat``, ``nbf``, ``exp``, ``jti`` and ``typ`` (``access`` or ``refresh``);
refresh tokens add ``fam``, the id of the refresh-token family (one login session)
they belong to, and access tokens issued within a session carry it too; ``ep`` is
the user's access epoch when the token was issued (0 if absent; see
``shared.auth.access``). The header names the signing key (``kid``).

Verification, in order: a bounded, well-formed token whose header says ``ES256``
and names a ``kid`` the key set accepts now; the signature (algorithm list pinned
to ES256, so ``none`` and HMAC-with-the-public-key are refused); required claims
``exp iat nbf iss aud sub jti``; ``iss`` and ``aud`` equal to the configured values;
``exp``, ``nbf`` and ``iat`` against the clock with a small leeway; ``typ`` equal to
the type the caller expects; the shape of the remaining claims; and last, the
revocation list, keyed by ``(iss, jti)``.

Every failure is an ``UnauthorizedError`` with one of five codes and a fixed message
per code, so a client learns nothing about which check failed beyond the code.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import jwt

# Re-exported: shared.auth.tokens.ACCESS, REFRESH, TokenClaims and TokenType keep working.
from shared.auth.claims import ACCESS as ACCESS
from shared.auth.claims import REFRESH as REFRESH
from shared.auth.claims import TokenClaims as TokenClaims
from shared.auth.claims import TokenType as TokenType
from shared.auth.keys import ALGORITHM, KeySet, KeySetError, VerificationKeySet
from shared.errors import ServiceUnavailableError, UnauthorizedError
from shared.identity.roles import ROLE_NAMES, Role
from shared.logger import get_logger
from shared.secrets.base import SecretError

if TYPE_CHECKING:
    from shared.auth.revocation import RevocationStore
    from shared.config import AuthSettings

TOKEN_MISSING = "token_missing"  # noqa: S105 - an error code, not a secret
TOKEN_INVALID = "token_invalid"  # noqa: S105 - an error code, not a secret
TOKEN_EXPIRED = "token_expired"  # noqa: S105 - an error code, not a secret
TOKEN_REVOKED = "token_revoked"  # noqa: S105 - an error code, not a secret
TOKEN_WRONG_TYPE = "token_wrong_type"  # noqa: S105 - an error code, not a secret

_MESSAGES = {
    TOKEN_MISSING: "a bearer token is required",
    TOKEN_INVALID: "the token is not valid",
    TOKEN_EXPIRED: "the token has expired",
    TOKEN_REVOKED: "the token has been revoked",
    TOKEN_WRONG_TYPE: "the token cannot be used here",
}

REQUIRED_CLAIMS = ("exp", "iat", "nbf", "iss", "aud", "sub", "jti")
MAX_TOKEN_LENGTH = 8192
_MAX_ID_LENGTH = 128
_MAX_EPOCH = 2**31 - 1
DEFAULT_LEEWAY_SECONDS = 10

KeySource = Callable[[], KeySet]
# Verifying needs only public keys: functions that never sign hold no private key.
VerificationKeySource = Callable[[], KeySet | VerificationKeySet]


def _log() -> Any:
    return get_logger("shared.auth")


def token_error(code: str) -> UnauthorizedError:
    """The one ``UnauthorizedError`` for ``code`` (fixed message, Bearer challenge)."""
    error = "invalid_request" if code == TOKEN_MISSING else "invalid_token"
    return UnauthorizedError(
        _MESSAGES[code],
        code=code,
        headers={"WWW-Authenticate": f'Bearer realm="tributum", error="{error}"'},
    )


@dataclass(frozen=True, slots=True)
class TokenSettings:
    issuer: str
    audience: str
    access_ttl_seconds: int = 900
    refresh_ttl_seconds: int = 7 * 86_400
    # How long a retired signing key keeps verifying tokens it signed before rotation.
    key_overlap_seconds: int = 86_400
    leeway_seconds: int = DEFAULT_LEEWAY_SECONDS

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise ValueError("issuer and audience are required")
        if self.access_ttl_seconds <= 0 or self.refresh_ttl_seconds <= 0:
            raise ValueError("token lifetimes must be positive")
        if not 0 <= self.leeway_seconds <= 60:
            raise ValueError("leeway_seconds must be between 0 and 60")

    @property
    def key_overlap(self) -> timedelta:
        return timedelta(seconds=self.key_overlap_seconds)

    @classmethod
    def from_auth_settings(cls, auth: AuthSettings) -> TokenSettings:
        return cls(
            issuer=auth.issuer,
            audience=auth.audience,
            access_ttl_seconds=auth.access_token_ttl_seconds,
            refresh_ttl_seconds=auth.refresh_token_ttl_seconds,
            key_overlap_seconds=auth.key_overlap_seconds,
        )


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    claims: TokenClaims


def new_token_id() -> str:
    return secrets.token_urlsafe(18)


class TokenIssuer:
    def __init__(
        self,
        settings: TokenSettings,
        keys: KeySource,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._keys = keys
        self._clock = clock

    @property
    def settings(self) -> TokenSettings:
        return self._settings

    def issue_access(
        self,
        *,
        user_id: str,
        tenant_id: str,
        role: str,
        family_id: str | None = None,
        epoch: int = 0,
    ) -> IssuedToken:
        return self._issue(ACCESS, user_id, tenant_id, role, family_id, epoch=epoch)

    def issue_refresh(
        self,
        *,
        user_id: str,
        tenant_id: str,
        role: str,
        family_id: str,
        jti: str | None = None,
        epoch: int = 0,
    ) -> IssuedToken:
        return self._issue(REFRESH, user_id, tenant_id, role, family_id, jti, epoch=epoch)

    def _issue(
        self,
        token_type: TokenType,
        user_id: str,
        tenant_id: str,
        role: str,
        family_id: str | None,
        jti: str | None = None,
        *,
        epoch: int = 0,
    ) -> IssuedToken:
        if not user_id or not tenant_id:
            raise ValueError("user_id and tenant_id are required")
        if not 0 <= epoch <= _MAX_EPOCH:
            raise ValueError(f"epoch must be between 0 and {_MAX_EPOCH}")
        Role(role)  # an unknown role is a programming error, not a token to hand out
        now = int(self._clock())
        ttl = (
            self._settings.access_ttl_seconds
            if token_type == ACCESS
            else self._settings.refresh_ttl_seconds
        )
        claims = TokenClaims(
            token_type=token_type,
            issuer=self._settings.issuer,
            audience=self._settings.audience,
            user_id=user_id,
            tenant_id=tenant_id,
            role=role,
            jti=jti or new_token_id(),
            issued_at=now,
            not_before=now,
            expires_at=now + ttl,
            family_id=family_id,
            epoch=epoch,
        )
        try:
            key = _current_keys(self._keys).signing_key(datetime.fromtimestamp(now, tz=UTC))
        except KeySetError as exc:
            _log().error("signing_keys_unusable", error=str(exc))
            raise _unavailable() from None
        token = jwt.encode(
            claims.to_payload(),
            key.private_key,
            algorithm=ALGORITHM,
            headers={"kid": key.kid, "typ": "JWT"},
        )
        return IssuedToken(token, claims)


class TokenVerifier:
    def __init__(
        self,
        settings: TokenSettings,
        keys: VerificationKeySource,
        revocations: RevocationStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._keys = keys
        self._revocations = revocations
        self._clock = clock

    @property
    def settings(self) -> TokenSettings:
        return self._settings

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWKS document of every key that verifies tokens now."""
        return _current_keys(self._keys).jwks(self._now(), self._settings.key_overlap)

    def verify(self, token: str | None, expected_type: TokenType) -> TokenClaims:
        if not token:
            raise token_error(TOKEN_MISSING)
        claims = self._authentic_claims(token)
        if claims.token_type != expected_type:
            _log().info("token_rejected", reason="wrong_type", jti=claims.jti)
            raise token_error(TOKEN_WRONG_TYPE)
        try:
            revoked = self._revocations.is_revoked(claims.issuer, claims.jti)
        except Exception as exc:
            # Fail closed: a token whose revocation status is unknown is not accepted.
            _log().error("revocation_check_failed", error=type(exc).__name__)
            raise ServiceUnavailableError(
                "token revocation status is unavailable", code="auth_unavailable"
            ) from exc
        if revoked:
            _log().info("token_rejected", reason="revoked", jti=claims.jti)
            raise token_error(TOKEN_REVOKED)
        return claims

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), tz=UTC)

    def _authentic_claims(self, token: str) -> TokenClaims:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            raise _rejected("malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _rejected("malformed") from None
        if header.get("alg") != ALGORITHM:
            raise _rejected("algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise _rejected("no_kid")
        key_set = _current_keys(self._keys)
        key = key_set.verification_key(kid, self._now(), self._settings.key_overlap)
        if key is None:
            raise _rejected("unknown_or_expired_kid")
        try:
            payload = jwt.decode(
                token,
                key.public_key,
                algorithms=[ALGORITHM],
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                leeway=self._settings.leeway_seconds,
                options={"require": list(REQUIRED_CLAIMS), "strict_aud": True},
            )
        except jwt.ExpiredSignatureError:
            _log().info("token_rejected", reason="expired")
            raise token_error(TOKEN_EXPIRED) from None
        except jwt.InvalidTokenError as exc:
            raise _rejected(type(exc).__name__) from None
        return _claims_from_payload(payload)


_Keys = TypeVar("_Keys", bound=KeySet | VerificationKeySet)


def _unavailable() -> ServiceUnavailableError:
    return ServiceUnavailableError("token signing keys are unavailable", code="auth_unavailable")


def _current_keys(keys: Callable[[], _Keys]) -> _Keys:
    """The key set now; a broken or unreadable secret is our fault (503), not the caller's."""
    try:
        return keys()
    except (KeySetError, SecretError) as exc:
        _log().error("signing_keys_unusable", error=str(exc))
        raise _unavailable() from None


def _rejected(reason: str) -> UnauthorizedError:
    _log().info("token_rejected", reason=reason)
    return token_error(TOKEN_INVALID)


def _identifier(payload: Mapping[str, Any], claim: str) -> str:
    value = payload.get(claim)
    if not isinstance(value, str) or not value or len(value) > _MAX_ID_LENGTH:
        raise _rejected(f"bad_{claim}")
    return value


def _claims_from_payload(payload: Mapping[str, Any]) -> TokenClaims:
    token_type = payload.get("typ")
    if token_type not in (ACCESS, REFRESH):
        raise _rejected("bad_typ")
    role = _identifier(payload, "role")
    if role not in ROLE_NAMES:
        raise _rejected("unknown_role")
    family_id = payload.get("fam")
    if token_type == REFRESH or family_id is not None:
        family_id = _identifier(payload, "fam")
    epoch = payload.get("ep", 0)
    # bool is an int to Python; a JSON true is no epoch.
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= _MAX_EPOCH:
        raise _rejected("bad_ep")
    return TokenClaims(
        token_type=token_type,
        issuer=str(payload["iss"]),
        audience=str(payload["aud"]),
        user_id=_identifier(payload, "sub"),
        tenant_id=_identifier(payload, "tid"),
        role=role,
        jti=_identifier(payload, "jti"),
        issued_at=int(payload["iat"]),
        not_before=int(payload["nbf"]),
        expires_at=int(payload["exp"]),
        family_id=family_id,
        epoch=epoch,
    )
