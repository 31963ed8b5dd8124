"""How functions are started: command line, environment, source folder, probe."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from emulator.launch import (
    FunctionSource,
    FunctionSourceError,
    function_command,
    function_env,
    probe_path,
    resolve_source,
)
from emulator.settings import REPO_ROOT, load_config
from tests.unit.emulator.support import make_manifest

REAL_HEALTH = REPO_ROOT / "functions" / "health" / "main.py"


def test_command_line() -> None:
    fn = make_manifest().functions_by_name["projector"]
    source = FunctionSource(Path("/src/projector/main.py"), Path("/src"))
    command = function_command(fn, source, "127.0.0.1", 8702)
    assert Path(command[0]).name == "functions-framework"
    assert command[1:] == [
        "--source",
        "/src/projector/main.py",
        "--target",
        "handle",
        "--signature-type",
        "cloudevent",
        "--port",
        "8702",
        "--host",
        "127.0.0.1",
    ]
    http_fn = make_manifest().functions_by_name["accounts"]
    assert "http" in function_command(http_fn, source, "127.0.0.1", 8700)


def test_environment(tmp_path: Path) -> None:
    config = replace(
        load_config({}, project_id="demo-launch", firestore_port=9181, pubsub_port=9182),
        repo_root=tmp_path,
    )
    fn = make_manifest().functions_by_name["accounts"]
    source = FunctionSource(tmp_path / "functions" / "accounts" / "main.py", tmp_path)
    env = function_env(fn, source, config, base={"PATH": "/bin", "FIRESTORE_EMULATOR_HOST": "x:1"})
    assert env["PATH"] == "/bin"
    assert env["PYTHONPATH"] == str(tmp_path)
    assert env["FIRESTORE_EMULATOR_HOST"] == "127.0.0.1:9181"
    assert env["PUBSUB_EMULATOR_HOST"] == "127.0.0.1:9182"
    assert env["GOOGLE_CLOUD_PROJECT"] == env["TRIBUTUM_PROJECT_ID"] == "demo-launch"
    assert env["TRIBUTUM_ENV"] == "local"
    assert env["TRIBUTUM_FUNCTION_NAME"] == "accounts"
    assert env["TRIBUTUM_LOCAL_SECRETS_DIR"] == str(tmp_path / ".local" / "secrets")
    assert env["TRIBUTUM_SECRETS__LOCAL_DIR"] == env["TRIBUTUM_LOCAL_SECRETS_DIR"]
    assert env["TRIBUTUM_LOG_FORMAT"] == "json"


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
    source = resolve_source(fn, config)
    assert source.main == manifest_dir / "accounts" / "main.py"
    assert source.import_root == tmp_path


def test_source_falls_back_to_the_functions_folder() -> None:
    config = load_config({}, manifest_path=REPO_ROOT / "tests" / "e2e" / "functions" / "m.yaml")
    from shared.topology import load_manifest

    health = load_manifest().functions_by_name["health"]
    assert resolve_source(health, config).main == REAL_HEALTH


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
    (tmp_path / "build" / "accounts").mkdir(parents=True)
    (tmp_path / "build" / "accounts" / "main.py").write_text("")
    source = resolve_source(fn, config)
    assert source.main == tmp_path / "build" / "accounts" / "main.py"
    assert source.import_root == tmp_path / "build" / "accounts"


def test_probe_prefers_a_public_get_route_and_fills_parameters() -> None:
    functions = make_manifest().functions_by_name
    assert probe_path(functions["accounts"]) == "/v1/accounts/probe/balance"
    assert probe_path(functions["search"]) == "/.well-known/jwks.json"
    assert probe_path(functions["projector"]) is None
