"""cloudbuild.yaml: pinned images, hashed dependencies, the Makefile's commands, and
apply only from main under the deploy trigger."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.infra.conftest import ENVIRONMENTS_DIR, REPO_ROOT

CLOUDBUILD = REPO_ROOT / "cloudbuild.yaml"
MAKEFILE = REPO_ROOT / "Makefile"
LOCK = "requirements.lock"
# A pinned image: a digest, or a tag that names a release (has a version number).
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
RELEASE_TAG = re.compile(r":[^/:@]*\d+\.\d+[^/:@]*$")


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


def _commands(step: dict[str, Any]) -> list[str]:
    """Each shell command line of a bash step (``set -euo pipefail`` aside)."""
    lines: list[str] = []
    for arg in step.get("args", [])[1:]:
        lines += [line.strip() for line in str(arg).splitlines() if line.strip()]
    return [line for line in lines if not line.startswith(("set -", "#"))]


def _makefile_recipe(target: str) -> list[str]:
    """The recipe lines of a Makefile target, with $(BIN) and $(LOCK) expanded."""
    text = MAKEFILE.read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", text, re.M)
    assert match, f"the Makefile has no {target} target"
    return [
        line.strip().replace("$(BIN)", ".venv/bin").replace("$(LOCK)", LOCK)
        for line in match[1].splitlines()
    ]


def test_steps_install_lint_type_test_package_and_terraform_in_order() -> None:
    ids = [s["id"] for s in _build()["steps"]]
    assert ids == [
        "dependencies",
        "lint",
        "typecheck",
        "test",
        "package",
        "terraform-init",
        "terraform-plan",
        "terraform-apply",
    ]


def test_every_image_is_a_pinned_substitution() -> None:
    substitutions = _build()["substitutions"]
    for step in _build()["steps"]:
        name = step["name"]
        variable = re.fullmatch(r"\$\{(_[A-Z_]+_IMAGE)\}", name)
        assert variable, f"{step['id']}: the image comes from an _*_IMAGE substitution"
        image = substitutions[variable[1]]
        assert DIGEST.search(image) or RELEASE_TAG.search(image), f"{image} is not pinned"
        assert not image.endswith(":latest")


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("gcr.io/google.com/cloudsdktool/google-cloud-cli:latest", False),
        ("gcr.io/google.com/cloudsdktool/google-cloud-cli:emulators", False),
        ("python", False),
        ("ghcr.io/astral-sh/uv:debian-slim", False),
        ("hashicorp/terraform:1.11.4", True),
        ("gcr.io/google.com/cloudsdktool/google-cloud-cli:573.0.0-emulators", True),
        ("python@sha256:" + "a" * 64, True),
    ],
)
def test_what_counts_as_pinned(image: str, pinned: bool) -> None:
    assert bool(DIGEST.search(image) or RELEASE_TAG.search(image)) == pinned


def test_tests_run_where_the_emulators_and_java_are() -> None:
    test = _step("test")
    image = _substitute(test["name"])
    assert image.startswith("gcr.io/google.com/cloudsdktool/google-cloud-cli:")
    assert image.endswith("-emulators"), "the emulators image carries both emulators and Java"
    commands = _commands(test)
    assert "PYTHON=.venv/bin/python bash infra/install-checkov.sh" in commands
    assert commands[-1] == ".venv/bin/python -m pytest"


def test_dependencies_come_from_the_hashed_lock_only() -> None:
    assert (REPO_ROOT / LOCK).is_file()
    dependencies = _commands(_step("dependencies"))
    assert dependencies[0] == "uv python install 3.11"
    assert dependencies[-1] == next(
        # `make install` runs the recipe of its stamp file.
        line
        for line in _makefile_recipe("$(STAMP)")
        if "pip install" in line
    ), "the same install as `make install`"
    assert "--require-hashes --requirement requirements.lock" in dependencies[-1]
    for step in _build()["steps"]:
        for command in _commands(step):
            if re.search(r"\bpip install\b", command):
                assert "--require-hashes --requirement requirements.lock" in command, command


def test_every_python_step_shares_the_interpreter_volume() -> None:
    # Outside /workspace, so that `ruff check .` does not lint the interpreter's stdlib.
    toolchain = [{"name": "toolchain", "path": "/toolchain"}]
    env = _step("dependencies").get("env", [])
    assert "UV_PYTHON_INSTALL_DIR=/toolchain" in env
    assert "UV_PYTHON_PREFERENCE=only-managed" in env
    for step in _build()["steps"]:
        uses_venv = ".venv/bin/" in _script(step)
        assert (step.get("volumes") == toolchain) == uses_venv, step["id"]
    for step_id in ("dependencies", "lint", "typecheck", "test", "package"):
        assert _step(step_id)["volumes"] == toolchain


@pytest.mark.parametrize("target", ["lint", "typecheck", "package"])
def test_steps_run_the_makefiles_commands(target: str) -> None:
    assert _commands(_step(target)) == _makefile_recipe(target)


def test_the_test_step_runs_the_makefiles_pytest() -> None:
    recipe = " ".join(_makefile_recipe("test"))
    assert recipe.startswith("@.venv/bin/python -m pytest;")
    assert _commands(_step("test"))[-1] == ".venv/bin/python -m pytest"


def test_every_repository_file_cloudbuild_runs_exists() -> None:
    for step in _build()["steps"]:
        for path in re.findall(r"\b(infra/[\w./-]+\.(?:sh|py))\b", _script(step)):
            assert (REPO_ROOT / path).is_file(), path
    plan = _substitute(_script(_step("terraform-plan")))
    var_file = re.search(r"-var-file=(\S+)", plan)
    assert var_file and (REPO_ROOT / "infra" / var_file[1]).is_file()
    for environment in ENVIRONMENTS_DIR.glob("*.tfvars"):
        assert environment.stem in ("dev", "staging", "prod")


def test_apply_needs_main_and_the_deploy_trigger_and_uses_the_reviewed_plan() -> None:
    assert _build()["substitutions"]["_DEPLOY"] == "false", "a manual build never applies"
    script = _script(_step("terraform-apply"))
    assert re.search(
        r'if \[ "\$BRANCH_NAME" = "main" \] && \[ "\$\{_DEPLOY\}" = "true" \]; then\s+'
        r"terraform -chdir=infra apply -input=false tfplan\s+else",
        script,
    )
    plan = _step("terraform-plan")["args"]
    assert "-out=tfplan" in plan
    assert "-lock=false" in plan, "the planner may read the state, never lock it"
    for step in _build()["steps"]:
        if step["id"] != "terraform-apply":
            assert "apply" not in _script(step).split(), step["id"]


def test_init_uses_the_partial_gcs_backend_and_substitutions_exist() -> None:
    init = _script(_step("terraform-init"))
    assert "-backend-config=bucket=${_TF_STATE_BUCKET}" in init
    assert "-backend-config=prefix=tributum/${_ENV}" in init
    substitutions = _build()["substitutions"]
    assert {"_PROJECT_ID", "_REGION", "_ENV", "_TF_STATE_BUCKET", "_DEPLOY"} <= set(substitutions)
    used = set(re.findall(r"\$\{(_[A-Z_]+)\}", CLOUDBUILD.read_text(encoding="utf-8")))
    assert used <= set(substitutions)
    plan = _script(_step("terraform-plan"))
    assert "-var=project_id=${_PROJECT_ID}" in plan
    assert "-var=region=${_REGION}" in plan
    assert "-var=tf_state_bucket=${_TF_STATE_BUCKET}" in plan


def test_shell_variables_are_escaped_from_cloud_build() -> None:
    # Cloud Build substitutes $NAME itself: a shell's own $( or $VAR must be written $$.
    for step in _build()["steps"]:
        for command in _commands(step):
            for reference in re.findall(r"(?<!\$)\$(\(|[a-z][a-z_]*)", command):
                pytest.fail(f"{step['id']}: unescaped ${reference} in {command}")
