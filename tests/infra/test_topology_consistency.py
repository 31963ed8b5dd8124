"""Folders, the manifest and Terraform agree, in both directions.

Each test runs on the real manifest and on two fixture manifests (one exercising
every feature, one with every optional part absent), which the offline model
substitutes for functions/manifest.yaml: a resource whose for_each did not come
from the manifest, or a naming rule that drifted from shared/topology.py, shows up
as a difference.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.package import PackagedFunction
from shared.topology import MANIFEST_PATH, Function, Manifest, RetryPolicy
from tests.infra.conftest import ENVIRONMENTS_DIR, REPO_ROOT, Scenario
from tests.infra.terraform_model import (
    Evaluator,
    PlannedInstance,
    TerraformModule,
    Unknown,
    load_tfvars,
)

INGRESS = {
    "all": "ALLOW_ALL",
    "internal": "ALLOW_INTERNAL_ONLY",
    "internal-and-gclb": "ALLOW_INTERNAL_AND_GCLB",
}
FIXED_ENVIRONMENT = {
    "TRIBUTUM_ENV",
    "TRIBUTUM_PROJECT_ID",
    "TRIBUTUM_FUNCTION_NAME",
    "TRIBUTUM_FIRESTORE_DATABASE",
}
_REFERENCE_KEY = re.compile(r'^\$\{(?P<address>[a-z0-9_]+\.[a-z0-9_]+)\["(?P<key>[^"]+)"\]')


def referenced_key(value: Any, address: str) -> str:
    """The for_each key of ``address`` that an unknown value refers to."""
    assert isinstance(value, Unknown), f"expected a reference to {address}, got {value!r}"
    match = _REFERENCE_KEY.match(value.text)
    assert match and match["address"] == address, f"{value.text} does not refer to {address}"
    return match["key"]


def keys(scenario: Scenario, type_: str, name: str) -> set[str]:
    return set(scenario.plan.of(type_, name))


def test_the_plan_evaluates_without_errors(scenario: Scenario) -> None:
    assert scenario.plan.errors == []
    assert scenario.evaluator.variable_problems() == []


def test_terraform_reads_the_manifest_and_nothing_stands_in_for_it(scenario: Scenario) -> None:
    read = scenario.evaluator.files_read
    expected = (
        MANIFEST_PATH
        if scenario.name == "real"
        else Path(str(scenario.evaluator.file_overrides[MANIFEST_PATH.resolve()]))
    )
    assert expected.resolve() in read
    raw = scenario.local("manifest")
    assert [f["name"] for f in raw["functions"]] == [f.name for f in scenario.manifest.functions]


def test_function_folders_manifest_and_terraform_agree(real_scenario: Scenario) -> None:
    folders = {
        p.name
        for p in (REPO_ROOT / "functions").iterdir()
        if p.is_dir() and p.name != "__pycache__"
    }
    manifest = {f.name for f in real_scenario.manifest.functions}
    unlisted, folderless = sorted(folders - manifest), sorted(manifest - folders)
    assert not unlisted, f"functions/ folders missing from the manifest: {unlisted}"
    assert not folderless, f"manifest functions without a functions/ folder: {folderless}"
    for name in folders:
        assert (REPO_ROOT / "functions" / name / "main.py").is_file()
    assert keys(real_scenario, "google_cloudfunctions2_function", "function") == manifest


def test_every_function_is_deployed_as_the_manifest_describes(scenario: Scenario) -> None:
    functions = scenario.plan.of("google_cloudfunctions2_function", "function")
    assert set(functions) == {f.name for f in scenario.manifest.functions}
    runtime = f"python{sys.version_info.major}{sys.version_info.minor}"
    assert scenario.manifest.runtime == runtime, "Terraform's runtime is the tests' Python"
    for fn in scenario.manifest.functions:
        planned = functions[fn.name]
        build = planned.block("build_config")
        service = planned.block("service_config")
        assert planned.body["name"] == fn.name.replace("_", "-")
        assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", planned.body["name"])
        assert build["runtime"] == runtime
        assert build["entry_point"] == fn.entry_point
        storage = build["source"][0]["storage_source"][0]
        assert storage["object"] == _source_object(scenario, fn)
        assert service["available_memory"] == fn.scaling.memory
        assert service["available_cpu"] == fn.scaling.cpu
        assert service["timeout_seconds"] == fn.scaling.timeout_seconds
        assert service["min_instance_count"] == fn.scaling.min_instances
        assert service["max_instance_count"] == fn.scaling.max_instances
        assert service["max_instance_request_concurrency"] == fn.scaling.concurrency
        assert service["ingress_settings"] == INGRESS[fn.ingress]
        assert (
            referenced_key(service["service_account_email"], "google_service_account.function")
            == fn.name
        )


def _source_object(scenario: Scenario, fn: Function) -> Any:
    objects = scenario.plan.of("google_storage_bucket_object", "source")
    planned = objects[fn.name].body
    if scenario.archives:
        archive = scenario.archives[fn.name]
        assert planned["name"] == f"{fn.name}/{archive.sha256}.zip"
        assert Path(planned["source"]).name == f"{fn.name}.zip"
    return planned["name"]


def test_functions_get_their_environment(scenario: Scenario) -> None:
    functions = scenario.plan.of("google_cloudfunctions2_function", "function")
    for fn in scenario.manifest.functions:
        env = functions[fn.name].block("service_config")["environment_variables"]
        assert env["TRIBUTUM_ENV"] == "cloud"
        assert env["TRIBUTUM_PROJECT_ID"] == scenario.variables["project_id"]
        assert env["TRIBUTUM_FUNCTION_NAME"] == fn.name
        assert env["TRIBUTUM_FIRESTORE_DATABASE"] == scenario.variables.get(
            "firestore_database", "(default)"
        )
        assert env["THREADS"] == str(fn.scaling.concurrency)
        versions = json.loads(env["TRIBUTUM_SECRETS__VERSIONS"])
        assert versions == {s: scenario.variables["secret_versions"][s] for s in fn.secrets}
        for name, value in scenario.variables.get("function_environment", {}).items():
            if name not in FIXED_ENVIRONMENT:
                assert env[name] == value


def test_each_function_runs_as_its_own_service_account(scenario: Scenario) -> None:
    accounts = scenario.plan.of("google_service_account", "function")
    assert set(accounts) == {f.name for f in scenario.manifest.functions}
    ids = [a.body["account_id"] for a in accounts.values()]
    assert len(set(ids)) == len(ids)
    for account_id in ids:
        assert re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", account_id), account_id
    datastore = scenario.plan.of("google_project_iam_member", "function_datastore")
    assert set(datastore) == set(accounts)
    for name, grant in datastore.items():
        assert grant.body["role"] == "roles/datastore.user"
        assert f'google_service_account.function["{name}"].email' in grant.body["member"].text


def test_publishers_hold_publisher_on_exactly_their_topics(scenario: Scenario) -> None:
    grants = scenario.plan.of("google_pubsub_topic_iam_member", "function_publisher")
    expected = {(f.name, t) for f in scenario.manifest.functions for t in f.publishes}
    actual = set()
    for grant in grants.values():
        assert grant.body["role"] == "roles/pubsub.publisher"
        function = re.search(r'function\["([^"]+)"\]', grant.body["member"].text)
        assert function
        actual.add((function[1], grant.body["topic"]))
    assert actual == expected


def test_secrets_are_declared_granted_and_mounted(scenario: Scenario) -> None:
    declared = {s.name for s in scenario.manifest.secrets}
    secrets = scenario.plan.of("google_secret_manager_secret", "secret")
    assert set(secrets) == declared
    for name, secret in secrets.items():
        assert secret.body["secret_id"] == name
    used = {s for f in scenario.manifest.functions for s in f.secrets}
    assert used <= declared
    grants = scenario.plan.of("google_secret_manager_secret_iam_member", "function_accessor")
    expected = {(f.name, s) for f in scenario.manifest.functions for s in f.secrets}
    actual = set()
    for grant in grants.values():
        assert grant.body["role"] == "roles/secretmanager.secretAccessor"
        function = re.search(r'function\["([^"]+)"\]', grant.body["member"].text)
        assert function
        actual.add((function[1], grant.body["secret_id"]))
    assert actual == expected
    functions = scenario.plan.of("google_cloudfunctions2_function", "function")
    for fn in scenario.manifest.functions:
        mounted = functions[fn.name].block("service_config")["secret_environment_variables"]
        assert {m["secret"]: m["version"] for m in mounted} == {
            s: scenario.variables["secret_versions"][s] for s in fn.secrets
        }
        for mount in mounted:
            assert mount["key"] == "TRIBUTUM_SECRET_" + mount["secret"].upper().replace("-", "_")
            assert mount["version"].isdigit(), "versions are pinned, never latest"


def test_topics_and_dead_letter_topics_follow_the_naming_rules(scenario: Scenario) -> None:
    manifest = scenario.manifest
    topics = scenario.plan.of("google_pubsub_topic", "topic")
    dead_letters = scenario.plan.of("google_pubsub_topic", "dead_letter")
    assert {t.body["name"] for t in topics.values()} == {t.name for t in manifest.topics}
    assert {t.body["name"] for t in dead_letters.values()} == {
        t.dead_letter_topic for t in manifest.topics
    }
    subscriptions = scenario.plan.of("google_pubsub_subscription", "dead_letter")
    assert {s.body["name"] for s in subscriptions.values()} == {
        t.dead_letter_subscription for t in manifest.topics
    }
    for topic in manifest.topics:
        subscription = subscriptions[topic.name].body
        assert (
            referenced_key(subscription["topic"], "google_pubsub_topic.dead_letter") == topic.name
        )


def test_every_consumed_or_published_topic_has_a_dead_letter_topic_and_subscription(
    scenario: Scenario,
) -> None:
    used = {c.topic for f in scenario.manifest.functions for c in f.consumes}
    used |= {t for f in scenario.manifest.functions for t in f.publishes}
    dead_letter_topics = {
        i.body["name"] for i in scenario.plan.of("google_pubsub_topic", "dead_letter").values()
    }
    dead_letter_subscriptions = {
        i.body["name"]: i
        for i in scenario.plan.of("google_pubsub_subscription", "dead_letter").values()
    }
    for topic in used:
        assert f"{topic}-dlq" in dead_letter_topics
        subscription = dead_letter_subscriptions[f"{topic}-dlq-sub"]
        target = referenced_key(subscription.body["topic"], "google_pubsub_topic.dead_letter")
        assert target == topic


def test_push_subscriptions_match_the_consumers(scenario: Scenario) -> None:
    manifest = scenario.manifest
    project = scenario.variables["project_id"]
    subscriptions = scenario.plan.of("google_pubsub_subscription", "push")
    expected = {
        manifest.push_subscription(f, c.topic): (f, c)
        for f in manifest.functions
        for c in f.consumes
    }
    assert {s.body["name"] for s in subscriptions.values()} == set(expected)
    for name, (fn, consumed) in expected.items():
        body = subscriptions[name].body
        retry: RetryPolicy = consumed.retry
        assert referenced_key(body["topic"], "google_pubsub_topic.topic") == consumed.topic
        assert body["ack_deadline_seconds"] == retry.ack_deadline_seconds
        assert body["retry_policy"] == [
            {
                "minimum_backoff": f"{retry.minimum_backoff_seconds}s",
                "maximum_backoff": f"{retry.maximum_backoff_seconds}s",
            }
        ]
        policy = body["dead_letter_policy"][0]
        assert policy["max_delivery_attempts"] == retry.max_delivery_attempts
        assert referenced_key(policy["dead_letter_topic"], "google_pubsub_topic.dead_letter") == (
            consumed.topic
        )
        _assert_pushes_to(body, fn.name, f"/projects/{project}/topics/{consumed.topic}")
        assert body["expiration_policy"] == [{"ttl": ""}]


def _assert_pushes_to(body: dict[str, Any], function: str, path: str) -> None:
    push = body["push_config"][0]
    url = f'${{google_cloudfunctions2_function.function["{function}"].service_config[0].uri}}'
    assert push["push_endpoint"] == Unknown(url + path)
    oidc = push["oidc_token"][0]
    assert oidc["service_account_email"] == Unknown("${google_service_account.push_invoker.email}")
    assert oidc["audience"] == Unknown(url)


def test_dead_letter_subscriptions_push_to_the_dead_letter_consumer_or_keep_messages(
    scenario: Scenario,
) -> None:
    consumer = scenario.manifest.dead_letter_consumer()
    project = scenario.variables["project_id"]
    subscriptions = scenario.plan.of("google_pubsub_subscription", "dead_letter")
    for topic in scenario.manifest.topics:
        body = subscriptions[topic.name].body
        assert body["message_retention_duration"] == "604800s"
        assert body["expiration_policy"] == [{"ttl": ""}]
        assert "dead_letter_policy" not in body
        if consumer is None:
            assert body.get("push_config", []) == []
            assert body.get("retry_policy", []) == []
        else:
            _assert_pushes_to(
                body, consumer.name, f"/projects/{project}/topics/{topic.dead_letter_topic}"
            )


def test_the_pubsub_service_agent_can_dead_letter(scenario: Scenario) -> None:
    manifest = scenario.manifest
    agent = scenario.local("pubsub_service_agent")
    publishers = scenario.plan.of("google_pubsub_topic_iam_member", "dead_letter_publisher")
    assert {p.body["topic"] for p in publishers.values()} == {
        t.dead_letter_topic for t in manifest.topics
    }
    for grant in publishers.values():
        assert grant.body["role"] == "roles/pubsub.publisher"
        assert grant.body["member"] == agent
    subscribers = scenario.plan.of(
        "google_pubsub_subscription_iam_member", "dead_letter_source_subscriber"
    )
    assert {s.body["subscription"] for s in subscribers.values()} == {
        manifest.push_subscription(f, c.topic) for f in manifest.functions for c in f.consumes
    }
    for grant in subscribers.values():
        assert grant.body["role"] == "roles/pubsub.subscriber"
        assert grant.body["member"] == agent
    assert "gcp-sa-pubsub.iam.gserviceaccount.com" in agent.text


def test_invokers(scenario: Scenario) -> None:
    manifest = scenario.manifest
    push_member = Unknown("serviceAccount:${google_service_account.push_invoker.email}")
    expected: set[tuple[str, Any]] = set()
    for fn in manifest.functions:
        if fn.kind == "http" and fn.invokers == "public":
            expected.add((fn.name, "allUsers"))
        elif fn.kind == "http":
            expected |= {(fn.name, m) for m in scenario.variables.get("private_invokers", [])}
        if fn.consumes or fn.consumes_dead_letters:
            expected.add((fn.name, push_member))
    grants = scenario.plan.of("google_cloud_run_service_iam_member", "invoker")
    actual = set()
    for grant in grants.values():
        assert grant.body["role"] == "roles/run.invoker"
        service = grant.body["service"]
        function = referenced_key(service, "google_cloudfunctions2_function.function")
        assert service.text.endswith(".service_config[0].service}")
        actual.add((function, grant.body["member"]))
    assert actual == expected
    assert ("allUsers" in {m for _, m in actual}) == any(
        f.kind == "http" and f.invokers == "public" for f in manifest.functions
    )


def test_scheduled_topics_get_a_scheduler_job(scenario: Scenario) -> None:
    jobs = scenario.plan.of("google_cloud_scheduler_job", "tick")
    scheduled = {t.name: t.schedule for t in scenario.manifest.topics if t.schedule is not None}
    assert set(jobs) == set(scheduled)
    for name, schedule in scheduled.items():
        body = jobs[name].body
        assert body["schedule"] == schedule.cron
        assert body["time_zone"] == schedule.time_zone
        target = body["pubsub_target"][0]
        assert referenced_key(target["topic_name"], "google_pubsub_topic.topic") == name
        envelope = json.loads(base64.b64decode(target["data"]))
        assert envelope["type"] == target["attributes"]["type"] == "schedule.tick"
        assert envelope["subject"] == name
        assert envelope["data"] == {"topic": name}


# ----------------------------------------------------------------------- routing


def _template_matches(template: str, path: str) -> bool:
    wanted, given = template.split("/"), path.split("/")
    return len(wanted) == len(given) and all(
        (w == "*" and g != "") or w == g for w, g in zip(wanted, given, strict=True)
    )


def _route(url_map: PlannedInstance, method: str, path: str) -> str:
    """The backend function the URL map sends a request to, evaluated like the load balancer."""
    matcher = url_map.block("path_matcher")
    for rule in sorted(matcher["route_rules"], key=lambda r: r["priority"]):
        match = rule["match_rules"][0]
        methods = [
            h["exact_match"] for h in match["header_matches"] if h["header_name"] == ":method"
        ]
        if _template_matches(match["path_template_match"], path) and all(
            m == method for m in methods
        ):
            return referenced_key(rule["service"], "google_compute_backend_service.function")
    return referenced_key(matcher["default_service"], "google_compute_backend_service.function")


def _sample_path(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "sample-id", path)


def _http_functions(manifest: Manifest) -> dict[str, Function]:
    return {f.name: f for f in manifest.functions if f.kind == "http"}


def test_every_route_reaches_its_function_through_the_load_balancer(scenario: Scenario) -> None:
    url_map = scenario.plan.single("google_compute_url_map", "api")
    for fn in _http_functions(scenario.manifest).values():
        for route in fn.routes:
            assert _route(url_map, route.method, _sample_path(route.path)) == fn.name, (
                f"{route.method} {route.path}"
            )


def test_url_map_has_no_rule_the_manifest_does_not_explain(scenario: Scenario) -> None:
    url_map = scenario.plan.single("google_compute_url_map", "api")
    rules = url_map.block("path_matcher")["route_rules"]
    owners: dict[str, set[str]] = {}
    for fn in _http_functions(scenario.manifest).values():
        for route in fn.routes:
            owners.setdefault(re.sub(r"\{[a-z_]+\}", "*", route.path), set()).add(fn.name)
    priorities = [r["priority"] for r in rules]
    assert len(set(priorities)) == len(priorities)
    assert 0 < len(rules) <= 200, "a path matcher holds at most 200 route rules"
    assert {r["match_rules"][0]["path_template_match"] for r in rules} == set(owners)
    for rule in rules:
        template = rule["match_rules"][0]["path_template_match"]
        function = referenced_key(rule["service"], "google_compute_backend_service.function")
        assert function in owners[template]
        assert template.count("*") <= 5, "path templates allow at most 5 wildcards"


def test_a_path_owned_by_one_function_also_reaches_it_for_other_methods(scenario: Scenario) -> None:
    url_map = scenario.plan.single("google_compute_url_map", "api")
    for fn in _http_functions(scenario.manifest).values():
        for route in fn.routes:
            others = {
                g.name
                for g in _http_functions(scenario.manifest).values()
                for r in g.routes
                if g.name != fn.name
                and re.sub(r"\{[a-z_]+\}", "*", r.path) == re.sub(r"\{[a-z_]+\}", "*", route.path)
            }
            if not others:
                assert _route(url_map, "OPTIONS", _sample_path(route.path)) == fn.name


def test_every_http_function_has_a_backend_and_nothing_else_does(scenario: Scenario) -> None:
    http = set(_http_functions(scenario.manifest))
    negs = scenario.plan.of("google_compute_region_network_endpoint_group", "function")
    backends = scenario.plan.of("google_compute_backend_service", "function")
    assert set(negs) == set(backends) == http
    for name in http:
        cloud_run = negs[name].block("cloud_run")
        assert (
            referenced_key(cloud_run["service"], "google_cloudfunctions2_function.function") == name
        )
        group = backends[name].block("backend")["group"]
        assert (
            referenced_key(group, "google_compute_region_network_endpoint_group.function") == name
        )
        assert backends[name].body["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    default = scenario.plan.single("google_compute_url_map", "api").body["default_service"]
    assert referenced_key(default, "google_compute_backend_service.function") in http


# ----------------------------------------------------------------------- monitoring


def test_every_function_has_a_5xx_alert(scenario: Scenario) -> None:
    alerts = scenario.plan.of("google_monitoring_alert_policy", "function_5xx")
    assert set(alerts) == {f.name for f in scenario.manifest.functions}
    for name, alert in alerts.items():
        condition = alert.block("conditions")["condition_threshold"][0]
        assert 'metric.labels.response_code_class="5xx"' in condition["filter"].text
        assert f'function["{name}"].service_config[0].service' in condition["filter"].text
        assert f'function["{name}"]' in condition["denominator_filter"].text


def test_every_dead_letter_subscription_has_a_backlog_alert(scenario: Scenario) -> None:
    alerts = scenario.plan.of("google_monitoring_alert_policy", "dead_letter_backlog")
    assert set(alerts) == {t.name for t in scenario.manifest.topics}
    for topic in scenario.manifest.topics:
        condition = alerts[topic.name].block("conditions")["condition_threshold"][0]
        assert "subscription/num_undelivered_messages" in condition["filter"]
        assert f'subscription_id="{topic.dead_letter_subscription}"' in condition["filter"]


def test_reconciliation_discrepancies_are_counted_and_alerted(scenario: Scenario) -> None:
    metric = scenario.plan.single("google_logging_metric", "ledger_discrepancy").body
    assert "severity>=ERROR" in metric["filter"]
    assert 'jsonPayload.message="ledger.discrepancy"' in metric["filter"]
    alert = scenario.plan.single("google_monitoring_alert_policy", "ledger_discrepancy")
    condition = alert.block("conditions")["condition_threshold"][0]
    assert f"logging.googleapis.com/user/{metric['name']}" in condition["filter"]


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_environment_tfvars_plan_cleanly(
    environment: str,
    terraform_module: TerraformModule,
    packaged: dict[str, PackagedFunction],
) -> None:
    build_dir = next(iter(packaged.values())).archive.parent
    variables = load_tfvars(ENVIRONMENTS_DIR / f"{environment}.tfvars")
    assert variables["environment"] == environment
    evaluator = Evaluator(
        terraform_module, variables, file_overrides={REPO_ROOT / "build": build_dir}
    )
    assert evaluator.variable_problems() == []
    assert evaluator.plan().errors == []
    backend = (ENVIRONMENTS_DIR / f"{environment}.gcs.tfbackend").read_text(encoding="utf-8")
    assert re.search(r'^bucket\s*=\s*"[a-z0-9._-]+"', backend, re.M)
    assert re.search(rf'^prefix\s*=\s*".*{environment}"', backend, re.M)
