"""Typed configuration, validated once per instance at start.

Every setting comes from an environment variable prefixed ``TRIBUTUM_``; nested
settings use ``__`` (``TRIBUTUM_HTTP__MAX_BODY_BYTES=65536``). A bad value fails
the start with :class:`ConfigError` naming the variable, instead of a request
failing later. Feature flags are typed settings, off unless documented otherwise.
"""

from __future__ import annotations

import json
import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from shared.instance import per_instance, reset_instances

ENV_PREFIX = "TRIBUTUM_"
NESTED_DELIMITER = "__"


class ConfigError(RuntimeError):
    """The environment holds a setting that cannot be used; the message names it."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpSettings(_Section):
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=32 * 1_048_576)
    # Exact origins allowed by CORS; empty means no cross-origin access at all.
    cors_allow_origins: tuple[str, ...] = ()
    cors_max_age_seconds: int = Field(default=600, ge=0, le=86_400)
    # How many proxies in front of the function append to X-Forwarded-For: Google's front
    # end adds one (the client's address, last); an external load balancer adds one more.
    trusted_proxy_hops: int = Field(default=1, ge=0, le=5)


class AuthSettings(_Section):
    issuer: str = "https://tributum.dev"
    audience: str = "tributum-api"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    refresh_token_ttl_seconds: int = Field(default=7 * 86_400, ge=3600, le=90 * 86_400)
    # How long a retired signing key still verifies tokens after rotation.
    key_overlap_seconds: int = Field(default=86_400, ge=0)
    password_min_length: int = Field(default=12, ge=8, le=128)


class SecretsSettings(_Section):
    backend: Literal["local", "secret_manager"] | None = None  # None: follow `env`
    local_dir: str = ".local/secrets"
    cache_ttl_seconds: int = Field(default=300, ge=0, le=86_400)
    # Pinned versions per secret name; "latest" is refused in the cloud by the secrets module.
    versions: dict[str, str] = Field(default_factory=dict)


class IdempotencySettings(_Section):
    ttl_seconds: int = Field(default=86_400, ge=60, le=30 * 86_400)
    in_progress_ttl_seconds: int = Field(default=60, ge=1, le=3600)
    # A concurrent duplicate waits this long for the first execution before a 409.
    wait_seconds: float = Field(default=5.0, ge=0.0, le=60.0)


class WebhookSettings(_Section):
    # Hosts ("127.0.0.1") or host:port pairs ("127.0.0.1:8790") that webhook endpoints
    # may name although they resolve to private addresses, over http too. The manifest's
    # environment fills it: empty in the cloud (enforced below), the local stack's
    # webhook sink on one machine (shared/webhooks/urls.py).
    allowed_private_hosts: tuple[str, ...] = ()
    # The Cloud KMS key signing secrets are sealed with (shared/secrets/sealing.py). The
    # manifest's environment fills it: the key in the cloud (required there), empty on
    # the local stack, which seals with a key of its local secrets directory.
    secrets_key: str = ""


class MailSettings(_Section):
    # Where the send_mail function POSTs each email as JSON. Empty: no transport, so
    # emails are logged without their content and dropped. The manifest's environment
    # fills it: empty in the cloud until a provider is configured, the local stack's
    # mail sink on one machine (shared/users/mail.py).
    transport_url: str = ""


class FirestoreAccess(_Section):
    """What a function may do in each Firestore database, as IAM grants it in the cloud."""

    main: Literal["read", "write"] = "write"
    credentials: Literal["none", "read", "write"] = "none"


class FirestoreSettings(_Section):
    # The database that holds credential material (users and their password hashes,
    # sessions, revocations, key hashes, reset and invitation tokens): a database of its
    # own, so IAM can keep it from the functions that do not verify or issue credentials.
    credentials_database: str = "credentials"
    # What this function may do in each database (JSON, from the manifest's `firestore`
    # entry): Terraform grants exactly this, and shared/clients.py refuses the rest
    # in code, which is what stands in for IAM on the emulator. None (one process
    # holding several functions, as tests do): every database writable.
    access: FirestoreAccess | None = None


class PushSettings(_Section):
    # The service account Pub/Sub signs push tokens as (infra/pubsub.tf's push invoker):
    # consumers accept a push only with its token (shared/events/push_auth.py). The
    # manifest's environment fills it: the account in the cloud (required there), empty
    # on the local stack, whose emulator signs no tokens.
    invoker: str = ""


class FeatureFlags(_Section):
    """Opt-in behaviour; every flag defaults to the conservative choice."""

    # Include exception type and message in 500 bodies (never in the cloud).
    debug_errors: bool = False
    # Each HTTP function serves its own OpenAPI document at /_meta/openapi.json
    # (the gateway merges them). On by default: the document describes public routes only.
    serve_openapi: bool = True


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        extra="ignore",
        frozen=True,
    )

    env: Literal["local", "test", "cloud"] = "local"
    project_id: str = "demo-tributum"
    function_name: str = "unknown"
    firestore_database: str = "(default)"
    firestore: FirestoreSettings = FirestoreSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # None: Cloud Logging JSON, in the cloud and on the local stack alike; console lines in tests.
    log_format: Literal["json", "console"] | None = None
    http: HttpSettings = HttpSettings()
    auth: AuthSettings = AuthSettings()
    secrets: SecretsSettings = SecretsSettings()
    idempotency: IdempotencySettings = IdempotencySettings()
    webhooks: WebhookSettings = WebhookSettings()
    mail: MailSettings = MailSettings()
    push: PushSettings = PushSettings()
    features: FeatureFlags = FeatureFlags()

    @property
    def runs_on_emulators(self) -> bool:
        """True locally and in tests: Firestore and Pub/Sub are the official emulators."""
        return self.env != "cloud"

    @property
    def effective_log_format(self) -> str:
        if self.log_format is not None:
            return self.log_format
        return "console" if self.env == "test" else "json"

    @property
    def secrets_backend(self) -> str:
        if self.secrets.backend is not None:
            return self.secrets.backend
        return "secret_manager" if self.env == "cloud" else "local"

    def check_consistency(self) -> None:
        if self.env == "cloud" and self.features.debug_errors:
            raise ConfigError(
                f"{ENV_PREFIX}FEATURES__DEBUG_ERRORS must not be enabled in the cloud"
            )
        if self.env == "cloud" and self.webhooks.allowed_private_hosts:
            raise ConfigError(
                f"{ENV_PREFIX}WEBHOOKS__ALLOWED_PRIVATE_HOSTS must be empty in the cloud: "
                "webhooks never go to private addresses there"
            )
        if self.env == "cloud" and self.mail.transport_url.startswith("http://"):
            raise ConfigError(
                f"{ENV_PREFIX}MAIL__TRANSPORT_URL must be https in the cloud: "
                "emails carry reset tokens"
            )
        if self.env == "cloud" and not self.webhooks.secrets_key.startswith("projects/"):
            raise ConfigError(
                f"{ENV_PREFIX}WEBHOOKS__SECRETS_KEY must name a Cloud KMS key in the cloud: "
                "webhook signing secrets are sealed with it"
            )
        if self.firestore.credentials_database == self.firestore_database:
            raise ConfigError(
                f"{ENV_PREFIX}FIRESTORE{NESTED_DELIMITER}CREDENTIALS_DATABASE must differ "
                f"from {ENV_PREFIX}FIRESTORE_DATABASE: credentials live in their own database"
            )
        if self.env == "cloud" and not self.push.invoker:
            raise ConfigError(
                f"{ENV_PREFIX}PUSH__INVOKER must name the push invoker in the cloud: "
                "consumers accept only pushes signed for it"
            )
        if self.env == "cloud" and (
            os.environ.get("FIRESTORE_EMULATOR_HOST") or os.environ.get("PUBSUB_EMULATOR_HOST")
        ):
            raise ConfigError("emulator hosts are set but TRIBUTUM_ENV is 'cloud'")
        if self.env == "cloud" and self.secrets_backend == "secret_manager":
            unpinned = sorted(
                name
                for name, version in self.secrets.versions.items()
                if not (version.isdigit() and int(version) > 0)
            )
            if unpinned:
                raise ConfigError(
                    f"{ENV_PREFIX}SECRETS{NESTED_DELIMITER}VERSIONS pins no version number for "
                    f"{', '.join(unpinned)}; set Terraform's secret_versions for each"
                )
        if self.env == "cloud" and self.firestore.access is None:
            raise ConfigError(
                f"{ENV_PREFIX}FIRESTORE{NESTED_DELIMITER}ACCESS must state the function's "
                "Firestore access in the cloud (the manifest's `firestore` entry)"
            )


def _variable_name(location: tuple[str | int, ...]) -> str:
    return ENV_PREFIX + NESTED_DELIMITER.join(str(part) for part in location).upper()


def _unparsable_variables(exc: SettingsError) -> str:
    text = str(exc)
    field = text.split('"')[1] if text.count('"') >= 2 else ""
    prefix = f"{ENV_PREFIX}{field.upper()}"
    names = []
    for name, value in os.environ.items():
        if not name.upper().startswith(prefix) or not value.lstrip().startswith(("[", "{")):
            if name.upper().startswith(prefix) and name.upper().endswith(("ORIGINS", "VERSIONS")):
                names.append(name)
            continue
        try:
            json.loads(value)
        except ValueError:
            names.append(name)
    found = ", ".join(sorted(names)) or f"{prefix}{NESTED_DELIMITER}..."
    return f"{found}: a list or map setting must be JSON, e.g. '[\"https://app.example\"]'"


def load_settings() -> Settings:
    """Build settings from the environment, or raise ``ConfigError`` naming each bad variable."""
    try:
        settings = Settings()
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"{_variable_name(tuple(err['loc']))}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
    except SettingsError as exc:
        # A list or map setting that is not JSON fails before validation, and
        # pydantic-settings names only the top-level field: find the variable itself.
        raise ConfigError(f"invalid configuration: {_unparsable_variables(exc)}") from None
    settings.check_consistency()
    return settings


@per_instance
def get_settings() -> Settings:
    """The instance's settings, loaded once."""
    return load_settings()


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    reset_instances(__name__)
