"""The claims a token carries, as a value: what the token modules and the revocation
list both speak in.

Apart from ``shared.auth.tokens`` (which issues and verifies them) so that
``shared.auth.revocation`` can take claims while the verifier takes a revocation store,
without the two modules importing each other. ``shared.auth.tokens`` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

TokenType = Literal["access", "refresh"]
ACCESS: TokenType = "access"
REFRESH: TokenType = "refresh"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    token_type: TokenType
    issuer: str
    audience: str
    user_id: str
    tenant_id: str
    role: str
    jti: str
    issued_at: int
    not_before: int
    expires_at: int
    family_id: str | None = None
    epoch: int = 0

    @property
    def expires_at_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, tz=UTC)

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": self.user_id,
            "tid": self.tenant_id,
            "role": self.role,
            "typ": self.token_type,
            "iat": self.issued_at,
            "nbf": self.not_before,
            "exp": self.expires_at,
            "jti": self.jti,
            "ep": self.epoch,
        }
        if self.family_id is not None:
            payload["fam"] = self.family_id
        return payload
