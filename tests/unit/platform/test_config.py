"""shared.config: typed settings from TRIBUTUM_* variables, refused when unusable."""

from __future__ import annotations

import pytest

from shared.config import ConfigError, Settings, get_settings, load_settings, reset_settings
from tests.support.cloud import CLOUD_VALUES, set_cloud_values


def test_defaults_without_any_variable() -> None:
    settings = load_settings()
    assert settings.env == "local"
    assert settings.project_id == "demo-tributum"
    assert settings.function_name == "unknown"
    assert settings.firestore_database == "(default)"
    assert settings.log_level == "INFO"
    assert settings.http.max_body_bytes == 1_048_576
    assert settings.http.cors_allow_origins == ()
    assert settings.auth.access_token_ttl_seconds == 900
    assert settings.idempotency.ttl_seconds == 86_400
    assert settings.features.debug_errors is False
    assert settings.features.serve_openapi is True
    assert settings.runs_on_emulators is True


def test_top_level_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTUM_PROJECT_ID", "acme-prod")
    monkeypatch.setenv("TRIBUTUM_FUNCTION_NAME", "journal")
    monkeypatch.setenv("TRIBUTUM_LOG_LEVEL", "DEBUG")
    settings = load_settings()
    assert (settings.project_id, settings.function_name, settings.log_level) == (
        "acme-prod",
        "journal",
        "DEBUG",
    )


def test_nested_variables_use_a_double_underscore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTUM_HTTP__MAX_BODY_BYTES", "65536")
    monkeypatch.setenv("TRIBUTUM_HTTP__CORS_ALLOW_ORIGINS", '["https://app.example"]')
    monkeypatch.setenv("TRIBUTUM_IDEMPOTENCY__WAIT_SECONDS", "2.5")
    monkeypatch.setenv("TRIBUTUM_FEATURES__SERVE_OPENAPI", "false")
    settings = load_settings()
    assert settings.http.max_body_bytes == 65_536
    assert settings.http.cors_allow_origins == ("https://app.example",)
    assert settings.idempotency.wait_seconds == 2.5
    assert settings.features.serve_openapi is False
    # The untouched settings of the same section keep their defaults.
    assert settings.http.cors_max_age_seconds == 600


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TRIBUTUM_HTTP__MAX_BODY_BYTES", "lots"),
        ("TRIBUTUM_HTTP__MAX_BODY_BYTES", "10"),  # below the 1024-byte floor
        ("TRIBUTUM_HTTP__MAX_BODY_BYTES", str(64 * 1_048_576)),  # above the 32 MiB ceiling
        ("TRIBUTUM_ENV", "production"),
        ("TRIBUTUM_LOG_LEVEL", "LOUD"),
        ("TRIBUTUM_LOG_FORMAT", "xml"),
        ("TRIBUTUM_AUTH__ACCESS_TOKEN_TTL_SECONDS", "5"),
        ("TRIBUTUM_FEATURES__DEBUG_ERRORS", "perhaps"),
        ("TRIBUTUM_SECRETS__BACKEND", "vault"),
        ("TRIBUTUM_HTTP__CORS_ALLOW_ORIGINS", "not json"),
    ],
)
def test_a_bad_value_raises_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert variable in str(raised.value)


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTUM_HTTP__MAX_BODY_BYTES", "lots")
    monkeypatch.setenv("TRIBUTUM_AUTH__PASSWORD_MIN_LENGTH", "3")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert "TRIBUTUM_HTTP__MAX_BODY_BYTES" in message
    assert "TRIBUTUM_AUTH__PASSWORD_MIN_LENGTH" in message


def test_a_misspelt_nested_variable_is_refused_not_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTUM_HTTP__MAX_BODY_BYTE", "65536")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "TRIBUTUM_HTTP__MAX_BODY_BYTE" in str(raised.value)


def test_debug_errors_are_refused_in_the_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTUM_ENV", "cloud")
    set_cloud_values(monkeypatch)
    monkeypatch.setenv("TRIBUTUM_FEATURES__DEBUG_ERRORS", "true")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "TRIBUTUM_FEATURES__DEBUG_ERRORS" in str(raised.value)


def test_the_cloud_refuses_to_start_without_a_push_invoker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without it consumers could not check push tokens: that must not pass silently.
    monkeypatch.setenv("TRIBUTUM_ENV", "cloud")
    monkeypatch.setenv(
        "TRIBUTUM_WEBHOOKS__SECRETS_KEY", CLOUD_VALUES["TRIBUTUM_WEBHOOKS__SECRETS_KEY"]
    )
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "TRIBUTUM_PUSH__INVOKER" in str(raised.value)


def test_the_cloud_refuses_to_start_without_the_functions_firestore_access(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # IAM grants what the manifest states; the clients must enforce the same in code.
    monkeypatch.setenv("TRIBUTUM_ENV", "cloud")
    set_cloud_values(monkeypatch)
    monkeypatch.delenv("TRIBUTUM_FIRESTORE__ACCESS")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "TRIBUTUM_FIRESTORE__ACCESS" in str(raised.value)


def test_firestore_access_is_read_from_its_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTUM_FIRESTORE__ACCESS", '{"credentials":"none","main":"read"}')
    access = load_settings().firestore.access
    assert access is not None
    assert (access.main, access.credentials) == ("read", "none")
    monkeypatch.setenv("TRIBUTUM_FIRESTORE__ACCESS", '{"credentials":"all","main":"read"}')
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "TRIBUTUM_FIRESTORE__ACCESS__CREDENTIALS" in str(raised.value)


def test_the_credentials_database_must_be_a_database_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIBUTUM_FIRESTORE__CREDENTIALS_DATABASE", "(default)")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "TRIBUTUM_FIRESTORE__CREDENTIALS_DATABASE" in str(raised.value)


@pytest.mark.parametrize("key", ["", "webhook-secrets"])
def test_the_cloud_refuses_to_start_without_a_kms_key_for_webhook_secrets(
    monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv("TRIBUTUM_ENV", "cloud")
    set_cloud_values(monkeypatch)
    monkeypatch.setenv("TRIBUTUM_WEBHOOKS__SECRETS_KEY", key)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "TRIBUTUM_WEBHOOKS__SECRETS_KEY" in str(raised.value)


def test_no_push_invoker_is_needed_locally() -> None:
    assert load_settings().push.invoker == ""


def test_debug_errors_are_allowed_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTUM_FEATURES__DEBUG_ERRORS", "true")
    assert load_settings().features.debug_errors is True


@pytest.mark.parametrize("variable", ["FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST"])
def test_emulator_hosts_are_refused_in_the_cloud(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv("TRIBUTUM_ENV", "cloud")
    set_cloud_values(monkeypatch)
    monkeypatch.setenv(variable, "127.0.0.1:8080")
    with pytest.raises(ConfigError, match="emulator"):
        load_settings()


@pytest.mark.parametrize(
    ("env", "log_format", "expected"),
    [
        ("cloud", None, "json"),
        # The local stack writes what the cloud writes, so its logs read the same.
        ("local", None, "json"),
        ("test", None, "console"),
        ("test", "json", "json"),
        ("cloud", "console", "console"),
    ],
)
def test_effective_log_format_follows_env_unless_set(
    monkeypatch: pytest.MonkeyPatch, env: str, log_format: str | None, expected: str
) -> None:
    monkeypatch.setenv("TRIBUTUM_ENV", env)
    set_cloud_values(monkeypatch)
    if log_format is not None:
        monkeypatch.setenv("TRIBUTUM_LOG_FORMAT", log_format)
    assert load_settings().effective_log_format == expected


@pytest.mark.parametrize(
    ("env", "backend", "expected"),
    [
        ("cloud", None, "secret_manager"),
        ("local", None, "local"),
        ("test", None, "local"),
        ("local", "secret_manager", "secret_manager"),
        ("cloud", "local", "local"),
    ],
)
def test_secrets_backend_follows_env_unless_set(
    monkeypatch: pytest.MonkeyPatch, env: str, backend: str | None, expected: str
) -> None:
    monkeypatch.setenv("TRIBUTUM_ENV", env)
    set_cloud_values(monkeypatch)
    if backend is not None:
        monkeypatch.setenv("TRIBUTUM_SECRETS__BACKEND", backend)
    settings = load_settings()
    assert settings.secrets_backend == expected
    assert settings.runs_on_emulators is (env != "cloud")


def test_get_settings_is_cached_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTUM_FUNCTION_NAME", "first")
    first = get_settings()
    monkeypatch.setenv("TRIBUTUM_FUNCTION_NAME", "second")
    assert get_settings() is first
    reset_settings()
    assert get_settings().function_name == "second"


def test_settings_are_immutable() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.env = "cloud"  # type: ignore[misc]
    with pytest.raises(ValueError, match="frozen"):
        settings.http.max_body_bytes = 1  # type: ignore[misc]
    assert isinstance(settings, Settings)
