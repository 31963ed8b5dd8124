"""The authenticated no-op both session-check servers serve, and what the benchmark sets up.

Two functions serve the same token route through the real router:

* ``noop_authenticated.py``: the router's default authenticator, as every protected
  route has it: the token verified by the instance's ``TokenVerifier`` (ES256
  signature, claims, one read of the revocation list) and then the caller's access
  state read through the instance's ``CachedAccessStates`` over
  ``FirestoreAccessStates`` (``shared.auth.runtime``);
* ``noop_token_only.py``: :class:`TokenOnlyAuthenticator`, the same verification by
  the same instance verifier, the principal built from the token's claims, and no
  access state read or checked.

The difference of their server CPU per request is what the session check costs on a
cache hit. The benchmark side (:func:`prepare`) writes the two users' access states
into the Firestore emulator, mints their access tokens with the signing key it hands
the servers, and measures the cache miss: one access-state document read in-process.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench_models import Ok

from shared.auth.access import (
    STATUS_ACTIVE,
    STATUS_DISABLED,
    AccessState,
    CachedAccessStates,
    FirestoreAccessStates,
    access_reference,
    admit,
)
from shared.auth.claims import ACCESS
from shared.auth.context import AuthContext, KeyPrincipal, authorize
from shared.auth.http import bearer_token
from shared.http import RequestContext, Router
from shared.http.context import Authenticator

PATH = "/v1/bench/noop-auth"
PERMISSION = "accounts:read"
TENANT_ID = "t_bench"
ACTIVE_USER = "u_bench_active"
# A user whose state refuses every token: the full check answers 401, the token-only 200.
DISABLED_USER = "u_bench_disabled"
ROLE = "viewer"
FAMILY_ID = "fam_bench_session"
# The signing key reaches the servers through the local secrets backend's variable.
SIGNING_KEY_VARIABLE = "TRIBUTUM_SECRET_JWT_SIGNING_KEYS"


class TokenOnlyAuthenticator(Authenticator):
    """Bearer JWTs verified by the instance's verifier; no access state read or checked
    (the benchmark's baseline: what a token route cost before access states)."""

    def __init__(self) -> None:
        from shared.auth.runtime import token_verifier

        self._verifier = token_verifier

    def authenticate(self, ctx: RequestContext) -> AuthContext:
        token = bearer_token(ctx.headers.get("Authorization"))
        return AuthContext.from_claims(self._verifier().verify(token, ACCESS))

    def authorize(self, principal: Any, permission: str) -> None:
        if not isinstance(principal, AuthContext | KeyPrincipal):
            raise TypeError("TokenOnlyAuthenticator authorizes AuthContext only")
        authorize(principal, permission)


def build_router(service: str, authenticator: Authenticator | None) -> Router:
    """The authenticated no-op; ``authenticator=None`` keeps the router's default."""
    router = Router(service, authenticator=authenticator)

    @router.get(PATH, permission=PERMISSION, response=Ok)
    def noop_authenticated(ctx: RequestContext) -> Ok:
        """Does nothing once the caller is authenticated and holds the permission."""
        return Ok(ok=True)

    return router


# -- the benchmark's side ----------------------------------------------------------------------


@dataclass(frozen=True)
class SessionSetup:
    signing_key_pem: str
    active_token: str
    disabled_token: str

    def server_env(self, emulator_address: str, secrets_dir: str) -> dict[str, str]:
        return {
            "FIRESTORE_EMULATOR_HOST": emulator_address,
            SIGNING_KEY_VARIABLE: self.signing_key_pem,
            # An empty directory: no stored verification keys, so the local backend
            # derives them from the signing key above.
            "TRIBUTUM_SECRETS__LOCAL_DIR": secrets_dir,
        }


def access_state_client(project_id: str) -> Any:
    """A client of the database the stack reads access states from (``shared.auth.runtime``:
    the credentials database, by its default name, as the servers' settings leave it)."""
    from google.cloud import firestore

    from shared.config import FirestoreSettings

    return firestore.Client(project=project_id, database=FirestoreSettings().credentials_database)


def _access_states() -> dict[str, AccessState]:
    return {
        user: AccessState(user_id=user, tenant_id=TENANT_ID, role=ROLE, status=status)
        for user, status in ((ACTIVE_USER, STATUS_ACTIVE), (DISABLED_USER, STATUS_DISABLED))
    }


def prepare(client: Any) -> SessionSetup:
    """Write both users' access states, and mint their tokens with a fresh signing key."""
    from shared.auth.keys import KeySet
    from shared.auth.tokens import TokenIssuer, TokenSettings
    from shared.config import AuthSettings
    from shared.secrets.local import generate_value

    for user, state in _access_states().items():
        access_reference(client, user).set(state.to_document())
    pem = generate_value("ec_p256_private_key")
    keys = KeySet.from_secret(pem)
    issuer = TokenIssuer(TokenSettings.from_auth_settings(AuthSettings()), lambda: keys)

    def token(user: str) -> str:
        issued = issuer.issue_access(
            user_id=user, tenant_id=TENANT_ID, role=ROLE, family_id=FAMILY_ID
        )
        return issued.token

    return SessionSetup(pem, token(ACTIVE_USER), token(DISABLED_USER))


@dataclass(frozen=True)
class ColdRead:
    first_us: float  # the first read of the process (opens the gRPC channel)
    median_us: float
    min_us: float
    max_us: float
    count: int


def cold_reads(client: Any, count: int) -> ColdRead:
    """Cache misses, in-process: each ``get`` after ``forget`` reads the document once."""
    states = CachedAccessStates(FirestoreAccessStates(client))
    samples: list[float] = []
    first = 0.0
    for index in range(count + 1):
        states.forget(ACTIVE_USER)
        began = time.perf_counter()
        state = states.get(ACTIVE_USER)
        elapsed = time.perf_counter() - began
        if state is None or not state.active:
            raise RuntimeError("the benchmark user's access state was not read back")
        if index == 0:
            first = elapsed
        else:
            samples.append(elapsed)
    return ColdRead(
        first * 1e6,
        statistics.median(samples) * 1e6,
        min(samples) * 1e6,
        max(samples) * 1e6,
        len(samples),
    )


def cache_hit_us(client: Any, count: int, repeats: int = 5) -> float:
    """Best per-call time of the check on a cache hit, in-process: ``get`` plus ``admit``."""
    from shared.auth.claims import TokenClaims
    from shared.config import AuthSettings

    states = CachedAccessStates(FirestoreAccessStates(client))
    claims = TokenClaims(
        token_type=ACCESS,
        issuer=AuthSettings().issuer,
        audience=AuthSettings().audience,
        user_id=ACTIVE_USER,
        tenant_id=TENANT_ID,
        role=ROLE,
        jti="bench-jti",
        issued_at=0,
        not_before=0,
        expires_at=0,
        family_id=FAMILY_ID,
    )
    states.get(ACTIVE_USER)  # the one miss; every call below is served from the cache
    best = float("inf")
    for _ in range(repeats):
        best = min(best, _per_call(lambda: admit(states.get(ACTIVE_USER), claims), count))
    return best * 1e6


def _per_call(call: Callable[[], object], count: int) -> float:
    began = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - began) / count
