"""Stack configuration: flags, environment, port assignment and clashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.settings import (
    DEFAULT_PROJECT_ID,
    StackConfigError,
    check_port_clashes,
    function_ports,
    load_config,
)
from tests.unit.emulator.support import make_manifest


def test_defaults() -> None:
    config = load_config({})
    assert config.project_id == DEFAULT_PROJECT_ID == "demo-tributum"
    assert (config.gateway_port, config.firestore_port, config.pubsub_port) == (8080, 8681, 8682)
    assert config.functions_base_port == 8700
    assert config.state_path.name == "stack-demo-tributum.json"
    assert config.log_dir == config.local_dir / "logs"


def test_environment_then_flags() -> None:
    env = {
        "TRIBUTUM_PROJECT_ID": "demo-from-env",
        "TRIBUTUM_GATEWAY_PORT": "9000",
        "TRIBUTUM_FIRESTORE_PORT": "9001",
        "TRIBUTUM_PUBSUB_PORT": "9002",
        "TRIBUTUM_FUNCTIONS_BASE_PORT": "9100",
        "TRIBUTUM_MANIFEST": "some/manifest.yaml",
    }
    from_env = load_config(env)
    assert from_env.project_id == "demo-from-env"
    assert (from_env.gateway_port, from_env.firestore_port, from_env.pubsub_port) == (
        9000,
        9001,
        9002,
    )
    assert from_env.functions_base_port == 9100
    assert from_env.manifest_path == Path("some/manifest.yaml").resolve()
    flagged = load_config(env, project_id="demo-flagged", gateway_port=9500)
    assert flagged.project_id == "demo-flagged"
    assert flagged.gateway_port == 9500
    assert flagged.firestore_port == 9001


def test_a_non_default_project_logs_to_its_own_folder() -> None:
    config = load_config({}, project_id="demo-second")
    assert config.log_dir == config.local_dir / "logs" / "demo-second"
    assert config.state_path.name == "stack-demo-second.json"


@pytest.mark.parametrize("project", ["demo", "Demo-Tributum", "demo_tributum", "9demo-x", "demo-"])
def test_project_ids_the_emulators_reject_are_refused(project: str) -> None:
    with pytest.raises(StackConfigError, match="project id"):
        load_config({}, project_id=project)


@pytest.mark.parametrize("value", ["http", "0", "70000"])
def test_bad_ports_name_the_variable(value: str) -> None:
    with pytest.raises(StackConfigError, match="TRIBUTUM_GATEWAY_PORT"):
        load_config({"TRIBUTUM_GATEWAY_PORT": value})


def test_bad_port_flag_names_the_flag() -> None:
    with pytest.raises(StackConfigError, match="--pubsub-port"):
        load_config({}, pubsub_port=0)


def test_function_i_gets_base_plus_i_in_manifest_order() -> None:
    manifest = make_manifest(dead_letter_consumer=True)
    assert function_ports(manifest, 8700) == {
        "accounts": 8700,
        "search": 8701,
        "projector": 8702,
        "dead_letters": 8703,
    }


def test_ports_past_the_last_one_are_refused() -> None:
    with pytest.raises(StackConfigError, match="no room"):
        function_ports(make_manifest(), 65534)


def test_a_function_port_on_an_emulator_port_is_refused() -> None:
    config = load_config({}, firestore_port=8701)
    ports = function_ports(make_manifest(), config.functions_base_port)
    with pytest.raises(StackConfigError, match="port 8701 is configured for both"):
        check_port_clashes(config, ports)


def test_distinct_ports_pass() -> None:
    config = load_config({})
    check_port_clashes(config, function_ports(make_manifest(), config.functions_base_port))
