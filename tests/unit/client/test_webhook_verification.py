"""verify_webhook against the service's own signatures and the reference implementation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from shared.client import TributumError, WebhookVerificationError, verify_webhook
from shared.webhooks.signing import delivery_headers, new_secret

NOW = 1_760_000_000
BODY = json.dumps({"type": "payment.captured", "data": {"id": "pay_1"}}).encode()


def test_a_delivery_signed_by_the_service_verifies() -> None:
    secret = new_secret()
    headers = delivery_headers([secret], "msg_1", NOW, BODY)
    assert verify_webhook(BODY, headers, secret, now=NOW) == json.loads(BODY)


def test_during_a_rotation_either_secret_verifies_and_a_list_of_secrets_too() -> None:
    old, new = new_secret(), new_secret()
    headers = delivery_headers([new, old], "msg_2", NOW, BODY)
    assert verify_webhook(BODY, headers, old, now=NOW)
    assert verify_webhook(BODY, headers, new, now=NOW)
    assert verify_webhook(BODY, headers, [new_secret(), old], now=NOW)


def test_a_signature_of_the_reference_implementation_verifies() -> None:
    secret = new_secret()
    signature = Webhook(secret).sign("msg_3", datetime.fromtimestamp(NOW, tz=UTC), BODY.decode())
    headers = {"Webhook-Id": "msg_3", "Webhook-Timestamp": str(NOW), "Webhook-Signature": signature}
    assert verify_webhook(BODY, headers, secret, now=NOW)


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_timestamp_outside_the_tolerance_is_refused(skew: int) -> None:
    secret = new_secret()
    headers = delivery_headers([secret], "msg_4", NOW, BODY)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_webhook(BODY, headers, secret, now=NOW + skew)
    assert verify_webhook(BODY, headers, secret, now=NOW + skew, tolerance_seconds=600)


def test_a_changed_body_id_or_timestamp_is_refused() -> None:
    secret = new_secret()
    headers = delivery_headers([secret], "msg_5", NOW, BODY)
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify_webhook(BODY.replace(b"pay_1", b"pay_2"), headers, secret, now=NOW)
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify_webhook(BODY, {**headers, "webhook-id": "msg_6"}, secret, now=NOW)
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify_webhook(BODY, {**headers, "webhook-timestamp": str(NOW + 1)}, secret, now=NOW)


def test_another_secret_or_no_signature_is_refused() -> None:
    headers = delivery_headers([new_secret()], "msg_7", NOW, BODY)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, headers, new_secret(), now=NOW)
    unsigned = {k: v for k, v in headers.items() if k != "webhook-signature"}
    with pytest.raises(WebhookVerificationError, match="webhook-signature"):
        verify_webhook(BODY, unsigned, new_secret(), now=NOW)


def test_unknown_versions_and_malformed_signatures_are_skipped_not_trusted() -> None:
    secret = new_secret()
    good = delivery_headers([secret], "msg_8", NOW, BODY)["webhook-signature"]
    junk = f"v2,{good[3:]} v1,%%%not-base64 v1a,{base64.b64encode(b'x').decode()}"
    headers = {"webhook-id": "msg_8", "webhook-timestamp": str(NOW), "webhook-signature": junk}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, headers, secret, now=NOW)
    headers["webhook-signature"] = f"{junk} {good}"
    assert verify_webhook(BODY, headers, secret, now=NOW)


def test_a_malformed_secret_or_timestamp_is_a_verification_error() -> None:
    headers = delivery_headers([new_secret()], "msg_9", NOW, BODY)
    with pytest.raises(WebhookVerificationError, match="whsec_"):
        verify_webhook(BODY, headers, "whsec_%%%", now=NOW)
    with pytest.raises(WebhookVerificationError, match="not a number"):
        verify_webhook(BODY, {**headers, "webhook-timestamp": "soon"}, new_secret(), now=NOW)
    assert issubclass(WebhookVerificationError, TributumError)
