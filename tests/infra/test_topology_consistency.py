"""Folders, the manifest and Terraform agree, in both directions.

Each test runs on the real manifest and on two fixture manifests (one exercising
every feature, one with every optional part absent), which the offline model
substitutes for functions/manifest.yaml: a resource whose for_each did not come
from the manifest, or a naming rule that drifted from shared/topology.py, shows up
as a difference.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any, get_args

import pytest

from emulator import runtime_contract
from emulator.scheduler import tick_message
from infra.package import PackagedFunction
from shared.topology import (
    MANIFEST_PATH,
    PLATFORM_VARIABLES,
    EnvironmentSource,
    Function,
    Manifest,
    RetryPolicy,
)
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
        # Built from the uploaded object's own generation, never "whatever is there now".
        assert storage["generation"] == Unknown(
            f'${{google_storage_bucket_object.source["{fn.name}"].generation}}'
        )
        assert service["available_memory"] == fn.scaling.memory
        assert service["available_cpu"] == fn.scaling.cpu
        assert service["timeout_seconds"] == fn.scaling.timeout_seconds
        assert service["min_instance_count"] == fn.scaling.min_instances
        assert service["max_instance_count"] == fn.scaling.max_instances
        assert service["max_instance_request_concurrency"] == fn.scaling.concurrency
        assert service["ingress_settings"] == expected_ingress(scenario, fn)
        assert "secret_environment_variables" not in service, "secrets come from Secret Manager"
        assert (
            referenced_key(service["service_account_email"], "google_service_account.function")
            == fn.name
        )


def expected_ingress(scenario: Scenario, fn: Function) -> str:
    """The manifest's ingress; HTTP functions on their own URLs take traffic from anywhere."""
    if fn.kind == "http" and not scenario.behind_load_balancer:
        return "ALLOW_ALL"
    return INGRESS[fn.ingress]


def expected_proxy_hops(scenario: Scenario, fn: Function) -> str:
    """Behind the load balancer X-Forwarded-For ends "<client>, <load balancer>"."""
    return "2" if scenario.behind_load_balancer and fn.ingress == "internal-and-gclb" else "1"


def _source_object(scenario: Scenario, fn: Function) -> Any:
    objects = scenario.plan.of("google_storage_bucket_object", "source")
    planned = objects[fn.name].body
    if scenario.archives:
        archive = scenario.archives[fn.name]
        assert planned["name"] == f"{fn.name}/{archive.sha256}.zip"
        assert Path(planned["source"]).name == f"{fn.name}.zip"
    return planned["name"]


def test_functions_get_exactly_the_manifests_environment(scenario: Scenario) -> None:
    functions = scenario.plan.of("google_cloudfunctions2_function", "function")
    extra = scenario.variables.get("function_environment", {})
    declared = scenario.manifest.environment
    for fn in scenario.manifest.functions:
        env = functions[fn.name].block("service_config")["environment_variables"]
        assert set(env) == set(declared) | set(extra), fn.name
        expected_by_source = {
            "deployment": "cloud",
            "project_id": scenario.variables["project_id"],
            "function_name": fn.name,
            "firestore_database": scenario.variables.get("firestore_database", "(default)"),
            "credentials_database": scenario.variables.get("credentials_database", "credentials"),
            "firestore_access": fn.firestore.to_environment(),
            "log_level": scenario.variables.get("log_level", "INFO"),
            "trusted_proxy_hops": expected_proxy_hops(scenario, fn),
            "secret_versions": json.dumps(
                {s: scenario.variables["secret_versions"][s] for s in sorted(fn.secrets)},
                separators=(",", ":"),
            ),
            "concurrency": str(fn.scaling.concurrency),
            "webhook_private_hosts": "[]",
            "mail_transport_url": "",
            # Known once applied: the push invoker's email, the KMS key's id.
            "push_invoker": Unknown("${google_service_account.push_invoker.email}"),
            "webhook_secrets_key": Unknown("${google_kms_crypto_key.webhook_secrets.id}"),
        }
        assert set(expected_by_source) == set(get_args(EnvironmentSource))
        for name, source in declared.items():
            assert env[name] == expected_by_source[source], (fn.name, name)
        for name, value in extra.items():
            assert env[name] == value


def test_terraform_supplies_every_environment_source(scenario: Scenario) -> None:
    sources = scenario.local("environment_sources")
    assert set(sources) == {f.name for f in scenario.manifest.functions}
    for supplied in sources.values():
        assert set(supplied) == set(get_args(EnvironmentSource))


def test_the_environment_of_a_few_real_functions(real_scenario: Scenario) -> None:
    functions = real_scenario.plan.of("google_cloudfunctions2_function", "function")

    def env(name: str) -> dict[str, str]:
        return dict(functions[name].block("service_config")["environment_variables"])

    common = {
        "TRIBUTUM_ENV": "cloud",
        "TRIBUTUM_PROJECT_ID": "tributum-dev",
        "TRIBUTUM_FIRESTORE_DATABASE": "(default)",
        "TRIBUTUM_LOG_LEVEL": "DEBUG",
        "TRIBUTUM_WEBHOOKS__ALLOWED_PRIVATE_HOSTS": "[]",
        "TRIBUTUM_MAIL__TRANSPORT_URL": "",
        "TRIBUTUM_PUSH__INVOKER": Unknown("${google_service_account.push_invoker.email}"),
        "TRIBUTUM_WEBHOOKS__SECRETS_KEY": Unknown("${google_kms_crypto_key.webhook_secrets.id}"),
    }
    assert env("auth") == {
        **common,
        "TRIBUTUM_FUNCTION_NAME": "auth",
        "TRIBUTUM_HTTP__TRUSTED_PROXY_HOPS": "2",
        "TRIBUTUM_SECRETS__VERSIONS": '{"jwt-signing-keys":"1","jwt-verification-keys":"1"}',
        "THREADS": "4",
        "TRIBUTUM_FIRESTORE__CREDENTIALS_DATABASE": "credentials",
        "TRIBUTUM_FIRESTORE__ACCESS": '{"credentials":"write","main":"write"}',
    }
    assert env("process_payment") == {
        **common,
        "TRIBUTUM_FUNCTION_NAME": "process_payment",
        "TRIBUTUM_HTTP__TRUSTED_PROXY_HOPS": "1",
        "TRIBUTUM_SECRETS__VERSIONS": "{}",
        "THREADS": "8",
        "TRIBUTUM_FIRESTORE__CREDENTIALS_DATABASE": "credentials",
        "TRIBUTUM_FIRESTORE__ACCESS": '{"credentials":"none","main":"write"}',
    }
    assert env("journal")["THREADS"] == "32"
    assert env("journal")["TRIBUTUM_FIRESTORE__ACCESS"] == '{"credentials":"read","main":"write"}'
    assert env("audit")["TRIBUTUM_FIRESTORE__ACCESS"] == '{"credentials":"read","main":"read"}'


def test_the_fixture_maps_one_source_to_two_variables(fixture_scenario: Scenario) -> None:
    functions = fixture_scenario.plan.of("google_cloudfunctions2_function", "function")
    env = functions["users_query"].block("service_config")["environment_variables"]
    assert env["THREADS"] == env["FIXTURE_WORKERS"] == "40"


@pytest.mark.parametrize(
    "name",
    [
        *sorted(PLATFORM_VARIABLES),
        "TRIBUTUM_ENV",
        "THREADS",
        "TRIBUTUM_SECRET_JWT_SIGNING_KEYS",
        "TRIBUTUM_SECRETS__BACKEND",
    ],
)
def test_function_environment_cannot_take_over_a_reserved_variable(
    real_scenario: Scenario, name: str
) -> None:
    variables = {**real_scenario.variables, "function_environment": {name: "x"}}
    evaluator = Evaluator(real_scenario.evaluator.module, variables)
    problems = evaluator.variable_problems()
    assert len(problems) == 1 and problems[0].startswith("var.function_environment"), problems


def test_terraform_reserves_exactly_the_platforms_variables(real_scenario: Scenario) -> None:
    assert set(real_scenario.local("platform_environment_variables")) == PLATFORM_VARIABLES


def test_the_platforms_own_variable_is_left_to_the_platform(scenario: Scenario) -> None:
    # Cloud Functions sets LOG_EXECUTION_ID itself; a plan must not fight it.
    lifecycle = scenario.evaluator.lifecycle("google_cloudfunctions2_function", "function")
    assert lifecycle["ignore_changes"] == [
        'service_config[0].environment_variables["LOG_EXECUTION_ID"]'
    ]


def test_each_function_runs_as_its_own_service_account(scenario: Scenario) -> None:
    accounts = scenario.plan.of("google_service_account", "function")
    assert set(accounts) == {f.name for f in scenario.manifest.functions}
    ids = [a.body["account_id"] for a in accounts.values()]
    assert len(set(ids)) == len(ids)
    for account_id in ids:
        assert re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", account_id), account_id


def test_firestore_access_is_granted_per_database_as_the_manifest_states(
    scenario: Scenario,
) -> None:
    databases = {
        "main": scenario.variables.get("firestore_database", "(default)"),
        "credentials": scenario.variables.get("credentials_database", "credentials"),
    }
    roles = {"read": "roles/datastore.viewer", "write": "roles/datastore.user"}
    expected = {
        f"{fn.name}/{database}": (fn.name, databases[database], roles[access])
        for fn in scenario.manifest.functions
        for database, access in (
            ("main", fn.firestore.main),
            ("credentials", fn.firestore.credentials),
        )
        if access != "none"
    }
    grants = scenario.plan.of("google_project_iam_member", "function_datastore")
    assert set(grants) == set(expected)
    project = scenario.variables["project_id"]
    for key, grant in grants.items():
        function, database, role = expected[key]
        assert grant.body["role"] == role, key
        assert f'google_service_account.function["{function}"].email' in grant.body["member"].text
        (condition,) = grant.body["condition"]
        assert condition["expression"] == (
            f'resource.name == "projects/{project}/databases/{database}"'
        ), key
    # Every function reads the books; none is left without a grant on them.
    assert {key.split("/")[0] for key in grants if key.endswith("/main")} == {
        fn.name for fn in scenario.manifest.functions
    }


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


def test_secrets_are_declared_granted_and_pinned(scenario: Scenario) -> None:
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
    # One mechanism: the code reads Secret Manager at the pinned versions; no secret
    # value is ever in a function's environment.
    functions = scenario.plan.of("google_cloudfunctions2_function", "function")
    for fn in scenario.manifest.functions:
        service = functions[fn.name].block("service_config")
        assert "secret_environment_variables" not in service
        assert not any(
            name.startswith("TRIBUTUM_SECRET_") for name in service["environment_variables"]
        )
        if "TRIBUTUM_SECRETS__VERSIONS" in scenario.manifest.environment:
            pinned = json.loads(service["environment_variables"]["TRIBUTUM_SECRETS__VERSIONS"])
            assert pinned == {s: scenario.variables["secret_versions"][s] for s in fn.secrets}
            assert all(version.isdigit() for version in pinned.values()), "never latest"


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
        assert body["ack_deadline_seconds"] == RetryPolicy().ack_deadline_seconds
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
    # The Cloud Run service behind a 2nd-gen function has the function's (short) name.
    by_service_name = {f.name.replace("_", "-"): f.name for f in manifest.functions}
    grants = scenario.plan.of("google_cloud_run_v2_service_iam_member", "invoker")
    actual = set()
    for grant in grants.values():
        assert grant.body["role"] == "roles/run.invoker"
        assert grant.body["location"] == scenario.variables["region"]
        actual.add((by_service_name[grant.body["name"]], grant.body["member"]))
    assert actual == expected
    assert ("allUsers" in {m for _, m in actual}) == any(
        f.kind == "http" and f.invokers == "public" for f in manifest.functions
    )


def test_the_v1_invoker_grants_are_forgotten_not_destroyed(
    terraform_module: TerraformModule,
) -> None:
    # Destroying them while their v2 twins are created would race on the services' IAM
    # policies and could revoke run.invoker.
    removed = terraform_module.removed["google_cloud_run_service_iam_member.invoker"]
    assert removed.destroy is False
    assert ("google_cloud_run_v2_service_iam_member", "invoker") in terraform_module.resources
    evaluator = Evaluator(terraform_module, {})
    for name in ("push", "dead_letter"):
        assert evaluator.depends_on("google_pubsub_subscription", name) == [
            "google_cloud_run_v2_service_iam_member.invoker"
        ]


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
        # The local scheduler publishes exactly what this job publishes.
        local_data, local_attributes = tick_message(name)
        assert envelope == json.loads(local_data)
        assert target["attributes"] == local_attributes


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


def test_every_route_reaches_its_function_through_the_load_balancer(lb_scenario: Scenario) -> None:
    url_map = lb_scenario.plan.of("google_compute_url_map", "api")[0]
    for fn in _http_functions(lb_scenario.manifest).values():
        for route in fn.routes:
            assert _route(url_map, route.method, _sample_path(route.path)) == fn.name, (
                f"{route.method} {route.path}"
            )


def test_url_map_has_no_rule_the_manifest_does_not_explain(lb_scenario: Scenario) -> None:
    url_map = lb_scenario.plan.of("google_compute_url_map", "api")[0]
    rules = url_map.block("path_matcher")["route_rules"]
    owners: dict[str, set[str]] = {}
    for fn in _http_functions(lb_scenario.manifest).values():
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


def test_a_path_owned_by_one_function_also_reaches_it_for_other_methods(
    lb_scenario: Scenario,
) -> None:
    url_map = lb_scenario.plan.of("google_compute_url_map", "api")[0]
    for fn in _http_functions(lb_scenario.manifest).values():
        for route in fn.routes:
            others = {
                g.name
                for g in _http_functions(lb_scenario.manifest).values()
                for r in g.routes
                if g.name != fn.name
                and re.sub(r"\{[a-z_]+\}", "*", r.path) == re.sub(r"\{[a-z_]+\}", "*", route.path)
            }
            if not others:
                assert _route(url_map, "OPTIONS", _sample_path(route.path)) == fn.name


def test_every_http_function_has_a_backend_and_nothing_else_does(lb_scenario: Scenario) -> None:
    http = set(_http_functions(lb_scenario.manifest))
    negs = lb_scenario.plan.of("google_compute_region_network_endpoint_group", "function")
    backends = lb_scenario.plan.of("google_compute_backend_service", "function")
    assert set(negs) == set(backends) == http
    for name in http:
        # The short name of the function's Cloud Run service, never its full resource path.
        assert negs[name].block("cloud_run") == {"service": name.replace("_", "-")}
        assert "cloud_function" not in negs[name].body
        group = backends[name].block("backend")["group"]
        assert (
            referenced_key(group, "google_compute_region_network_endpoint_group.function") == name
        )
        assert backends[name].body["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    default = lb_scenario.plan.of("google_compute_url_map", "api")[0].body["default_service"]
    assert referenced_key(default, "google_compute_backend_service.function") in http


# ----------------------------------------------------------------------- monitoring


def test_every_function_has_a_5xx_alert(scenario: Scenario) -> None:
    alerts = scenario.plan.of("google_monitoring_alert_policy", "function_5xx")
    assert set(alerts) == {f.name for f in scenario.manifest.functions}
    for name, alert in alerts.items():
        condition = alert.block("conditions")["condition_threshold"][0]
        # Cloud Monitoring labels a revision with its service's short name.
        service_name = f'resource.labels.service_name="{name.replace("_", "-")}"'
        assert 'metric.labels.response_code_class="5xx"' in condition["filter"]
        assert service_name in condition["filter"]
        assert service_name in condition["denominator_filter"]


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


def test_a_broken_audit_chain_is_counted_and_alerted(scenario: Scenario) -> None:
    metric = scenario.plan.single("google_logging_metric", "audit_chain_broken").body
    assert "severity>=ERROR" in metric["filter"]
    # The event the audit store logs when a chain fails verification.
    source = (REPO_ROOT / "shared" / "audit" / "store.py").read_text()
    assert '"audit.chain_verification_failed"' in source
    assert 'jsonPayload.message="audit.chain_verification_failed"' in metric["filter"]
    alert = scenario.plan.single("google_monitoring_alert_policy", "audit_chain_broken")
    condition = alert.block("conditions")["condition_threshold"][0]
    assert f"logging.googleapis.com/user/{metric['name']}" in condition["filter"]


def test_audit_witnesses_are_kept_in_a_locked_bucket_outside_firestore(
    scenario: Scenario,
) -> None:
    bucket = scenario.plan.single("google_logging_project_bucket_config", "audit_witness").body
    assert bucket["locked"] is True
    assert bucket["location"] == "global"
    assert bucket["retention_days"] >= 30
    sink = scenario.plan.single("google_logging_project_sink", "audit_witness").body
    assert 'jsonPayload.message="audit.chain_witness"' in sink["filter"]
    source = (REPO_ROOT / "shared" / "audit" / "store.py").read_text()
    assert '"audit.chain_witness"' in source


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
    bucket = re.search(r'^bucket\s*=\s*"([a-z0-9._-]+)"', backend, re.M)
    assert bucket and variables["tf_state_bucket"] == bucket[1], "the build accounts' state bucket"
    assert re.search(rf'^prefix\s*=\s*".*{environment}"', backend, re.M)


# ----------------------------------------------------------------------- alerts


ALERT_POLICIES = [
    "ledger_discrepancy",
    "audit_chain_broken",
    "dead_letters_recorded",
    "function_5xx",
    "dead_lettered",
    "dead_letter_backlog",
]


def test_every_alert_notifies_the_configured_channels(scenario: Scenario) -> None:
    declared_alerts = {
        name
        for (type_, name) in scenario.evaluator.module.resources
        if type_ == "google_monitoring_alert_policy"
    }
    assert declared_alerts == set(ALERT_POLICIES), "a new alert policy belongs in this test"
    emails = scenario.plan.of("google_monitoring_notification_channel", "email")
    expected = list(scenario.variables.get("notification_channels", []))
    if "alert_email" in scenario.variables:
        assert [e.body for e in emails.values()] == [
            {
                "display_name": f"Tributum {scenario.variables['environment']} alerts",
                "type": "email",
                "labels": {"email_address": scenario.variables["alert_email"]},
            }
        ]
        expected.append(Unknown("${google_monitoring_notification_channel.email[0].id}"))
    else:
        assert emails == {}
    for name in ALERT_POLICIES:
        for alert in scenario.plan.of("google_monitoring_alert_policy", name).values():
            assert alert.body["notification_channels"] == expected, name


def test_every_push_subscription_alerts_on_messages_it_dead_letters(scenario: Scenario) -> None:
    alerts = scenario.plan.of("google_monitoring_alert_policy", "dead_lettered")
    manifest = scenario.manifest
    expected = {
        manifest.push_subscription(f, c.topic) for f in manifest.functions for c in f.consumes
    }
    assert set(alerts) == expected
    for subscription, alert in alerts.items():
        condition = alert.block("conditions")["condition_threshold"][0]
        assert (
            'metric.type="pubsub.googleapis.com/subscription/dead_letter_message_count"'
            in (condition["filter"])
        )
        assert f'resource.labels.subscription_id="{subscription}"' in condition["filter"]
        assert condition["comparison"] == "COMPARISON_GT" and condition["threshold_value"] == 0


# The log events (and severities) that record a dead letter, where the code logs them.
DEAD_LETTER_LOG_EVENTS = {
    "dead_letter.stored": ("WARNING", "functions/dead_letters/main.py", "log.warning"),
    "dead_letter.malformed_push": ("ERROR", "functions/dead_letters/main.py", "log.error"),
    "event.rejected": ("ERROR", "shared/events/consumer.py", "log.error"),
    "event.malformed_push": ("ERROR", "shared/events/consumer.py", "log.error"),
}


def test_dead_letters_the_code_records_are_counted_and_alerted(scenario: Scenario) -> None:
    metric = scenario.plan.single("google_logging_metric", "dead_letters").body
    for event, (severity, path, call) in DEAD_LETTER_LOG_EVENTS.items():
        source = (REPO_ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf'{re.escape(call)}\(\s*"{re.escape(event)}"', source), (event, path)
        clause = f'(severity>={severity} AND (jsonPayload.message="{event}"'
        assert clause in metric["filter"], event
    assert metric["filter"].count("severity>=") == len(DEAD_LETTER_LOG_EVENTS)
    assert metric["label_extractors"]["event"] == "EXTRACT(jsonPayload.message)"
    alert = scenario.plan.single("google_monitoring_alert_policy", "dead_letters_recorded")
    condition = alert.block("conditions")["condition_threshold"][0]
    assert f'metric.type="logging.googleapis.com/user/{metric["name"]}"' in condition["filter"]


def test_alerts_on_log_based_metrics_wait_for_the_metrics(scenario: Scenario) -> None:
    evaluator = scenario.evaluator
    for alert in ("ledger_discrepancy", "audit_chain_broken", "dead_letters_recorded"):
        assert "time_sleep.log_metrics_propagation" in evaluator.depends_on(
            "google_monitoring_alert_policy", alert
        )
    wait = scenario.plan.single("time_sleep", "log_metrics_propagation").body
    assert wait["create_duration"] == "60s"
    assert wait["triggers"] == {
        metric: Unknown(f"${{google_logging_metric.{metric}.id}}")
        for metric in ("ledger_discrepancy", "audit_chain_broken", "dead_letters")
    }


# ----------------------------------------------------------------------- builds, backups


def test_function_builds_get_the_roles_of_the_providers_builder_example(
    scenario: Scenario,
) -> None:
    grants = scenario.plan.of("google_project_iam_member", "builder")
    assert {g.body["role"] for g in grants.values()} == {
        "roles/logging.logWriter",
        "roles/artifactregistry.writer",
        # Cloud Functions copies each source into its own gcf-v2-sources-* bucket.
        "roles/storage.objectAdmin",
    }
    for grant in grants.values():
        assert grant.body["member"] == Unknown(
            "serviceAccount:${google_service_account.builder.email}"
        )
    evaluator = scenario.evaluator
    assert evaluator.depends_on("time_sleep", "builder_iam_propagation") == [
        "google_project_iam_member.builder"
    ]
    assert (
        scenario.plan.single("time_sleep", "builder_iam_propagation").body["create_duration"]
        == "60s"
    )
    assert "time_sleep.builder_iam_propagation" in evaluator.depends_on(
        "google_cloudfunctions2_function", "function"
    )


def test_firestore_is_backed_up_daily(scenario: Scenario) -> None:
    schedules = scenario.plan.of("google_firestore_backup_schedule", "daily")
    days = scenario.variables.get("firestore_backup_retention_days", 7)
    databases = {
        "main": scenario.variables.get("firestore_database", "(default)"),
        "credentials": scenario.variables.get("credentials_database", "credentials"),
    }
    assert set(schedules) == set(databases)
    for key, schedule in schedules.items():
        assert schedule.body == {
            "database": databases[key],
            "retention": f"{days * 86400}s",
            "daily_recurrence": [{}],
        }


@pytest.mark.parametrize("days", [0, 8, 2.5])
def test_backup_retention_stays_within_what_firestore_keeps(
    fixture_scenario: Scenario, days: float
) -> None:
    variables = {**fixture_scenario.variables, "firestore_backup_retention_days": days}
    evaluator = Evaluator(
        fixture_scenario.evaluator.module,
        variables,
        file_overrides={MANIFEST_PATH: fixture_scenario.evaluator.file_overrides[MANIFEST_PATH]},
        missing_files_unknown=True,
    )
    assert any("firestore_backup_retention_days" in p for p in evaluator.variable_problems())


# ----------------------------------------------------------------------- public topics


def test_outside_publishers_are_granted_on_the_public_topics_they_are_named_for(
    scenario: Scenario,
) -> None:
    grants = scenario.plan.of("google_pubsub_topic_iam_member", "public")
    expected = {
        ("roles/pubsub.publisher", topic, member)
        for topic, members in scenario.variables.get("public_topic_publishers", {}).items()
        for member in members
    }
    assert {(g.body["role"], g.body["topic"], g.body["member"]) for g in grants.values()} == (
        expected
    )
    public = {t.name for t in scenario.manifest.topics if t.public}
    assert {topic for _, topic, _ in expected} <= public


def test_result_readers_get_a_subscription_filtered_to_their_tenant_and_no_topic_role(
    scenario: Scenario,
) -> None:
    wanted = scenario.variables.get("tenant_subscriptions", {})
    subscriptions = scenario.plan.of("google_pubsub_subscription", "tenant")
    assert set(subscriptions) == set(wanted)
    for name, spec in wanted.items():
        body = subscriptions[name].body
        assert body["name"] == f"{spec['topic']}--tenant-{name}"
        assert body["filter"] == f'attributes.tenant_id = "{spec["tenant_id"]}"'
        assert body["expiration_policy"][0]["ttl"] == ""
    grants = scenario.plan.of("google_pubsub_subscription_iam_member", "tenant")
    assert {(g.body["role"], g.body["member"]) for g in grants.values()} == {
        ("roles/pubsub.subscriber", member)
        for spec in wanted.values()
        for member in spec["members"]
    }
    # Nobody outside Tributum may read a topic carrying every tenant's messages.
    topic_roles = scenario.plan.of("google_pubsub_topic_iam_member", "public")
    assert {g.body["role"] for g in topic_roles.values()} <= {"roles/pubsub.publisher"}


def test_outside_members_on_an_internal_topic_fail_the_plan(fixture_scenario: Scenario) -> None:
    variables = {
        **fixture_scenario.variables,
        "public_topic_publishers": {
            "ledger-events": ["serviceAccount:x@p.iam.gserviceaccount.com"]
        },
    }
    evaluator = Evaluator(
        fixture_scenario.evaluator.module,
        variables,
        file_overrides={MANIFEST_PATH: fixture_scenario.evaluator.file_overrides[MANIFEST_PATH]},
        missing_files_unknown=True,
    )
    errors = evaluator.plan().errors
    assert any("ledger-events is not a public topic" in e for e in errors), errors


def test_public_topic_members_must_not_be_everyone(real_scenario: Scenario) -> None:
    everyone: dict[str, Any] = {
        "public_topic_publishers": {"ledger-posting-requests": ["allUsers"]},
        "tenant_subscriptions": {
            "reader": {
                "topic": "ledger-posting-results",
                "tenant_id": "t_1",
                "members": ["allAuthenticatedUsers"],
            }
        },
    }
    for variable, value in everyone.items():
        variables = {**real_scenario.variables, variable: value}
        problems = Evaluator(real_scenario.evaluator.module, variables).variable_problems()
        assert len(problems) == 1 and variable in problems[0]


def test_a_tenant_id_cannot_break_out_of_the_subscription_filter(real_scenario: Scenario) -> None:
    variables = {
        **real_scenario.variables,
        "tenant_subscriptions": {
            "reader": {
                "topic": "ledger-posting-results",
                "tenant_id": 't_1" OR attributes.tenant_id != "',
                "members": ["serviceAccount:erp@partner.iam.gserviceaccount.com"],
            }
        },
    }
    problems = Evaluator(real_scenario.evaluator.module, variables).variable_problems()
    assert len(problems) == 1 and "tenant_id" in problems[0]


# ----------------------------------------------------------------------- entry points


LOAD_BALANCER_SINGLETONS = [
    ("google_compute_global_address", "api"),
    ("google_compute_url_map", "api"),
    ("google_compute_ssl_policy", "api"),
    ("google_compute_target_https_proxy", "api"),
    ("google_compute_global_forwarding_rule", "https"),
    ("google_compute_url_map", "https_redirect"),
    ("google_compute_target_http_proxy", "https_redirect"),
    ("google_compute_global_forwarding_rule", "http"),
]


def test_the_load_balancer_is_the_default_entry_point(lb_scenario: Scenario) -> None:
    assert "entry_point" not in lb_scenario.variables
    for type_, name in LOAD_BALANCER_SINGLETONS:
        assert set(lb_scenario.plan.of(type_, name)) == {0}, f"{type_}.{name}"


def test_function_urls_create_no_load_balancer(function_urls_scenario: Scenario) -> None:
    plan = function_urls_scenario.plan
    assert plan.errors == []
    for type_, name in [
        *LOAD_BALANCER_SINGLETONS,
        ("google_compute_region_network_endpoint_group", "function"),
        ("google_compute_backend_service", "function"),
        ("google_compute_managed_ssl_certificate", "api"),
        ("google_compute_security_policy", "api"),
    ]:
        assert plan.of(type_, name) == {}, f"{type_}.{name}"
    functions = plan.of("google_cloudfunctions2_function", "function")
    for fn in function_urls_scenario.manifest.functions:
        service = functions[fn.name].block("service_config")
        env = service["environment_variables"]
        if fn.kind == "http":
            # Google's front end appends the client's address: it is the last entry.
            assert service["ingress_settings"] == "ALLOW_ALL"
            assert env["TRIBUTUM_HTTP__TRUSTED_PROXY_HOPS"] == "1"
        else:
            assert service["ingress_settings"] == INGRESS[fn.ingress]
    assert any(f.ingress == "internal-and-gclb" for f in function_urls_scenario.manifest.functions)


def test_http_functions_behind_the_load_balancer_trust_two_hops(real_scenario: Scenario) -> None:
    functions = real_scenario.plan.of("google_cloudfunctions2_function", "function")
    for fn in real_scenario.manifest.functions:
        service = functions[fn.name].block("service_config")
        if fn.kind == "http":
            assert fn.ingress == "internal-and-gclb", "HTTP functions take traffic from the LB only"
            assert service["ingress_settings"] == "ALLOW_INTERNAL_AND_GCLB"
            assert service["environment_variables"]["TRIBUTUM_HTTP__TRUSTED_PROXY_HOPS"] == "2"


def _certificate_key(domains: list[str]) -> str:
    return hashlib.sha256(",".join(sorted(domains)).encode()).hexdigest()[:10]


def _certificate_reference(key: str) -> Unknown:
    return Unknown(f'${{google_compute_managed_ssl_certificate.api["{key}"].id}}')


def _replan(scenario: Scenario, **variables: Any) -> Evaluator:
    return Evaluator(
        scenario.evaluator.module,
        {**scenario.variables, **variables},
        file_overrides=scenario.evaluator.file_overrides,
        missing_files_unknown=True,
    )


def test_the_certificate_is_keyed_and_named_by_its_sorted_domains(lb_scenario: Scenario) -> None:
    domains = lb_scenario.variables["domains"]
    key = _certificate_key(domains)
    certificates = lb_scenario.plan.of("google_compute_managed_ssl_certificate", "api")
    assert set(certificates) == {key}
    # The name a certificate of these domains has always had: an existing one is kept.
    assert certificates[key].body["name"] == f"tributum-api-{key}"
    assert certificates[key].body["managed"] == [{"domains": domains}]
    lifecycle = lb_scenario.evaluator.lifecycle("google_compute_managed_ssl_certificate", "api")
    assert lifecycle["create_before_destroy"] is True
    proxy = lb_scenario.plan.of("google_compute_target_https_proxy", "api")[0].body
    assert proxy["ssl_certificates"] == [_certificate_reference(key)]


def test_a_change_of_domains_serves_the_old_certificate_until_it_is_cleared(
    lb_scenario: Scenario,
) -> None:
    old = lb_scenario.variables["domains"]
    new = [*old, "other.tributum.dev"]
    old_key, new_key = _certificate_key(old), _certificate_key(new)

    # Step one: the new certificate is created beside the old one, which keeps its
    # address (so it is neither replaced nor deleted) and stays the proxy's first.
    both = _replan(lb_scenario, domains=new, previous_domains=old)
    assert both.variable_problems() == []
    plan = both.plan()
    assert plan.errors == []
    certificates = plan.of("google_compute_managed_ssl_certificate", "api")
    assert {key: c.body["managed"] for key, c in certificates.items()} == {
        old_key: [{"domains": old}],
        new_key: [{"domains": new}],
    }
    assert {c.body["name"] for c in certificates.values()} == {
        f"tributum-api-{old_key}",
        f"tributum-api-{new_key}",
    }
    proxy = plan.of("google_compute_target_https_proxy", "api")[0].body
    assert proxy["ssl_certificates"] == [
        _certificate_reference(old_key),
        _certificate_reference(new_key),
    ]

    # Step two, once the new certificate is ACTIVE: the old one goes.
    plan = _replan(lb_scenario, domains=new).plan()
    assert set(plan.of("google_compute_managed_ssl_certificate", "api")) == {new_key}
    proxy = plan.of("google_compute_target_https_proxy", "api")[0].body
    assert proxy["ssl_certificates"] == [_certificate_reference(new_key)]


def test_previous_domains_must_differ_from_domains(real_scenario: Scenario) -> None:
    domains = real_scenario.variables["domains"]
    problems = _replan(real_scenario, previous_domains=list(reversed(domains))).variable_problems()
    assert len(problems) == 1 and "previous_domains" in problems[0]


# ----------------------------------------------------------------------- cloud armor


def _credential_routes(manifest: Manifest) -> set[str]:
    return {
        r.path
        for f in manifest.functions
        for r in f.routes
        if r.auth == "public" and r.method == "POST"
    }


def test_cloud_armor_guards_every_backend_by_default(lb_scenario: Scenario) -> None:
    policies = lb_scenario.plan.of("google_compute_security_policy", "api")
    assert set(policies) == {0}
    policy = policies[0].body
    for backend in lb_scenario.plan.of("google_compute_backend_service", "function").values():
        assert backend.body["security_policy"] == Unknown(
            "${google_compute_security_policy.api[0].id}"
        )
    rules = {rule["priority"]: rule for rule in policy["rule"]}
    assert rules[2147483647]["action"] == "allow"
    assert rules[900]["match"][0]["expr"][0]["expression"] == (
        "evaluatePreconfiguredExpr('cve-canary')"
    )
    sensitivity = lb_scenario.variables.get("waf_sensitivity", 1)
    waf = [
        rule["match"][0]["expr"][0]["expression"]
        for priority, rule in sorted(rules.items())
        if 1000 <= priority < 2000
    ]
    for rule_set in ("sqli", "xss", "lfi", "rfi", "rce"):
        expression = (
            f"evaluatePreconfiguredWaf('{rule_set}-v33-stable', {{'sensitivity': {sensitivity}}})"
        )
        assert expression in waf
    assert not any("methodenforcement" in e for e in waf), "the API uses PATCH"
    assert all(rules[p]["action"] == "deny(403)" for p in rules if 900 <= p < 2000)
    assert policy["advanced_options_config"] == [
        {"json_parsing": "STANDARD", "log_level": "NORMAL"}
    ]


def test_cloud_armor_bans_clients_that_hammer_the_credential_endpoints(
    lb_scenario: Scenario,
) -> None:
    policy = lb_scenario.plan.of("google_compute_security_policy", "api")[0].body
    bans = [rule for rule in policy["rule"] if rule["action"] == "rate_based_ban"]
    credential = _credential_routes(lb_scenario.manifest)
    if not credential:
        assert bans == []
        return
    (ban,) = bans
    expression = ban["match"][0]["expr"][0]["expression"]
    head = "request.method == 'POST' && request.path.matches('"
    assert expression.startswith(head) and expression.endswith("')")
    pattern = re.compile(expression[len(head) : -2])
    for fn in lb_scenario.manifest.functions:
        for route in fn.routes:
            matched = pattern.fullmatch(_sample_path(route.path)) is not None
            assert matched == (route.path in credential), route.path
    if lb_scenario.name == "real":
        assert credential == {
            "/v1/auth/token",
            "/v1/auth/refresh",
            "/v1/auth/password-reset",
            "/v1/auth/password-reset/confirm",
            "/v1/auth/verify-email",
            "/v1/signup",
            "/v1/users/invitations/accept",
        }
    options = ban["rate_limit_options"][0]
    per_minute = lb_scenario.variables.get("credential_requests_per_minute", 30)
    assert options["enforce_on_key"] == "IP"
    assert options["exceed_action"] == "deny(429)"
    assert options["rate_limit_threshold"] == [{"count": per_minute, "interval_sec": 60}]
    assert options["ban_duration_sec"] == lb_scenario.variables.get("credential_ban_seconds", 600)


# A rate-based rule's conform_action allows what stays under the rate, and Cloud Armor
# stops at the first rule that matches: a rule that can allow, placed before a deny
# rule, lets the requests it matches skip that deny rule.
ALLOWING_ACTIONS = {"allow", "rate_based_ban", "throttle"}
DEFAULT_RULE_PRIORITY = 2147483647


def test_every_deny_rule_comes_before_any_rule_that_can_allow(lb_scenario: Scenario) -> None:
    policy = lb_scenario.plan.of("google_compute_security_policy", "api")[0].body
    denying = [
        rule
        for rule in policy["rule"]
        if rule["action"].startswith("deny")
        or "evaluatePreconfigured" in json.dumps(rule.get("match", []))
    ]
    allowing = [
        rule
        for rule in policy["rule"]
        if rule["action"] in ALLOWING_ACTIONS and rule["priority"] != DEFAULT_RULE_PRIORITY
    ]
    assert all(rule["action"].startswith("deny") for rule in denying)
    assert len(denying) == 1 + len(lb_scenario.local("waf_rule_sets"))
    if _credential_routes(lb_scenario.manifest):
        assert allowing, "the credential endpoints' rate-based ban"
    for rule in allowing:
        if rule["action"] != "allow":
            assert rule["rate_limit_options"][0]["conform_action"] == "allow"
    late = [
        (deny["description"], allow["description"])
        for deny in denying
        for allow in allowing
        if deny["priority"] >= allow["priority"]
    ]
    assert late == [], "deny rules a rule that can allow comes before"
    default = max(policy["rule"], key=lambda rule: rule["priority"])
    assert default["priority"] == DEFAULT_RULE_PRIORITY and default["action"] == "allow"


def test_cloud_armor_can_be_turned_off(real_scenario: Scenario) -> None:
    variables = {**real_scenario.variables, "cloud_armor_enabled": False}
    plan = Evaluator(
        real_scenario.evaluator.module,
        variables,
        file_overrides=real_scenario.evaluator.file_overrides,
    ).plan()
    assert plan.errors == []
    assert plan.of("google_compute_security_policy", "api") == {}
    for backend in plan.of("google_compute_backend_service", "function").values():
        assert backend.body["security_policy"] is None


# ----------------------------------------------------------------------- builds in the cloud


PLANNER = Unknown("serviceAccount:${google_service_account.planner.email}")
PLANNER_CUSTOM_ROLE = Unknown("${google_project_iam_custom_role.planner_metadata.id}")
# Viewer roles of the services infra/ manages, none of which reads data, and what a
# build needs to write its logs and call the APIs.
PLANNER_PROJECT_ROLES = {
    "roles/cloudfunctions.viewer",
    "roles/run.viewer",
    "roles/pubsub.viewer",
    "roles/secretmanager.viewer",
    # Key rings, keys and their IAM policies; no encrypt or decrypt.
    "roles/cloudkms.viewer",
    "roles/cloudscheduler.viewer",
    "roles/compute.viewer",
    "roles/monitoring.viewer",
    "roles/iam.serviceAccountViewer",
    "roles/cloudbuild.builds.viewer",
    "roles/logging.logWriter",
    "roles/serviceusage.serviceUsageConsumer",
}
# Roles that can change the project, or read its data: roles/viewer and
# roles/iam.securityReviewer include logging.logEntries.list and datastore.entities.list.
NEVER_THE_PLANNERS = {
    "roles/owner",
    "roles/editor",
    "roles/viewer",
    "roles/iam.securityReviewer",
    "roles/datastore.viewer",
    "roles/datastore.user",
    "roles/logging.viewer",
    "roles/logging.privateLogViewer",
    "roles/secretmanager.secretAccessor",
    "roles/pubsub.subscriber",
}
DATA_PERMISSION = re.compile(
    r"^(datastore\.entities\.|logging\.(private)?[lL]ogEntries\.|secretmanager\.versions\.access$"
    r"|pubsub\.subscriptions\.consume$|storage\.objects\.)"
)


def test_branch_builds_plan_as_an_account_that_reads_metadata_only(scenario: Scenario) -> None:
    planner_grants = [
        i for i in scenario.plan.instances.values() if i.body.get("member") == PLANNER
    ]
    roles = [grant.body["role"] for grant in planner_grants]
    assert not NEVER_THE_PLANNERS & {role for role in roles if isinstance(role, str)}
    for role in roles:
        assert role in PLANNER_PROJECT_ROLES | {PLANNER_CUSTOM_ROLE, "roles/storage.objectViewer"}
    project_roles = {
        grant.body["role"] for grant in planner_grants if grant.type == "google_project_iam_member"
    }
    assert project_roles == PLANNER_PROJECT_ROLES | {PLANNER_CUSTOM_ROLE}
    # Object reads only on the state and the sources, never project-wide.
    bucket_grants = {
        (g.body["bucket"], g.body["role"])
        for g in planner_grants
        if g.type == "google_storage_bucket_iam_member"
    }
    assert bucket_grants == {
        (scenario.variables["tf_state_bucket"], "roles/storage.objectViewer"),
        (f"{scenario.variables['project_id']}-function-sources", "roles/storage.objectViewer"),
    }
    assert {g.type for g in planner_grants} == {
        "google_project_iam_member",
        "google_storage_bucket_iam_member",
    }


def test_the_planners_custom_role_reads_metadata_only(scenario: Scenario) -> None:
    role = scenario.plan.single("google_project_iam_custom_role", "planner_metadata").body
    permissions = role["permissions"]
    assert len(set(permissions)) == len(permissions)
    assert [p for p in permissions if DATA_PERMISSION.match(p)] == []
    # Reads only: a plan changes nothing.
    verbs = {p.rsplit(".", 1)[1] for p in permissions}
    assert verbs <= {"get", "list", "getMetadata", "getIamPolicy"}, verbs
    # What a refresh of the Firestore, logging, bucket and IAM resources needs.
    assert set(permissions) >= {
        "datastore.databases.getMetadata",
        "datastore.schemas.get",
        "datastore.backupSchedules.get",
        "logging.logMetrics.get",
        "storage.buckets.get",
        "storage.buckets.getIamPolicy",
        "resourcemanager.projects.getIamPolicy",
        "pubsub.topics.getIamPolicy",
        "pubsub.subscriptions.getIamPolicy",
        # roles/cloudkms.viewer lists keys but not their IAM policies.
        "cloudkms.cryptoKeys.getIamPolicy",
        "iam.roles.get",
    }


def test_the_deployer_can_create_the_planners_custom_role(scenario: Scenario) -> None:
    deployer_roles = {
        g.body["role"] for g in scenario.plan.of("google_project_iam_member", "deployer").values()
    }
    assert "roles/iam.roleAdmin" in deployer_roles
    # In an environment applied before, the grant and the role come in the same apply.
    evaluator = scenario.evaluator
    assert evaluator.depends_on("google_project_iam_custom_role", "planner_metadata") == [
        "time_sleep.deployer_iam_propagation"
    ]
    assert evaluator.depends_on("time_sleep", "deployer_iam_propagation") == [
        "google_project_iam_member.deployer"
    ]


def test_only_main_builds_run_as_the_deployer(scenario: Scenario) -> None:
    plan_triggers = scenario.plan.of("google_cloudbuild_trigger", "plan")
    deploy_triggers = scenario.plan.of("google_cloudbuild_trigger", "deploy")
    if scenario.variables.get("build_repository") is None:
        assert plan_triggers == deploy_triggers == {}
        return
    plan, deploy = plan_triggers[0].body, deploy_triggers[0].body
    assert plan["service_account"] == Unknown("${google_service_account.planner.id}")
    assert deploy["service_account"] == Unknown("${google_service_account.deployer.id}")
    assert plan["repository_event_config"][0]["push"] == [
        {"branch": "^main$", "invert_regex": True}
    ]
    assert deploy["repository_event_config"][0]["push"] == [{"branch": "^main$"}]
    assert plan["substitutions"]["_DEPLOY"] == "false"
    assert deploy["substitutions"]["_DEPLOY"] == "true"
    for trigger in (plan, deploy):
        assert trigger["filename"] == "cloudbuild.yaml"
        assert trigger["substitutions"]["_TF_STATE_BUCKET"] == scenario.variables["tf_state_bucket"]
        assert trigger["substitutions"]["_ENV"] == scenario.variables["environment"]


def test_the_triggers_are_created_in_the_region_of_the_repositorys_connection(
    fixture_scenario: Scenario,
) -> None:
    repository = fixture_scenario.variables["build_repository"]
    assert repository.split("/")[3] == fixture_scenario.variables["region"]
    elsewhere = repository.replace(
        f"/locations/{fixture_scenario.variables['region']}/", "/locations/us-east1/"
    )
    errors = _replan(fixture_scenario, build_repository=elsewhere).plan().errors
    assert sorted(errors) == [
        f"google_cloudbuild_trigger.{trigger}[0]: precondition failed: build_repository is in a "
        f"connection of us-east1; the triggers are created in region "
        f"{fixture_scenario.variables['region']}, which must be the same."
        for trigger in ("deploy", "plan")
    ]


def test_the_deployer_acts_only_as_the_accounts_it_deploys(scenario: Scenario) -> None:
    grants = scenario.plan.of("google_service_account_iam_member", "deployer_acts_as")
    expected = {f"function-{f.name}" for f in scenario.manifest.functions}
    expected |= {"builder", "push-invoker", "planner", "deployer"}
    assert set(grants) == expected
    for grant in grants.values():
        assert grant.body["role"] == "roles/iam.serviceAccountUser"
    project_roles = {
        g.body["role"] for g in scenario.plan.of("google_project_iam_member", "deployer").values()
    }
    assert "roles/iam.serviceAccountUser" not in project_roles
    assert "roles/owner" not in project_roles and "roles/editor" not in project_roles


def test_the_readme_lists_exactly_the_deployers_roles(real_scenario: Scenario) -> None:
    readme = (REPO_ROOT / "infra" / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Permissions of the deploying account", 1)[1].split("\n## ", 1)[0]
    table_roles = {
        role
        for line in section.splitlines()
        if line.startswith("| `roles/")
        for role in re.findall(r"`(roles/[\w.]+)`", line.split("|")[1])
    }
    assert table_roles == set(real_scenario.local("deployer_roles"))


def test_terraform_and_the_local_stack_supply_the_same_environment(
    lb_scenario: Scenario,
) -> None:
    functions = lb_scenario.plan.of("google_cloudfunctions2_function", "function")
    sources = lb_scenario.local("environment_sources")
    extra = set(lb_scenario.variables.get("function_environment", {}))
    for fn in lb_scenario.manifest.functions:
        local_sources = runtime_contract.environment_sources(
            fn, project_id="demo-x", log_level="INFO"
        )
        assert set(sources[fn.name]) == set(local_sources)
        # The local gateway stands in for the load balancer: the same hops.
        assert sources[fn.name]["trusted_proxy_hops"] == local_sources["trusted_proxy_hops"]
        local_env = runtime_contract.deployment_environment(
            lb_scenario.manifest, fn, project_id="demo-x"
        )
        env = functions[fn.name].block("service_config")["environment_variables"]
        assert set(env) - extra == set(local_env), fn.name
