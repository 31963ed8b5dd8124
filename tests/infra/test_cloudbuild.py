"""cloudbuild.yaml only runs commands the repository has, and applies on main only."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.infra.conftest import ENVIRONMENTS_DIR, REPO_ROOT

CLOUDBUILD = REPO_ROOT / "cloudbuild.yaml"
MAKEFILE = REPO_ROOT / "Makefile"
REQUIRED_TARGETS = {"lint", "typecheck", "test", "package"}


def _build() -> dict[str, Any]:
    build: dict[str, Any] = yaml.safe_load(CLOUDBUILD.read_text(encoding="utf-8"))
    return build


def _step(step_id: str) -> dict[str, Any]:
    return next(s for s in _build()["steps"] if s["id"] == step_id)


def _script(step: dict[str, Any]) -> str:
    return " ".join(str(a) for a in step.get("args", [])) + " " + step.get("script", "")


def _substitute(text: str) -> str:
    defaults = _build()["substitutions"]
    return re.sub(r"\$\{(_[A-Z_]+)\}", lambda m: str(defaults[m[1]]), text)


def _commands(step: dict[str, Any]) -> list[list[str]]:
    """Each shell command line of a step, split into words."""
    lines: list[str] = []
    for arg in [*step.get("args", []), step.get("script", "")]:
        lines += [line.strip() for line in str(arg).splitlines() if line.strip()]
    return [line.split() for line in lines]


def _makefile_targets() -> set[str]:
    text = MAKEFILE.read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][A-Za-z0-9_-]*)\s*:(?!=)", text, re.M))


def test_steps_run_lint_types_tests_package_and_terraform_in_order() -> None:
    ids = [s["id"] for s in _build()["steps"]]
    assert ids == [
        "lint",
        "typecheck",
        "test",
        "package",
        "terraform-init",
        "terraform-plan",
        "terraform-apply",
    ]


def test_every_make_target_cloudbuild_runs_exists() -> None:
    targets = _makefile_targets()
    used = set()
    for step in _build()["steps"]:
        for words in _commands(step):
            if words[0] == "make":
                used |= {w for w in words[1:] if "=" not in w and not w.startswith("-")}
    assert used == REQUIRED_TARGETS
    assert used <= targets, f"Makefile lacks {sorted(used - targets)}"


def test_every_repository_file_cloudbuild_runs_exists() -> None:
    for step in _build()["steps"]:
        for path in re.findall(r"\b(infra/[\w./-]+\.(?:sh|py))\b", _script(step)):
            assert (REPO_ROOT / path).is_file(), path
    plan = _substitute(_script(_step("terraform-plan")))
    var_file = re.search(r"-var-file=(\S+)", plan)
    assert var_file and (REPO_ROOT / "infra" / var_file[1]).is_file()
    for environment in ENVIRONMENTS_DIR.glob("*.tfvars"):
        assert environment.stem in ("dev", "staging", "prod")


def test_tests_run_where_the_emulators_are() -> None:
    test = _step("test")
    assert test["name"].startswith("gcr.io/google.com/cloudsdktool/google-cloud-cli")
    script = _script(test)
    assert "make test" in script
    assert "infra/install-checkov.sh" in script, "the checkov test needs its venv"


def test_apply_runs_on_main_only_and_uses_the_reviewed_plan() -> None:
    apply_step = _step("terraform-apply")
    script = _script(apply_step)
    assert re.search(
        r'if \[ "\$BRANCH_NAME" = "main" \]; then\s+terraform -chdir=infra apply', script
    )
    assert "apply -input=false tfplan" in script
    assert "-out=tfplan" in _script(_step("terraform-plan"))
    for step in _build()["steps"]:
        if step["id"] != "terraform-apply":
            assert "apply" not in _script(step).split(), step["id"]


def test_init_uses_the_partial_gcs_backend_and_substitutions_exist() -> None:
    init = _script(_step("terraform-init"))
    assert "-backend-config=bucket=${_TF_STATE_BUCKET}" in init
    assert "-backend-config=prefix=tributum/${_ENV}" in init
    substitutions = _build()["substitutions"]
    assert {"_PROJECT_ID", "_REGION", "_ENV", "_TF_STATE_BUCKET"} <= set(substitutions)
    used = set(re.findall(r"\$\{(_[A-Z_]+)\}", CLOUDBUILD.read_text(encoding="utf-8")))
    assert used <= set(substitutions)
    plan = _script(_step("terraform-plan"))
    assert "-var=project_id=${_PROJECT_ID}" in plan
    assert "-var=region=${_REGION}" in plan
