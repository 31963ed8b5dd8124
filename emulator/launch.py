"""How each process of the stack is started: command line, environment, working folder."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from emulator.settings import StackConfig
from shared.topology import Function


class FunctionSourceError(RuntimeError):
    """A function's code cannot be found; the message says where it was looked for."""


@dataclass(frozen=True, slots=True)
class FunctionSource:
    main: Path
    import_root: Path  # what PYTHONPATH must hold for ``import shared`` to work


def resolve_source(fn: Function, config: StackConfig) -> FunctionSource:
    """Source tree: next to the manifest, then ``functions/``; ``--from-build``: ``build/<name>``.

    Looking next to the manifest first lets a test manifest declare its own
    functions beside it while still using the real ones from ``functions/``.
    """
    if config.from_build:
        folder = config.build_dir / fn.name
        if not (folder / "main.py").is_file():
            raise FunctionSourceError(
                f"{folder / 'main.py'} does not exist; package the functions first "
                "(python infra/package.py) or start without --from-build"
            )
        return FunctionSource(folder / "main.py", folder)
    candidates = [
        config.manifest_path.parent / fn.name / "main.py",
        config.repo_root / fn.folder / "main.py",
    ]
    for candidate in dict.fromkeys(candidates):
        if candidate.is_file():
            return FunctionSource(candidate, config.repo_root)
    looked = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise FunctionSourceError(f"function {fn.name}: no main.py at {looked}")


def _executable(name: str) -> str:
    """A console script of this interpreter's environment (the venv), else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def function_command(fn: Function, source: FunctionSource, host: str, port: int) -> list[str]:
    return [
        _executable("functions-framework"),
        "--source",
        str(source.main),
        "--target",
        fn.entry_point,
        "--signature-type",
        fn.signature_type,
        "--port",
        str(port),
        "--host",
        host,
    ]


def function_env(
    fn: Function,
    source: FunctionSource,
    config: StackConfig,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "PYTHONPATH": str(source.import_root),
            "FIRESTORE_EMULATOR_HOST": config.firestore_address,
            "PUBSUB_EMULATOR_HOST": config.pubsub_address,
            "GOOGLE_CLOUD_PROJECT": config.project_id,
            "TRIBUTUM_PROJECT_ID": config.project_id,
            "TRIBUTUM_ENV": "local",
            "TRIBUTUM_FUNCTION_NAME": fn.name,
            "TRIBUTUM_LOCAL_SECRETS_DIR": str(config.secrets_dir),
            # The same folder under the name shared.config's nested settings read.
            "TRIBUTUM_SECRETS__LOCAL_DIR": str(config.secrets_dir),
            "TRIBUTUM_LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def probe_path(fn: Function) -> str | None:
    """An HTTP function is probed with GET of a route (parameters filled in).

    A public GET route is preferred: probing a token route answers 401, which
    proves the function serves requests too, but reads like a failure in its log.
    """
    if not fn.routes:
        return None
    public_gets = [r for r in fn.routes if r.method == "GET" and r.auth == "public"]
    route = (public_gets or list(fn.routes))[0]
    return "/".join("probe" if s.startswith("{") else s for s in route.path.split("/"))


def helper_command(subcommand: str, *arguments: str) -> list[str]:
    """This package's own hidden subcommands (gateway, scheduler), run by this interpreter."""
    return [sys.executable, "-m", "emulator", subcommand, *arguments]


def helper_env(config: StackConfig, base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "PYTHONPATH": str(config.repo_root),
            "PUBSUB_EMULATOR_HOST": config.pubsub_address,
            "FIRESTORE_EMULATOR_HOST": config.firestore_address,
            "TRIBUTUM_PROJECT_ID": config.project_id,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env
