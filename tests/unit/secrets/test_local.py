"""The local backend: environment first, then files, then generated development values."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.secrets import (
    LocalSecretStore,
    SecretConfigError,
    SecretNotFoundError,
    environment_variable,
    secret_store,
)


def test_environment_variable_names() -> None:
    assert environment_variable("jwt-signing-keys") == "TRIBUTUM_SECRET_JWT_SIGNING_KEYS"
    assert environment_variable("payments-webhook-token") == (
        "TRIBUTUM_SECRET_PAYMENTS_WEBHOOK_TOKEN"
    )


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "api-token").write_text("from-file\n")
    store = LocalSecretStore(tmp_path, environ={"TRIBUTUM_SECRET_API_TOKEN": "from-env"})
    assert store.get("api-token") == "from-env"


def test_file_value_without_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "api-token").write_text("s3cr3t value\r\n")
    assert LocalSecretStore(tmp_path, environ={}).get("api-token") == "s3cr3t value"


def test_multiline_values_are_kept(tmp_path: Path) -> None:
    (tmp_path / "config-blob").write_text("line one\nline two\n")
    assert LocalSecretStore(tmp_path, environ={}).get("config-blob") == "line one\nline two"


def test_missing_secret_names_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(SecretNotFoundError) as caught:
        LocalSecretStore(tmp_path, environ={}).get("api-token")
    assert "TRIBUTUM_SECRET_API_TOKEN" in str(caught.value)
    assert str(tmp_path / "api-token") in str(caught.value)


def test_without_a_directory_only_the_environment_is_read() -> None:
    store = LocalSecretStore(None, environ={"TRIBUTUM_SECRET_API_TOKEN": "x"})
    assert store.get("api-token") == "x"
    with pytest.raises(SecretNotFoundError):
        store.get("other-token")


def test_empty_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "api-token").write_text("\n")
    with pytest.raises(SecretConfigError, match="empty"):
        LocalSecretStore(tmp_path, environ={}).get("api-token")


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "UPPER", "x", "with space", ".hidden"])
def test_names_that_could_escape_the_directory_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(SecretConfigError):
        LocalSecretStore(tmp_path, environ={}).get(name)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_signing_key_is_generated_once_as_p256_pem_with_mode_0600(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    store = LocalSecretStore(
        directory, generate={"jwt-signing-keys": "ec_p256_private_key"}, environ={}
    )
    pem = store.get("jwt-signing-keys")
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    assert _mode(directory / "jwt-signing-keys") == 0o600
    assert _mode(directory) == 0o700
    assert store.get("jwt-signing-keys") == pem
    again = LocalSecretStore(
        directory, generate={"jwt-signing-keys": "ec_p256_private_key"}, environ={}
    )
    assert again.get("jwt-signing-keys") == pem
    assert [p.name for p in directory.iterdir()] == ["jwt-signing-keys"]  # no temp files left


def test_random_token_is_generated_for_other_secrets(tmp_path: Path) -> None:
    store = LocalSecretStore(tmp_path, generate={"webhook-token": "random_token"}, environ={})
    token = store.get("webhook-token")
    assert len(token) >= 40 and token.isascii() and "\n" not in token
    assert _mode(tmp_path / "webhook-token") == 0o600
    other = LocalSecretStore(tmp_path / "elsewhere", generate={"webhook-token": "random_token"})
    assert other.get("webhook-token") != token


def test_secrets_not_declared_generatable_are_never_invented(tmp_path: Path) -> None:
    store = LocalSecretStore(tmp_path, generate={"webhook-token": "random_token"}, environ={})
    with pytest.raises(SecretNotFoundError):
        store.get("api-token")
    assert not (tmp_path / "api-token").exists()


def test_environment_value_skips_generation(tmp_path: Path) -> None:
    store = LocalSecretStore(
        tmp_path,
        generate={"webhook-token": "random_token"},
        environ={"TRIBUTUM_SECRET_WEBHOOK_TOKEN": "pinned"},
    )
    assert store.get("webhook-token") == "pinned"
    assert not (tmp_path / "webhook-token").exists()


def test_concurrent_first_use_from_separate_stores_yields_one_value(tmp_path: Path) -> None:
    # Separate store objects stand for the local stack's separate processes.
    stores = [
        LocalSecretStore(tmp_path, generate={"jwt-signing-keys": "ec_p256_private_key"}, environ={})
        for _ in range(8)
    ]
    results: list[str] = []
    barrier = threading.Barrier(len(stores))

    def first_use(store: LocalSecretStore) -> None:
        barrier.wait()
        results.append(store.get("jwt-signing-keys"))

    threads = [threading.Thread(target=first_use, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert (tmp_path / "jwt-signing-keys").read_text().rstrip("\n") == results[0]


def test_factory_builds_the_local_backend(tmp_path: Path) -> None:
    store = secret_store(
        "local",
        project_id="demo-tributum",
        local_dir=tmp_path,
        ttl_seconds=60,
        versions={},
        generate={"webhook-token": "random_token"},
    )
    assert isinstance(store, LocalSecretStore)
    assert store.get("webhook-token") == store.get("webhook-token")


def test_factory_refuses_unknown_backends(tmp_path: Path) -> None:
    with pytest.raises(SecretConfigError, match="unknown secrets backend"):
        secret_store(
            "vault",  # type: ignore[arg-type]
            project_id="p",
            local_dir=tmp_path,
            ttl_seconds=1,
            versions={},
        )
