"""How each process of the stack is started: command line, environment, working folder."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from emulator import runtime_contract
from emulator.settings import StackConfig
from shared.topology import Function, Manifest


class FunctionSourceError(RuntimeError):
    """A function's code cannot be found; the message says where it was looked for."""


@dataclass(frozen=True, slots=True)
class FunctionSource:
    """Where a function runs from: its deployable folder and its environment's scripts."""

    folder: Path  # main.py and a copy of shared/ at the root, as in the uploaded archive
    bin_dir: Path  # holds the functions-framework console script

    @property
    def main(self) -> Path:
        return self.folder / "main.py"


def own_folder(fn: Function, config: StackConfig) -> Path:
    """A function's own files: next to the manifest first, then ``functions/``.

    Looking next to the manifest first lets a test manifest declare its own
    functions beside it while still using the real ones from ``functions/``.
    """
    candidates = [config.manifest_path.parent / fn.name, config.repo_root / fn.folder]
    for candidate in dict.fromkeys(candidates):
        if (candidate / "main.py").is_file():
            return candidate
    looked = ", ".join(str(c / "main.py") for c in dict.fromkeys(candidates))
    raise FunctionSourceError(f"function {fn.name}: no main.py at {looked}")


def resolve_source(fn: Function, config: StackConfig) -> FunctionSource:
    """From the source tree: a staged copy of the archive's layout, run by this venv.

    ``--from-build``: ``build/<name>/`` as packaged, run by a virtualenv installed only
    from that folder's own ``requirements.txt`` (what the cloud's build installs).
    """
    if config.from_build:
        folder = config.build_dir / fn.name
        if not (folder / "main.py").is_file():
            raise FunctionSourceError(
                f"{folder / 'main.py'} does not exist; package the functions first "
                "(python infra/package.py) or start without --from-build"
            )
        from infra.package import function_venv

        return FunctionSource(folder, function_venv(config.build_dir, fn.name) / "bin")
    own_folder(fn, config)  # fail before anything starts when its code is missing
    return FunctionSource(config.run_dir / fn.name, Path(sys.executable).parent)


def stage_source(fn: Function, config: StackConfig, source: FunctionSource) -> None:
    """Lay out a source-tree function as its archive would be: its files plus shared/.

    The cloud runs ``main.py`` from the archive's root with ``shared/`` beside it and
    no PYTHONPATH; a staged copy gives the local process the same layout.
    """
    if config.from_build:
        return
    from infra.package import lay_out, source_files

    lay_out(source_files(fn, config.repo_root, folder=own_folder(fn, config)), source.folder)


def function_command(source: FunctionSource) -> list[str]:
    """The cloud's command: the bare functions-framework script (settings come from the env)."""
    [script] = runtime_contract.COMMAND
    return [str(source.bin_dir / script)]


def function_env(
    manifest: Manifest,
    fn: Function,
    config: StackConfig,
    port: int,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    return runtime_contract.function_environment(
        manifest,
        fn,
        port=port,
        project_id=config.project_id,
        firestore_address=config.firestore_address,
        pubsub_address=config.pubsub_address,
        secrets_dir=config.secrets_dir,
        log_level=config.log_level,
        base=base,
    )


def function_markers(port: int) -> list[str]:
    """How ``down`` recognises a function's process group: its PORT variable."""
    return [f" PORT={port} "]


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
