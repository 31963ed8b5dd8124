"""Managing webhook endpoints through the webhooks function: secrets, rules, tenancy."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from emulator.webhook_sink import WebhookSink
from shared.secrets import SecretAccessError
from shared.webhooks.store import read_secrets
from shared.webhooks.urls import refused_address
from tests.integration.ledger.conftest import outbox_types
from tests.integration.webhooks.conftest import TENANT, Webhooks, webhook_documents
from tests.support.http import RouterClient


def _create(api: RouterClient, body: dict[str, Any], who: str = "admin") -> Any:
    return api.post("/v1/webhooks/endpoints", json=body, token=who)


def test_the_secret_is_shown_at_creation_and_never_again(
    api: RouterClient, platform: Any, sink: WebhookSink
) -> None:
    answer = _create(api, {"url": sink.url("/hooks"), "event_types": ["payment.*", "payment.*"]})

    assert answer.status == 201, answer.json
    created = answer.data
    assert created["secret"].startswith("whsec_")
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Location"] == f"/v1/webhooks/endpoints/{created['id']}"
    assert (created["event_types"], created["enabled"]) == (["payment.*"], True)
    listed = api.get("/v1/webhooks/endpoints", token="owner")
    one = api.get(f"/v1/webhooks/endpoints/{created['id']}", token="admin")
    for answer_body in (listed.body, one.body):
        assert created["secret"].encode() not in answer_body
    assert [e["id"] for e in listed.data] == [created["id"]]
    documents = webhook_documents(platform)
    [endpoint_path] = [p for p in documents if "/webhook_endpoints/" in p]
    assert endpoint_path == f"tenants/{TENANT}/webhook_endpoints/{created['id']}"
    assert created["secret"] not in str(documents[endpoint_path])
    secrets = documents[f"tenants/{TENANT}/webhook_secrets/{created['id']}"]["secrets"]
    # Sealed (a local key here, Cloud KMS in the cloud), bound to this endpoint.
    assert [sorted(s) for s in secrets] == [["created_at", "expires_at", "key", "sealed"]]
    assert created["secret"] not in str(secrets)
    unsealed = read_secrets(platform, TENANT, created["id"])
    assert [s.value for s in unsealed] == [created["secret"]]
    assert ("audit-events", "audit.recorded") in outbox_types(platform)
    assert all(created["secret"] not in str(d) for d in _outbox(platform))


def _outbox(db: Any) -> list[dict[str, Any]]:
    return [s.to_dict() or {} for s in db.collection("outbox").stream()]


def test_update_disable_enable_and_delete(
    hooks: Webhooks, api: RouterClient, sink: WebhookSink
) -> None:
    endpoint_id = hooks.create(["payment.settled"])["id"]

    changed = api.patch(
        f"/v1/webhooks/endpoints/{endpoint_id}",
        json={"event_types": ["ledger.*"], "description": "ERP", "url": sink.url("/other")},
        token="owner",
    )
    disabled = api.post(f"/v1/webhooks/endpoints/{endpoint_id}/disable", token="admin")
    again = api.post(f"/v1/webhooks/endpoints/{endpoint_id}/disable", token="admin")
    enabled = api.patch(
        f"/v1/webhooks/endpoints/{endpoint_id}", json={"enabled": True}, token="admin"
    )
    deleted = api.request("DELETE", f"/v1/webhooks/endpoints/{endpoint_id}", token="admin")

    assert changed.status == 200, changed.json
    assert (changed.data["event_types"], changed.data["description"]) == (["ledger.*"], "ERP")
    assert changed.data["url"].endswith("/other")
    assert (disabled.data["enabled"], disabled.data["disabled_reason"]) == (
        False, "disabled_by_user",
    )  # fmt: skip
    assert again.data["disabled_at"] == disabled.data["disabled_at"]
    assert (enabled.data["enabled"], enabled.data["disabled_reason"]) == (True, None)
    assert deleted.status == 204
    assert api.get(f"/v1/webhooks/endpoints/{endpoint_id}", token="admin").status == 404
    assert webhook_documents(hooks.db) == {}


def test_rotation_returns_a_new_secret_and_keeps_the_old_one_for_a_day(
    hooks: Webhooks, api: RouterClient, platform: Any
) -> None:
    created = hooks.create()

    rotated = api.post(f"/v1/webhooks/endpoints/{created['id']}/rotate-secret", token="owner")

    assert rotated.status == 200, rotated.json
    assert rotated.headers["Cache-Control"] == "no-store"
    assert rotated.data["secret"] not in (created["secret"], None)
    overlap = datetime.fromisoformat(rotated.data["previous_secret_expires_at"])
    assert abs(overlap - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=1)
    stored = webhook_documents(platform)[f"tenants/{TENANT}/webhook_secrets/{created['id']}"]
    unsealed = read_secrets(platform, TENANT, created["id"])
    assert [s.value for s in unsealed] == [rotated.data["secret"], created["secret"]]
    assert stored["secrets"][0]["expires_at"] is None
    one = api.get(f"/v1/webhooks/endpoints/{created['id']}", token="admin")
    assert one.data["secret_rotated_at"] is not None and "secret" not in one.data


@pytest.mark.parametrize("who", ["accountant", "viewer"])
def test_only_owners_and_admins_manage_endpoints(
    api: RouterClient, platform: Any, sink: WebhookSink, who: str
) -> None:
    answer = _create(api, {"url": sink.url(), "event_types": ["*"]}, who=who)

    assert answer.status == 403
    assert api.get("/v1/webhooks/endpoints", token=who).status == 403
    assert webhook_documents(platform) == {}


def test_another_tenants_endpoint_does_not_exist(hooks: Webhooks, api: RouterClient) -> None:
    endpoint_id = hooks.create()["id"]
    before = webhook_documents(hooks.db)

    path = f"/v1/webhooks/endpoints/{endpoint_id}"
    assert api.get(path, token="other-admin").status == 404
    assert api.patch(path, json={"enabled": False}, token="other-admin").status == 404
    assert api.post(f"{path}/rotate-secret", token="other-admin").status == 404
    assert api.request("DELETE", path, token="other-admin").status == 404
    assert api.get(f"{path}/deliveries", token="other-admin").status == 404
    assert api.get("/v1/webhooks/endpoints", token="other-admin").data == []
    assert webhook_documents(hooks.db) == before


def _private_name() -> str:
    """A name this machine resolves to private addresses only (its own host name, usually)."""
    for name in (socket.gethostname(), "ip6-localhost", "ip6-loopback"):
        try:
            addresses = {str(info[4][0]) for info in socket.getaddrinfo(name, 443)}
        except OSError:
            continue
        private = addresses and all(refused_address(a) is not None for a in addresses)
        if private and name != "localhost" and not name.endswith((".local", ".internal")):
            return name
    pytest.skip("no host name here resolves to a private address")


UNSAFE = {
    # In the cloud the allowance is empty: http to any host is refused.
    "http_public": ("http://93.184.215.14/hooks", "url_scheme"),
    "loopback": ("https://127.0.0.1/hooks", "url_private_address"),
    "loopback_other_port": ("http://127.0.0.1:9/hooks", "url_scheme"),
    "private_10": ("https://10.0.0.7/hooks", "url_private_address"),
    "metadata": ("https://169.254.169.254/computeMetadata/v1/", "url_private_address"),
    "ipv6_loopback": ("https://[::1]/hooks", "url_private_address"),
    "mapped_loopback": ("https://[::ffff:127.0.0.1]/hooks", "url_private_address"),
    "metadata_name": ("https://metadata.google.internal/x", "url_forbidden_host"),
    "localhost": ("https://localhost/hooks", "url_forbidden_host"),
    "userinfo": ("https://user:pw@93.184.215.14/hooks", "url_userinfo"),
    "decimal_ip": ("https://2130706433/hooks", "url_invalid"),
    "unresolvable": ("https://no-such-host.invalid/hooks", "url_unresolvable"),
}


@pytest.mark.parametrize("case", [*UNSAFE, "resolves_private"])
def test_an_unsafe_url_is_a_422_naming_url_and_writes_nothing(
    api: RouterClient, platform: Any, case: str
) -> None:
    url, code = UNSAFE.get(case) or (f"https://{_private_name()}/hooks", "url_private_address")

    answer = _create(api, {"url": url, "event_types": ["*"]})

    assert answer.status == 422, answer.json
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert [(e["field"], e["code"]) for e in answer.json["errors"]] == [("url", code)]
    assert webhook_documents(platform) == {}
    assert _outbox(platform) == []


def test_changing_the_url_to_an_unsafe_one_changes_nothing(
    hooks: Webhooks, api: RouterClient
) -> None:
    endpoint_id = hooks.create()["id"]
    before = webhook_documents(hooks.db)

    answer = api.patch(
        f"/v1/webhooks/endpoints/{endpoint_id}",
        json={"url": "https://169.254.169.254/latest/meta-data", "description": "x"},
        token="admin",
    )

    assert answer.status == 422
    assert [e["field"] for e in answer.json["errors"]] == ["url"]
    assert webhook_documents(hooks.db) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_types": ["payment.setled"]}, "event_types.0"),
        ({"event_types": ["*", "audit.*"]}, "event_types.1"),
        ({"event_types": ["payment.requested"]}, "event_types.0"),
        ({"event_types": []}, "event_types"),
        ({"event_types": ["*"], "description": "a\nb"}, "description"),
        ({"event_types": ["*"], "tenant_id": "tenant-b"}, "tenant_id"),
        ({"event_types": ["*"], "url": "x" * 2049}, "url"),
    ],
)
def test_a_bad_body_is_a_422_naming_the_field(
    api: RouterClient, platform: Any, sink: WebhookSink, body: dict[str, Any], field: str
) -> None:
    answer = _create(api, {"url": sink.url(), **body})

    assert answer.status == 422, answer.json
    assert field in {e["field"] for e in answer.json["errors"]}
    assert webhook_documents(platform) == {}


def test_a_tenant_has_at_most_20_endpoints(hooks: Webhooks, api: RouterClient) -> None:
    for _ in range(20):
        hooks.create()

    answer = _create(api, {"url": hooks.sink.url(), "event_types": ["*"]})

    assert answer.status == 422
    assert answer.json["code"] == "too_many_webhook_endpoints"
    assert len(orjson.loads(api.get("/v1/webhooks/endpoints", token="admin").body)["data"]) == 20


def test_a_sealed_secret_copied_under_another_endpoint_does_not_unseal(
    hooks: Webhooks, platform: Any
) -> None:
    first, second = hooks.create(), hooks.create()
    documents = webhook_documents(platform)
    sealed = documents[f"tenants/{TENANT}/webhook_secrets/{first['id']}"]
    platform.document(f"tenants/{TENANT}/webhook_secrets/{second['id']}").set(sealed)
    with pytest.raises(SecretAccessError):
        read_secrets(platform, TENANT, second["id"])


def test_secrets_stored_plain_before_sealing_still_sign(hooks: Webhooks, platform: Any) -> None:
    endpoint = hooks.create()
    written = datetime.now(UTC)
    platform.document(f"tenants/{TENANT}/webhook_secrets/{endpoint['id']}").set(
        {"secrets": [{"value": "whsec_c2VhbGVkLWJlZm9yZQ==", "created_at": written}]}
    )
    [secret] = read_secrets(platform, TENANT, endpoint["id"])
    assert secret.value == "whsec_c2VhbGVkLWJlZm9yZQ=="
