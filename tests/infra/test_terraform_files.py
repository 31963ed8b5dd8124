"""infra/ as files: it parses, is formatted, passes checkov, and its Firestore config is sound."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from tests.infra.conftest import ENVIRONMENTS_DIR, INFRA_DIR, REPO_ROOT, Scenario

TF_FILES = sorted(INFRA_DIR.glob("*.tf"))
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
FIRESTORE_CONFIG = INFRA_DIR / "firestore_indexes.yaml"
REQUIRED_TTL = {
    ("idempotency_keys", "expires_at"),
    ("processed_events", "expires_at"),
    ("outbox", "expires_at"),
    ("rate_limits", "expires_at"),
    ("password_resets", "expires_at"),
}


def test_infra_has_terraform_files() -> None:
    assert {p.name for p in TF_FILES} >= {"versions.tf", "variables.tf", "manifest.tf"}


@pytest.mark.parametrize(
    "path", TF_FILES + sorted(ENVIRONMENTS_DIR.iterdir()), ids=lambda p: p.name
)
def test_every_terraform_file_parses(path: Path) -> None:
    with path.open(encoding="utf-8") as stream:
        parsed = hcl2.load(stream)
    assert parsed, f"{path.name} is empty"


def _terraform_block() -> dict[str, Any]:
    with (INFRA_DIR / "versions.tf").open(encoding="utf-8") as stream:
        terraform = hcl2.load(stream)["terraform"]
    block: dict[str, Any] = terraform[0] if isinstance(terraform, list) else terraform
    return block


def _providers() -> dict[str, Any]:
    providers = _terraform_block()["required_providers"]
    result: dict[str, Any] = providers[0] if isinstance(providers, list) else providers
    return result


@pytest.mark.parametrize(
    ("name", "source"), [("google", "hashicorp/google"), ("time", "hashicorp/time")]
)
def test_every_provider_is_pinned_to_an_exact_release(name: str, source: str) -> None:
    provider = _providers()[name]
    assert provider["source"].strip('"') == source
    version = provider["version"].strip('"')
    # "~>" or ">=" would let `terraform init` pick a newer provider than the one reviewed.
    assert re.fullmatch(r"=\s*\d+\.\d+\.\d+", version), f"{name}: {version}"


def test_the_google_provider_is_a_6_x_release_and_state_is_remote() -> None:
    version = _providers()["google"]["version"].strip('"')
    assert re.fullmatch(r"=\s*6\.\d+\.\d+", version), version
    assert "gcs" in json.dumps(_terraform_block()["backend"]), "remote state in a GCS backend"


def test_terraform_is_new_enough_for_validations_that_read_the_manifest() -> None:
    required = _terraform_block()["required_version"].strip('"')
    minimum = re.match(r">=\s*1\.(\d+)", required)
    assert minimum and int(minimum[1]) >= 9, required


def test_terraform_fmt_check() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("the terraform binary is not installed; `terraform fmt -check` not run")
    completed = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA_DIR)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, f"run `terraform fmt -recursive infra`:\n{completed.stdout}"


def test_checkov_passes_with_every_skip_justified() -> None:
    if not CHECKOV.exists():
        pytest.fail(
            "checkov is not installed in .venv-checkov/; run `bash infra/install-checkov.sh`",
            pytrace=False,
        )
    completed = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            str(INFRA_DIR),
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report: Any = json.loads(completed.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for r in reports
        for c in r["results"]["failed_checks"]
    ]
    assert failed == [], "checkov findings:\n" + "\n".join(failed)
    summary = reports[0]["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0
    for r in reports:
        for check in r["results"]["skipped_checks"]:
            reason = (check.get("check_result") or {}).get("suppress_comment", "")
            assert len(reason) >= 30, f"{check['check_id']} on {check['resource']} needs a reason"


def test_every_inline_skip_carries_a_reason() -> None:
    for path in TF_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if "checkov:skip=" in line:
                match = re.search(r"checkov:skip=(CKV_[A-Z0-9_]+):(.+)$", line)
                assert match and len(match[2].strip()) >= 30, f"{path.name}: {line.strip()}"


# ----------------------------------------------------------------------- firestore


def _firestore_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(FIRESTORE_CONFIG.read_text(encoding="utf-8"))
    return config


def test_firestore_config_is_well_formed() -> None:
    config = _firestore_config()
    assert set(config) == {"ttl_fields", "composite_indexes"}
    ttl = [
        (f.get("database", "main"), f["collection_group"], f["field"]) for f in config["ttl_fields"]
    ]
    assert len(set(ttl)) == len(ttl)
    assert {(c, f) for _, c, f in ttl} >= REQUIRED_TTL
    for entry in config["ttl_fields"]:
        assert set(entry) <= {"collection_group", "field", "indexed", "database"}
        assert entry.get("database", "main") in ("main", "credentials")
    signatures = set()
    for index in config["composite_indexes"]:
        assert set(index) <= {"collection_group", "query_scope", "fields", "database"}
        assert index.get("database", "main") in ("main", "credentials")
        assert index.get("query_scope", "COLLECTION") in ("COLLECTION", "COLLECTION_GROUP")
        assert len(index["fields"]) >= 2, "a composite index has two or more fields"
        for f in index["fields"]:
            assert set(f) in ({"field", "order"}, {"field", "array_config"}), f
            assert f.get("order", "ASCENDING") in ("ASCENDING", "DESCENDING")
            assert f.get("array_config", "CONTAINS") == "CONTAINS"
        signature = json.dumps(index, sort_keys=True)
        assert signature not in signatures, "duplicate composite index"
        signatures.add(signature)


def test_the_indexes_the_ledger_and_users_queries_need_are_declared() -> None:
    declared = {
        (i["collection_group"], tuple(f["field"] for f in i["fields"]))
        for i in _firestore_config()["composite_indexes"]
    }
    # LedgerService.list_account_entries: account_ids CONTAINS, effective_date range/order.
    assert ("entries", ("account_ids", "effective_date")) in declared
    assert ("users_read", ("tenant_id", "created_at")) in declared


def test_terraform_creates_what_the_firestore_config_declares(real_scenario: Scenario) -> None:
    config = _firestore_config()
    plan = real_scenario.plan
    fields = plan.of("google_firestore_field", "ttl")
    databases = {"main": "(default)", "credentials": "credentials"}
    assert {
        (f.body["database"], f.body["collection"], f.body["field"]) for f in fields.values()
    } == {
        (databases[f.get("database", "main")], f["collection_group"], f["field"])
        for f in config["ttl_fields"]
    }
    for planned in fields.values():
        assert planned.body["ttl_config"] == [{}]
        assert planned.body["index_config"] == [{}], "TTL timestamps are not indexed"
    indexes = plan.of("google_firestore_index", "composite")
    assert sorted(
        (
            i.body["database"],
            i.body["collection"],
            i.body["query_scope"],
            tuple((f["field_path"], f["order"]) for f in i.body["fields"]),
        )
        for i in indexes.values()
    ) == sorted(
        (
            databases[i.get("database", "main")],
            i["collection_group"],
            i.get("query_scope", "COLLECTION"),
            tuple((f["field"], f.get("order")) for f in i["fields"]),
        )
        for i in config["composite_indexes"]
    )
    for name in databases:
        database = plan.single("google_firestore_database", name).body
        assert database["type"] == "FIRESTORE_NATIVE"
        assert database["concurrency_mode"] == "OPTIMISTIC"
        assert database["point_in_time_recovery_enablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"
        assert database["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"
        assert database["deletion_policy"] == "ABANDON"
