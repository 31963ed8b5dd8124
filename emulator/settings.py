"""Where a local stack lives: project id, ports, manifest and the files it keeps.

Everything comes from flags or environment variables, so two stacks with
different project ids and ports can run side by side on one machine.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from shared.topology import MANIFEST_PATH, Manifest

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"

DEFAULT_PROJECT_ID = "demo-tributum"
DEFAULT_GATEWAY_PORT = 8080
DEFAULT_FIRESTORE_PORT = 8681
DEFAULT_PUBSUB_PORT = 8682
DEFAULT_FUNCTIONS_BASE_PORT = 8700

ENV_PROJECT_ID = "TRIBUTUM_PROJECT_ID"
ENV_GATEWAY_PORT = "TRIBUTUM_GATEWAY_PORT"
ENV_FIRESTORE_PORT = "TRIBUTUM_FIRESTORE_PORT"
ENV_PUBSUB_PORT = "TRIBUTUM_PUBSUB_PORT"
ENV_FUNCTIONS_BASE_PORT = "TRIBUTUM_FUNCTIONS_BASE_PORT"
ENV_MANIFEST = "TRIBUTUM_MANIFEST"
ENV_LOG_LEVEL = "TRIBUTUM_LOG_LEVEL"
ENV_SCHEDULE_SPEEDUP = "TRIBUTUM_SCHEDULE_SPEEDUP"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# Google Cloud project ids: 6-30 characters (the Pub/Sub emulator rejects shorter ones).
_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class StackConfigError(ValueError):
    """A flag or environment variable cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class StackConfig:
    project_id: str = DEFAULT_PROJECT_ID
    gateway_port: int = DEFAULT_GATEWAY_PORT
    firestore_port: int = DEFAULT_FIRESTORE_PORT
    pubsub_port: int = DEFAULT_PUBSUB_PORT
    functions_base_port: int = DEFAULT_FUNCTIONS_BASE_PORT
    manifest_path: Path = MANIFEST_PATH
    repo_root: Path = REPO_ROOT
    from_build: bool = False
    host: str = HOST
    # Terraform's log_level for the local functions (TRIBUTUM_LOG_LEVEL when `up` runs).
    log_level: str = "INFO"
    # How much faster than real time the local scheduler's clock runs (1 = as in the cloud).
    schedule_speedup: float = 1.0

    @property
    def local_dir(self) -> Path:
        return self.repo_root / ".local"

    @property
    def state_path(self) -> Path:
        return self.local_dir / f"stack-{self.project_id}.json"

    @property
    def log_dir(self) -> Path:
        # The default stack logs to .local/logs/<name>.log; any other project gets its
        # own folder so that two stacks running the same functions never share a log.
        base = self.local_dir / "logs"
        return base if self.project_id == DEFAULT_PROJECT_ID else base / self.project_id

    @property
    def run_dir(self) -> Path:
        """Where source-tree functions are staged in their archive layout, per stack."""
        return self.local_dir / "run" / self.project_id

    @property
    def secrets_dir(self) -> Path:
        return self.local_dir / "secrets"

    @property
    def build_dir(self) -> Path:
        return self.repo_root / "build"

    @property
    def firestore_address(self) -> str:
        return f"{self.host}:{self.firestore_port}"

    @property
    def pubsub_address(self) -> str:
        return f"{self.host}:{self.pubsub_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in _LOG_LEVELS:
        raise StackConfigError(
            f"{ENV_LOG_LEVEL} must be one of {', '.join(_LOG_LEVELS)}, got {raw!r}"
        )
    return level


def _speedup(name: str, raw: str | float) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise StackConfigError(f"{name} must be a number, got {raw!r}") from None
    if not 1 <= value <= 3600:
        raise StackConfigError(f"{name} must be between 1 and 3600, got {raw!r}")
    return value


def _port(name: str, raw: str | int) -> int:
    try:
        port = int(raw)
    except (TypeError, ValueError):
        raise StackConfigError(f"{name} must be a port number, got {raw!r}") from None
    if not 1 <= port <= 65535:
        raise StackConfigError(f"{name} must be between 1 and 65535, got {port}")
    return port


def load_config(
    env: Mapping[str, str] | None = None,
    *,
    project_id: str | None = None,
    gateway_port: int | None = None,
    firestore_port: int | None = None,
    pubsub_port: int | None = None,
    functions_base_port: int | None = None,
    manifest_path: Path | None = None,
    from_build: bool = False,
    schedule_speedup: float | None = None,
) -> StackConfig:
    """Flags win over environment variables, which win over the defaults."""
    env = os.environ if env is None else env

    def pick(flag: int | None, variable: str, default: int) -> int:
        if flag is not None:
            return _port(f"--{variable.removeprefix('TRIBUTUM_').lower().replace('_', '-')}", flag)
        return _port(variable, env.get(variable) or default)

    project = project_id or env.get(ENV_PROJECT_ID) or DEFAULT_PROJECT_ID
    if not _PROJECT_ID.match(project):
        raise StackConfigError(
            f"project id {project!r} must be 6-30 characters: lower-case letters, digits "
            "and hyphens, starting with a letter"
        )
    manifest = manifest_path or (Path(env[ENV_MANIFEST]) if env.get(ENV_MANIFEST) else None)
    config = StackConfig(
        project_id=project,
        gateway_port=pick(gateway_port, ENV_GATEWAY_PORT, DEFAULT_GATEWAY_PORT),
        firestore_port=pick(firestore_port, ENV_FIRESTORE_PORT, DEFAULT_FIRESTORE_PORT),
        pubsub_port=pick(pubsub_port, ENV_PUBSUB_PORT, DEFAULT_PUBSUB_PORT),
        functions_base_port=pick(
            functions_base_port, ENV_FUNCTIONS_BASE_PORT, DEFAULT_FUNCTIONS_BASE_PORT
        ),
        from_build=from_build,
        log_level=_log_level(env.get(ENV_LOG_LEVEL) or "INFO"),
        schedule_speedup=(
            _speedup("--schedule-speedup", schedule_speedup)
            if schedule_speedup is not None
            else _speedup(ENV_SCHEDULE_SPEEDUP, env.get(ENV_SCHEDULE_SPEEDUP) or 1)
        ),
    )
    if manifest is not None:
        config = replace(config, manifest_path=manifest.resolve())
    return config


def function_ports(manifest: Manifest, base_port: int) -> dict[str, int]:
    """Function ``i`` in manifest order listens on ``base_port + i``."""
    ports = {fn.name: base_port + index for index, fn in enumerate(manifest.functions)}
    highest = base_port + len(manifest.functions) - 1
    if highest > 65535:
        raise StackConfigError(
            f"functions base port {base_port} leaves no room for {len(ports)} functions"
        )
    return ports


def check_port_clashes(config: StackConfig, ports: Mapping[str, int]) -> None:
    """Refuse a configuration in which two parts of the stack would share a port."""
    owners: dict[int, str] = {}
    wanted = {
        "gateway": config.gateway_port,
        "firestore emulator": config.firestore_port,
        "pubsub emulator": config.pubsub_port,
        **{f"function {name}": port for name, port in ports.items()},
    }
    for owner, port in wanted.items():
        if port in owners:
            raise StackConfigError(
                f"port {port} is configured for both {owners[port]} and {owner}; "
                "change the gateway, emulator or functions base port"
            )
        owners[port] = owner
