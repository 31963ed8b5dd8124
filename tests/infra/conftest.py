"""Fixtures of the infra tests: the packaged archives and offline plans of infra/.

Two scenarios drive the Terraform checks:

* ``real``: functions/manifest.yaml with environments/dev.tfvars and the archives
  infra/package.py builds (into a temporary directory, never the shared build/);
* ``fixture``: tests/infra/fixtures/manifest.yaml (every topology feature) read in
  place of the real manifest, with fixtures/fixture.tfvars;
* ``minimal``: fixtures/manifest_minimal.yaml, where every optional part is absent
  (no dead-letter consumer, secrets, schedules or private functions).
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


def _stand_in_scenario(name: str, module: TerraformModule, manifest_path: Path) -> Scenario:
    variables = load_tfvars(FIXTURE_TFVARS)
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
    return _stand_in_scenario("minimal", terraform_module, MINIMAL_MANIFEST)


@pytest.fixture(params=["real", "fixture", "minimal"])
def scenario(request: pytest.FixtureRequest) -> Iterator[Scenario]:
    yield request.getfixturevalue(f"{request.param}_scenario")
