"""The topology manifest (``functions/manifest.yaml``): one description of every function.

Terraform reads the same YAML with ``yamldecode``; the local stack, packaging and
the consistency tests read it through :func:`load_manifest`. Nothing that runs
inside a deployed function needs this module.

Naming rules that both Terraform and the local stack derive from the manifest, so
that they never have to be written twice:

* every topic ``T`` has a dead-letter topic ``T-dlq``; every dead-letter topic has
  a subscription ``T-dlq-sub`` (pushed to the function that declares
  ``consumes_dead_letters``, otherwise a pull subscription that keeps them);
* a consumer ``F`` of topic ``T`` gets the push subscription ``T--F``.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MANIFEST_PATH = Path(__file__).resolve().parent.parent / "functions" / "manifest.yaml"

_FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
# Pub/Sub topic ids: 3-255 chars, start with a letter, never "goog".
_TOPIC_NAME = re.compile(r"^(?!goog)[a-z][a-z0-9-]{2,200}$")
_ROUTE_PATH = re.compile(r"^/(\.well-known|v1)(/[a-z0-9._-]+|/\{[a-z_]+\})*$")
_SECRET_NAME = re.compile(r"^[a-z][a-z0-9-]{2,100}$")
_MEMORY = re.compile(r"^[0-9]+(Mi|Gi)$")

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
# Where the value of a variable of the manifest's ``environment`` comes from. Terraform
# and the local stack each supply every source (see the manifest's comment).
EnvironmentSource = Literal[
    "deployment",
    "project_id",
    "function_name",
    "firestore_database",
    "credentials_database",
    "firestore_access",
    "log_level",
    "trusted_proxy_hops",
    "secret_versions",
    "concurrency",
    "webhook_private_hosts",
    "mail_transport_url",
    "push_invoker",
    "webhook_secrets_key",
]
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Names the platform sets itself (Cloud Run's container contract, the functions buildpack):
# a manifest variable with one of these names would be overridden or would override it.
PLATFORM_VARIABLES = frozenset(
    {
        "PORT",
        "K_SERVICE",
        "K_REVISION",
        "K_CONFIGURATION",
        "FUNCTION_TARGET",
        "FUNCTION_SIGNATURE_TYPE",
        "FUNCTION_SOURCE",
        "LOG_EXECUTION_ID",
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Route(_Strict):
    method: HttpMethod
    path: str
    auth: Literal["public", "token"] = "token"

    @field_validator("path")
    @classmethod
    def _path_shape(cls, value: str) -> str:
        if not _ROUTE_PATH.match(value):
            raise ValueError(f"route path {value!r} must look like /v1/things/{{id}}")
        return value


class RetryPolicy(_Strict):
    max_delivery_attempts: int = Field(default=5, ge=5, le=100)  # Pub/Sub's own bounds
    minimum_backoff_seconds: int = Field(default=10, ge=0, le=600)
    maximum_backoff_seconds: int = Field(default=600, ge=0, le=600)
    # At least the consuming function's timeout + ACK_DEADLINE_MARGIN_SECONDS (Function
    # checks it): the default fits the default timeout.
    ack_deadline_seconds: int = Field(default=90, ge=10, le=600)

    @model_validator(mode="after")
    def _ordered(self) -> RetryPolicy:
        if self.minimum_backoff_seconds > self.maximum_backoff_seconds:
            raise ValueError("minimum_backoff_seconds exceeds maximum_backoff_seconds")
        return self


# A push delivery still running when its ack deadline passes is delivered again, to a
# second instance, while the first is still at work: the deadline must outlast the
# function's timeout, with room for a cold start.
ACK_DEADLINE_MARGIN_SECONDS = 30


class Consumption(_Strict):
    topic: str
    retry: RetryPolicy = RetryPolicy()


class Scaling(_Strict):
    memory: str = "256Mi"
    cpu: str = "1"
    timeout_seconds: int = Field(default=60, ge=1, le=3600)
    min_instances: int = Field(default=0, ge=0, le=100)
    max_instances: int = Field(default=10, ge=1, le=1000)
    concurrency: int = Field(default=8, ge=1, le=1000)

    @field_validator("memory")
    @classmethod
    def _memory_shape(cls, value: str) -> str:
        if not _MEMORY.match(value):
            raise ValueError("memory must look like 256Mi or 1Gi")
        return value


class FirestoreAccess(_Strict):
    """What a function may do in each Firestore database: IAM grants exactly this in the
    cloud (infra/functions.tf), and the function's clients refuse the rest in code
    (shared/clients.py), which is what enforces it on the emulator."""

    # The books: every function reads them; only those that never write get "read".
    main: Literal["read", "write"] = "write"
    # Credential material: only the functions that verify credentials read it, and only
    # those that issue or change them write it.
    credentials: Literal["none", "read", "write"] = "none"

    def to_environment(self) -> str:
        # Compact and sorted, as Terraform's jsonencode writes the same map.
        return json.dumps(
            {"credentials": self.credentials, "main": self.main}, separators=(",", ":")
        )


class Function(_Strict):
    name: str
    kind: Literal["http", "event"]
    description: str
    entry_point: str = "handle"
    routes: tuple[Route, ...] = ()
    consumes: tuple[Consumption, ...] = ()
    consumes_dead_letters: bool = False
    publishes: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    firestore: FirestoreAccess = FirestoreAccess()
    # Runtime requirements this function needs (names from pyproject's dependencies).
    requirements: tuple[str, ...] = ()
    scaling: Scaling = Scaling()
    ingress: Literal["all", "internal", "internal-and-gclb"] = "all"
    # HTTP functions: "public" lets anyone invoke (auth is the JWT in the app);
    # "private" admits only the gateway and the listed service accounts.
    invokers: Literal["public", "private"] = "private"

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not _FUNCTION_NAME.match(value):
            raise ValueError("function names are snake_case, 2-41 characters")
        return value

    @model_validator(mode="after")
    def _kind_fits(self) -> Function:
        if self.kind == "http":
            if not self.routes:
                raise ValueError(f"http function {self.name} declares no routes")
            if self.consumes or self.consumes_dead_letters:
                raise ValueError(f"http function {self.name} cannot consume topics")
        else:
            if self.routes:
                raise ValueError(f"event function {self.name} cannot declare routes")
            if not self.consumes and not self.consumes_dead_letters:
                raise ValueError(f"event function {self.name} consumes nothing")
        return self

    @model_validator(mode="after")
    def _ack_deadlines_outlast_timeout(self) -> Function:
        needed = self.scaling.timeout_seconds + ACK_DEADLINE_MARGIN_SECONDS
        # The T-dlq-sub subscriptions of the dead-letter consumer use the default policy.
        deadlines = [(c.topic, c.retry.ack_deadline_seconds) for c in self.consumes]
        if self.consumes_dead_letters:
            deadlines.append(("the dead-letter topics", RetryPolicy().ack_deadline_seconds))
        for topic, deadline in deadlines:
            if deadline < needed:
                raise ValueError(
                    f"{self.name}: the ack deadline on {topic} ({deadline}s) must be at least "
                    f"scaling.timeout_seconds + {ACK_DEADLINE_MARGIN_SECONDS} ({needed}s, "
                    "Pub/Sub allows at most 600s)"
                )
        return self

    @property
    def folder(self) -> str:
        return f"functions/{self.name}"

    @property
    def signature_type(self) -> str:
        return "http" if self.kind == "http" else "cloudevent"


class Schedule(_Strict):
    # Cloud Scheduler's unix-cron format, in time_zone (the local stack evaluates it too).
    cron: str
    time_zone: str = "Etc/UTC"


class Topic(_Strict):
    name: str
    description: str
    # Public topics accept messages from systems outside Tributum.
    public: bool = False
    schedule: Schedule | None = None

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not _TOPIC_NAME.match(value) or value.endswith("-dlq"):
            raise ValueError(f"topic name {value!r} is not a valid Pub/Sub id")
        return value

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.name}-dlq"

    @property
    def dead_letter_subscription(self) -> str:
        return f"{self.name}-dlq-sub"


class Secret(_Strict):
    name: str
    description: str
    # Local backend: how a dev value is produced on first start ("derived_from_signing_keys":
    # the public halves of the local signing key, see shared/auth/runtime.py).
    local: Literal["ec_p256_private_key", "random_token", "derived_from_signing_keys"] = (
        "random_token"
    )

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not _SECRET_NAME.match(value):
            raise ValueError(f"secret name {value!r} must be kebab-case")
        return value


class Manifest(_Strict):
    version: Literal[1]
    runtime: Literal["python311"]
    topics: tuple[Topic, ...]
    environment: dict[str, EnvironmentSource] = Field(default_factory=dict)
    secrets: tuple[Secret, ...] = ()
    # What every function needs because it ships shared/ (pyproject's runtime names);
    # each function's own `requirements` add to these, and are merged into them here.
    requirements: tuple[str, ...] = ()
    functions: tuple[Function, ...]

    @model_validator(mode="after")
    def _every_function_holds_the_shared_requirements(self) -> Manifest:
        shared = {name.lower() for name in self.requirements}
        for fn in self.functions:
            repeated = sorted(r for r in fn.requirements if r.lower() in shared)
            if repeated:
                raise ValueError(
                    f"{fn.name}: {', '.join(repeated)} already in the manifest's requirements; "
                    "a function lists only what it adds"
                )
        merged = tuple(
            fn.model_copy(update={"requirements": (*self.requirements, *fn.requirements)})
            for fn in self.functions
        )
        # Frozen: set once, here, so every reader sees each function's whole list.
        object.__setattr__(self, "functions", merged)
        return self

    @field_validator("environment")
    @classmethod
    def _environment_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _ENV_NAME.match(name):
                raise ValueError(f"environment variable {name!r} must be UPPER_SNAKE_CASE")
            if name in PLATFORM_VARIABLES:
                raise ValueError(f"environment variable {name} is set by the platform itself")
        return value

    @cached_property
    def topics_by_name(self) -> dict[str, Topic]:
        return {t.name: t for t in self.topics}

    @cached_property
    def functions_by_name(self) -> dict[str, Function]:
        return {f.name: f for f in self.functions}

    @model_validator(mode="after")
    def _references_resolve(self) -> Manifest:
        _unique("function", [f.name for f in self.functions])
        _unique("topic", [t.name for t in self.topics])
        _unique("secret", [s.name for s in self.secrets])
        topics = {t.name for t in self.topics}
        secrets = {s.name for s in self.secrets}
        seen_routes: dict[tuple[str, str], str] = {}
        for fn in self.functions:
            for consumed in fn.consumes:
                if consumed.topic not in topics:
                    raise ValueError(f"{fn.name} consumes undeclared topic {consumed.topic}")
            for published in fn.publishes:
                if published not in topics:
                    raise ValueError(f"{fn.name} publishes undeclared topic {published}")
            for secret in fn.secrets:
                if secret not in secrets:
                    raise ValueError(f"{fn.name} uses undeclared secret {secret}")
            for route in fn.routes:
                key = (route.method, route.path)
                if key in seen_routes:
                    raise ValueError(
                        f"{route.method} {route.path} is routed to both "
                        f"{seen_routes[key]} and {fn.name}"
                    )
                seen_routes[key] = fn.name
        if sum(fn.consumes_dead_letters for fn in self.functions) > 1:
            raise ValueError("only one function may consume the dead-letter topics")
        return self

    def push_subscription(self, function: Function, topic: str) -> str:
        return f"{topic}--{function.name}"

    def dead_letter_consumer(self) -> Function | None:
        return next((f for f in self.functions if f.consumes_dead_letters), None)


def _unique(what: str, names: list[str]) -> None:
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate {what} names: {', '.join(duplicates)}")


def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    """Read and validate the manifest; a broken one raises ``ValueError`` naming the field."""
    import yaml  # tooling-only dependency: deployed functions never load the manifest

    raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Manifest.model_validate(raw)
