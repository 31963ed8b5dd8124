"""The allowance for private webhook hosts is a deployment setting the cloud keeps empty."""

from __future__ import annotations

import pytest

from shared.config import ConfigError, Settings
from tests.support.cloud import set_cloud_values


def test_the_allowance_is_empty_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIBUTUM_WEBHOOKS__ALLOWED_PRIVATE_HOSTS", raising=False)

    assert Settings().webhooks.allowed_private_hosts == ()


def test_the_local_stack_sets_it_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTUM_WEBHOOKS__ALLOWED_PRIVATE_HOSTS", '["127.0.0.1:8790"]')

    assert Settings().webhooks.allowed_private_hosts == ("127.0.0.1:8790",)


def test_the_cloud_refuses_to_start_with_any_allowance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("TRIBUTUM_ENV", "cloud")
    set_cloud_values(monkeypatch)
    monkeypatch.setenv("TRIBUTUM_WEBHOOKS__ALLOWED_PRIVATE_HOSTS", '["127.0.0.1:8790"]')

    with pytest.raises(ConfigError, match="ALLOWED_PRIVATE_HOSTS must be empty in the cloud"):
        Settings().check_consistency()
    monkeypatch.setenv("TRIBUTUM_WEBHOOKS__ALLOWED_PRIVATE_HOSTS", "[]")
    Settings().check_consistency()
