"""Fixtures of the infra tests: the packaged archives and offline plans of infra/.

Two scenarios drive the Terraform checks:

* ``real``: functions/manifest.yaml with environments/dev.tfvars and the archives
  infra/package.py builds (into a temporary directory, never the shared build/);
* ``fixture``: tests/infra/fixtures/manifest.yaml (every topology feature) read in
  place of the real manifest, with fixtures/fixture.tfvars;
* ``minimal``: fixtures/manifest_minimal.yaml, where every optional part is absent
  (no dead-letter consumer, secrets, schedules or private functions), with the
  fixture variables less every optional input (no alert e-mail, notification
  channels, public topic members or build repository);
* ``function_urls``: the fixture manifest and variables with
  ``entry_point = "function_urls"``: no load balancer, HTTP functions on their URLs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.package import PackagedFunction, package
from shared.topology import MANIFEST_PATH, Manifest, load_manifest
from tests.infra.terraform_model import Evaluator, Plan, TerraformModule, load_tfvars

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"
ENVIRONMENTS_DIR = INFRA_DIR / "environments"
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
FIXTURE_MANIFEST = FIXTURES_DIR / "manifest.yaml"
MINIMAL_MANIFEST = FIXTURES_DIR / "manifest_minimal.yaml"
FIXTURE_TFVARS = FIXTURES_DIR / "fixture.tfvars"


@dataclass(frozen=True)
class Scenario:
    name: str
    manifest: Manifest
    variables: dict[str, Any]
    evaluator: Evaluator
    plan: Plan
    archives: dict[str, PackagedFunction]

    def local(self, name: str) -> Any:
        return self.evaluator.local(name)

    @property
    def behind_load_balancer(self) -> bool:
        return self.variables.get("entry_point", "load_balancer") == "load_balancer"


@pytest.fixture(scope="session")
def terraform_module() -> TerraformModule:
    return TerraformModule.load(INFRA_DIR)


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PackagedFunction]:
    """Every function of the real manifest, packaged into a private build directory."""
    out = tmp_path_factory.mktemp("build")
    return {p.name: p for p in package(out_dir=out)}


@pytest.fixture(scope="session")
def real_scenario(
    terraform_module: TerraformModule, packaged: dict[str, PackagedFunction]
) -> Scenario:
    build_dir = next(iter(packaged.values())).archive.parent
    variables = load_tfvars(ENVIRONMENTS_DIR / "dev.tfvars")
    evaluator = Evaluator(
        terraform_module, variables, file_overrides={REPO_ROOT / "build": build_dir}
    )
    return Scenario("real", load_manifest(), variables, evaluator, evaluator.plan(), packaged)


# Optional inputs the fixture variables set and the minimal scenario leaves out.
OPTIONAL_INPUTS = (
    "alert_email",
    "notification_channels",
    "public_topic_publishers",
    "tenant_subscriptions",
    "build_repository",
    "function_environment",
)


def _stand_in_scenario(
    name: str,
    module: TerraformModule,
    manifest_path: Path,
    *,
    overrides: dict[str, Any] | None = None,
    omit: tuple[str, ...] = (),
) -> Scenario:
    variables = {k: v for k, v in load_tfvars(FIXTURE_TFVARS).items() if k not in omit}
    variables.update(overrides or {})
    evaluator = Evaluator(
        module,
        variables,
        file_overrides={MANIFEST_PATH: manifest_path},
        # Stand-in functions have no code, so no archives: their hashes stay unknown.
        missing_files_unknown=True,
    )
    manifest = load_manifest(manifest_path)
    return Scenario(name, manifest, variables, evaluator, evaluator.plan(), {})


@pytest.fixture(scope="session")
def fixture_scenario(terraform_module: TerraformModule) -> Scenario:
    return _stand_in_scenario("fixture", terraform_module, FIXTURE_MANIFEST)


@pytest.fixture(scope="session")
def minimal_scenario(terraform_module: TerraformModule) -> Scenario:
    return _stand_in_scenario("minimal", terraform_module, MINIMAL_MANIFEST, omit=OPTIONAL_INPUTS)


@pytest.fixture(scope="session")
def function_urls_scenario(terraform_module: TerraformModule) -> Scenario:
    return _stand_in_scenario(
        "function_urls",
        terraform_module,
        FIXTURE_MANIFEST,
        overrides={"entry_point": "function_urls"},
    )


@pytest.fixture(params=["real", "fixture", "minimal", "function_urls"])
def scenario(request: pytest.FixtureRequest) -> Iterator[Scenario]:
    yield request.getfixturevalue(f"{request.param}_scenario")


@pytest.fixture(params=["real", "fixture", "minimal"])
def lb_scenario(request: pytest.FixtureRequest) -> Iterator[Scenario]:
    """The scenarios with the API load balancer (the default entry point)."""
    yield request.getfixturevalue(f"{request.param}_scenario")
