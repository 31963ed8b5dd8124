"""A poison message, dead-lettered after its attempts, replayed once the consumer is fixed.

Through the whole stack: the Pub/Sub emulator's dead-letter policy, the real
``dead_letters`` function storing what arrives on ``e2e-fixable-dlq``, the real
``dead_letters_api`` behind the gateway (a real token, verified with the stack's
local keys), and the consumer's run_once counting the effect.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from shared.auth import KeySet, TokenIssuer, TokenSettings
from shared.auth.runtime import GENERATED_SECRETS, SIGNING_KEYS_SECRET
from shared.config import AuthSettings
from shared.events.envelope import new_event
from shared.secrets import LocalSecretStore
from tests.e2e.conftest import REPO_ROOT, StackHandle, http, wait_for

TENANT = "tenant-e2e-replay"


def _admin_token() -> str:
    """A token the stack accepts: signed with the local development key its functions use."""
    store = LocalSecretStore(REPO_ROOT / ".local" / "secrets", generate=GENERATED_SECRETS)
    keys = KeySet.from_secret(store.get(SIGNING_KEYS_SECRET))
    issuer = TokenIssuer(TokenSettings.from_auth_settings(AuthSettings()), lambda: keys)
    return issuer.issue_access(user_id="u-ops", tenant_id=TENANT, role="admin").token


def _api(stack: StackHandle, method: str, path: str, token: str) -> Any:
    reply = http(
        method,
        f"{stack.gateway_url}{path}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status == 200, f"{method} {path}: {reply.status} {reply.body!r}"
    return reply.json()["data"]


def test_a_dead_letter_replayed_after_the_fix_is_processed_once(stack: StackHandle) -> None:
    firestore = stack.firestore()
    firestore.set("e2e_switches/fixable", {"broken": True})
    # Every request is checked against the user's stored access state (shared.auth.access),
    # kept in the credentials database.
    stack.firestore("credentials").set(
        "user_access/u-ops",
        {"user_id": "u-ops", "tenant_id": TENANT, "role": "admin", "status": "active", "epoch": 0},
    )
    token = _admin_token()
    work = new_event(
        "e2e.work_requested",
        source="e2e",
        subject=f"work/{uuid.uuid4().hex}",
        tenant_id=TENANT,
        data={"n": 1},
    )
    stack.pubsub().publish("e2e-fixable", work.to_bytes(), {"correlation_id": work.correlation_id})

    def stored() -> dict[str, Any] | None:
        letters = _api(stack, "GET", "/v1/dead-letters?limit=100", token)
        return next((d for d in letters if d.get("event_id") == work.id), None)

    letter = wait_for(stored, timeout=120, what="the dead letter in the dead-letters API")
    assert letter["topic"] == "e2e-fixable"
    assert letter["delivery_count"] == 5
    assert letter["source_subscription"] == "e2e-fixable--e2e_fixable"
    assert json.loads(letter["data_text"])["id"] == work.id
    assert firestore.get(f"e2e_effects/{work.id}") is None

    # The fix is deployed; replaying sends the stored message to its original topic.
    firestore.set("e2e_switches/fixable", {"broken": False})
    replayed = _api(stack, "POST", f"/v1/dead-letters/{letter['id']}/replay", token)
    assert replayed["status"] == "replayed"
    effect = wait_for(
        lambda: firestore.get(f"e2e_effects/{work.id}"), timeout=60, what="the replayed effect"
    )
    assert effect["applied"] == 1

    # Replaying it again (an operator's double click) changes nothing: one effect per event.
    _api(stack, "POST", f"/v1/dead-letters/{letter['id']}/replay", token)
    time.sleep(3)
    assert firestore.get(f"e2e_effects/{work.id}") == {"applied": 1}
