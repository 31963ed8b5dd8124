"""Our Standard Webhooks signatures, checked by the specification's reference implementation."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.webhooks.signing import (
    SIGNATURE_HEADER,
    MalformedSecretError,
    delivery_headers,
    new_secret,
    secret_key,
    sign,
)

BODY = b'{"type":"payment.settled","data":{"amount":"12.30","note":"caf\xc3\xa9"}}'
WEBHOOK_ID = "msg_0123456789abcdef0123456789abcdef"


def test_the_specifications_published_example_signs_the_same() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'

    ours = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)

    reference = Webhook(secret).sign(
        "msg_p5jXN8AQM9LWM0D4loKWxJek", datetime.fromtimestamp(1614265330, UTC), body.decode()
    )
    assert ours == reference == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_delivery_verifies_with_the_reference_implementation() -> None:
    secret = new_secret()
    headers = delivery_headers([secret], WEBHOOK_ID, int(time.time()), BODY)

    event = Webhook(secret).verify(BODY, headers)

    assert event["data"]["note"] == "café"
    assert headers["webhook-id"] == WEBHOOK_ID
    assert headers["content-type"] == "application/json"


def test_during_a_rotation_either_secret_verifies() -> None:
    new, previous = new_secret(), new_secret()
    headers = delivery_headers([new, previous], WEBHOOK_ID, int(time.time()), BODY)

    signatures = headers[SIGNATURE_HEADER].split(" ")

    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    Webhook(new).verify(BODY, headers)
    Webhook(previous).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body + b" ", headers),
        lambda body, headers: (body, {**headers, "webhook-id": "msg_" + "0" * 32}),
        lambda body, headers: (
            body,
            {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)},
        ),
    ],
    ids=["body", "id", "timestamp"],
)
def test_any_change_breaks_the_signature(tamper: object) -> None:
    secret = new_secret()
    headers = delivery_headers([secret], WEBHOOK_ID, int(time.time()), BODY)
    body, changed = tamper(BODY, headers)  # type: ignore[operator]

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, changed)


def test_an_old_timestamp_is_refused_by_receivers() -> None:
    secret = new_secret()
    headers = delivery_headers([secret], WEBHOOK_ID, int(time.time()) - 600, BODY)

    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, headers)


def test_secrets_are_whsec_and_32_random_bytes() -> None:
    secrets = {new_secret() for _ in range(50)}

    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32


@pytest.mark.parametrize("value", ["", "whsec_", "sk_abc", "whsec_not base64!"])
def test_a_malformed_secret_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(MalformedSecretError) as raised:
        secret_key(value)

    assert str(raised.value) in {
        "a signing secret starts with whsec_",
        "a signing secret is base64 after whsec_",
        "a signing secret is not empty",
    }


def test_a_delivery_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        delivery_headers([], WEBHOOK_ID, 0, BODY)
