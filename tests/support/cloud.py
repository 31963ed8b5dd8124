"""What Terraform sets for every function besides ``TRIBUTUM_ENV=cloud`` that settings
require in the cloud (infra/functions.tf), for tests that load cloud settings."""

from __future__ import annotations

import pytest

CLOUD_VALUES = {
    "TRIBUTUM_PUSH__INVOKER": "push-invoker@demo.iam.gserviceaccount.com",
    "TRIBUTUM_WEBHOOKS__SECRETS_KEY": (
        "projects/demo/locations/europe-west1/keyRings/tributum/cryptoKeys/webhook-secrets"
    ),
    "TRIBUTUM_FIRESTORE__ACCESS": '{"credentials":"read","main":"write"}',
}


def set_cloud_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CLOUD_VALUES.items():
        monkeypatch.setenv(name, value)
