"""The tokens of a password login, and when they need a refresh."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Refresh this long before the access token expires: the request still has to travel,
# and the server's clock is not ours.
REFRESH_MARGIN_SECONDS = 30.0


@dataclass(frozen=True)
class TokenSession:
    access_token: str
    refresh_token: str
    access_expires_at: float  # on the client's monotonic clock

    @classmethod
    def from_pair(cls, pair: Mapping[str, Any], now: float) -> TokenSession:
        """From the answer of ``/v1/auth/token`` or ``/v1/auth/refresh``."""
        return cls(
            access_token=str(pair["access_token"]),
            refresh_token=str(pair["refresh_token"]),
            access_expires_at=now + float(pair["expires_in"]),
        )

    def needs_refresh(self, now: float) -> bool:
        return now >= self.access_expires_at - REFRESH_MARGIN_SECONDS
