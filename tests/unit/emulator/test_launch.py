"""How functions are started: command line, environment, source folder, probe."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from emulator import runtime_contract
from emulator.launch import (
    FunctionSource,
    FunctionSourceError,
    function_command,
    function_env,
    own_folder,
    probe_path,
    resolve_source,
    stage_source,
)
from emulator.settings import REPO_ROOT, load_config
from shared.topology import Manifest, load_manifest
from tests.unit.emulator.support import make_manifest

REAL_HEALTH = REPO_ROOT / "functions" / "health" / "main.py"


def test_the_command_is_the_clouds_bare_functions_framework() -> None:
    source = FunctionSource(Path("/run/projector"), Path("/venv/bin"))
    # No flag: the target and signature type come from the environment, as in the cloud.
    assert function_command(source) == ["/venv/bin/functions-framework"]


def _manifest_with_environment() -> Manifest:
    manifest = make_manifest()
    environment = load_manifest().environment
    return manifest.model_copy(update={"environment": environment})


def test_environment_is_the_clouds_plus_the_emulators(tmp_path: Path) -> None:
    config = replace(
        load_config({}, project_id="demo-launch", firestore_port=9181, pubsub_port=9182),
        repo_root=tmp_path,
    )
    manifest = _manifest_with_environment()
    fn = manifest.functions_by_name["accounts"]
    base = {"PATH": "/bin", "HOME": "/home/dev", "FIRESTORE_EMULATOR_HOST": "x:1", "SECRET": "s"}
    env = function_env(manifest, fn, config, 8700, base=base)
    platform = {
        "PORT": "8700",
        "K_SERVICE": "accounts",
        "K_REVISION": "accounts-00001-loc",
        "K_CONFIGURATION": "accounts",
        "FUNCTION_TARGET": "handle",
        "FUNCTION_SIGNATURE_TYPE": "http",
        "LOG_EXECUTION_ID": "true",
    }
    emulators = {
        "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9181",
        "PUBSUB_EMULATOR_HOST": "127.0.0.1:9182",
        "TRIBUTUM_SECRETS__LOCAL_DIR": str(tmp_path / ".local" / "secrets"),
    }
    deployment = {
        "TRIBUTUM_ENV": "local",
        "TRIBUTUM_PROJECT_ID": "demo-launch",
        "TRIBUTUM_FUNCTION_NAME": "accounts",
        "TRIBUTUM_FIRESTORE_DATABASE": "(default)",
        # A second database of the same emulator, and the function's access to both.
        "TRIBUTUM_FIRESTORE__CREDENTIALS_DATABASE": "credentials",
        "TRIBUTUM_FIRESTORE__ACCESS": '{"credentials":"none","main":"write"}',
        "TRIBUTUM_LOG_LEVEL": "INFO",
        "TRIBUTUM_HTTP__TRUSTED_PROXY_HOPS": "1",
        "TRIBUTUM_SECRETS__VERSIONS": "{}",
        "THREADS": "8",
        # The local webhook sink, the one private address local webhooks may reach.
        "TRIBUTUM_WEBHOOKS__ALLOWED_PRIVATE_HOSTS": '["127.0.0.1:8790"]',
        # The local mail sink, where emails go instead of a provider.
        "TRIBUTUM_MAIL__TRANSPORT_URL": "http://127.0.0.1:8791/messages",
        "TRIBUTUM_PUSH__INVOKER": "",
        "TRIBUTUM_WEBHOOKS__SECRETS_KEY": "",
    }
    process = {"PATH": "/bin", "HOME": "/home/dev", "LANG": "C.UTF-8"}
    # Exactly these: nothing of the developer's shell leaks in (SECRET), no local-only flag.
    assert env == {**process, **deployment, **platform, **emulators}
    assert set(emulators) == set(runtime_contract.EMULATOR_VARIABLES)


def test_event_functions_get_the_http_signature_type_like_the_cloud() -> None:
    manifest = _manifest_with_environment()
    fn = manifest.functions_by_name["projector"]
    env = function_env(manifest, fn, load_config({}), 8702, base={})
    # Deployed without an event_trigger, so the platform says http: the code must register.
    assert env["FUNCTION_SIGNATURE_TYPE"] == "http"
    assert env["FUNCTION_TARGET"] == fn.entry_point


def test_the_real_manifest_names_only_sources_the_local_stack_supplies() -> None:
    manifest = load_manifest()
    for fn in manifest.functions:
        env = runtime_contract.deployment_environment(manifest, fn, project_id="demo-x")
        assert set(env) == set(manifest.environment)
    hops = {
        fn.name: runtime_contract.trusted_proxy_hops(fn)
        for fn in manifest.functions
        if fn.kind == "http"
    }
    assert set(hops.values()) == {2}  # every HTTP function sits behind the load balancer


def test_source_next_to_the_manifest_wins(tmp_path: Path) -> None:
    manifest_dir = tmp_path / "tests"
    (manifest_dir / "accounts").mkdir(parents=True)
    (manifest_dir / "accounts" / "main.py").write_text("")
    (tmp_path / "functions" / "accounts").mkdir(parents=True)
    (tmp_path / "functions" / "accounts" / "main.py").write_text("")
    config = replace(
        load_config({}), repo_root=tmp_path, manifest_path=manifest_dir / "manifest.yaml"
    )
    fn = make_manifest().functions_by_name["accounts"]
    assert own_folder(fn, config) == manifest_dir / "accounts"
    source = resolve_source(fn, config)
    assert source.folder == config.run_dir / "accounts"
    assert source.bin_dir == Path(sys.executable).parent


def test_source_falls_back_to_the_functions_folder() -> None:
    config = load_config({}, manifest_path=REPO_ROOT / "tests" / "e2e" / "functions" / "m.yaml")
    from shared.topology import load_manifest

    health = load_manifest().functions_by_name["health"]
    assert own_folder(health, config) / "main.py" == REAL_HEALTH


def test_missing_source_names_where_it_looked(tmp_path: Path) -> None:
    config = replace(load_config({}), repo_root=tmp_path, manifest_path=tmp_path / "m.yaml")
    fn = make_manifest().functions_by_name["accounts"]
    with pytest.raises(FunctionSourceError, match=r"no main\.py at"):
        resolve_source(fn, config)


def test_from_build_uses_the_packaged_folder(tmp_path: Path) -> None:
    config = replace(load_config({}, from_build=True), repo_root=tmp_path)
    fn = make_manifest().functions_by_name["accounts"]
    with pytest.raises(FunctionSourceError, match=r"infra/package\.py"):
        resolve_source(fn, config)


def test_probe_prefers_a_public_get_route_and_fills_parameters() -> None:
    functions = make_manifest().functions_by_name
    assert probe_path(functions["accounts"]) == "/v1/accounts/probe/balance"
    assert probe_path(functions["search"]) == "/.well-known/jwks.json"
    assert probe_path(functions["projector"]) is None


def test_a_source_tree_function_is_staged_in_its_archive_layout(tmp_path: Path) -> None:
    config = load_config({}, project_id="demo-stage")
    health = load_manifest().functions_by_name["health"]
    source = FunctionSource(tmp_path / "run" / "health", Path(sys.executable).parent)
    stage_source(health, config, source)
    assert (source.folder / "main.py").read_bytes() == REAL_HEALTH.read_bytes()
    assert (source.folder / "shared" / "logger.py").is_file()
    assert not (source.folder / "shared" / "__pycache__").exists()
    stage_source(health, config, source)  # restaging replaces the folder whole
    assert (source.folder / "main.py").is_file()
