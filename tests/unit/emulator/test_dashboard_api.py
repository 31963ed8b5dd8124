"""The dashboard's JSON endpoints and the gateway's own pages, with a recording fake stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from emulator import apidocs
from emulator.dashboard.api import ACTION_HEADER, Answer, DashboardApi
from emulator.gateway import _is_own_path
from shared import errors
from shared.topology import load_manifest

REPO_ROOT = Path(__file__).resolve().parents[3]
LOCAL = {"Host": "127.0.0.1:8080"}
ACTION = {**LOCAL, ACTION_HEADER: "1"}


class FakeSources:
    """Answers every read with what it was asked; records every action."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.actions: list[tuple[str, tuple[Any, ...]]] = []
        self.fail_with: BaseException | None = None

    def _read(self, name: str, *args: Any) -> Any:
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append((name, args))
        return {"read": name, "args": list(args)}

    def _act(self, name: str, *args: Any) -> dict[str, Any]:
        self.actions.append((name, args))
        return {"done": name, "args": list(args)}

    def functions(self) -> Any:
        return self._read("functions")

    def log_names(self) -> Any:
        return self._read("log_names")

    def logs(self, *args: Any) -> Any:
        return self._read("logs", *args)

    def topics(self) -> Any:
        return self._read("topics")

    def dead_letters(self, status: str | None) -> Any:
        return self._read("dead_letters", status)

    def replay_dead_letter(self, dead_letter_id: str) -> dict[str, Any]:
        return self._act("replay", dead_letter_id)

    def discard_dead_letter(self, dead_letter_id: str, note: str | None) -> dict[str, Any]:
        return self._act("discard", dead_letter_id, note)

    def firestore(self, path: str) -> Any:
        return self._read("firestore", path)

    def schedules(self) -> Any:
        return self._read("schedules")

    def run_schedule(self, topic: str) -> dict[str, Any]:
        return self._act("run", topic)

    def mail(self) -> Any:
        return self._read("mail")

    def webhook_deliveries(self) -> Any:
        return self._read("webhook_deliveries")

    def tenants(self) -> Any:
        return self._read("tenants")

    def trial_balance(self, tenant_id: str) -> Any:
        return self._read("trial_balance", tenant_id)


@pytest.fixture
def fake() -> FakeSources:
    return FakeSources()


@pytest.fixture
def api(fake: FakeSources) -> DashboardApi:
    return DashboardApi(fake, "demo-unit")


def _json(answer: Answer) -> Any:
    assert answer.status == 200
    assert answer.content_type == "application/json"
    return json.loads(answer.body)


def _refused(
    api: DashboardApi, method: str, target: str, headers: dict[str, str], body: bytes = b""
) -> errors.AppError:
    with pytest.raises(errors.AppError) as caught:
        api.handle(method, target, headers, body)
    return caught.value


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/_dashboard/api/functions", {"read": "functions", "args": []}),
        ("/_dashboard/api/log-names", {"read": "log_names", "args": []}),
        (
            "/_dashboard/api/logs?log=accounts&lines=20&severity=WARNING&correlation_id=c-1",
            {"read": "logs", "args": ["accounts", 20, "WARNING", "c-1"]},
        ),
        ("/_dashboard/api/logs", {"read": "logs", "args": [None, 200, None, None]}),
        ("/_dashboard/api/topics", {"read": "topics", "args": []}),
        (
            "/_dashboard/api/dead-letters?status=stored",
            {"read": "dead_letters", "args": ["stored"]},
        ),
        ("/_dashboard/api/dead-letters", {"read": "dead_letters", "args": [None]}),
        (
            "/_dashboard/api/firestore?path=tenants%2Ft-1",
            {"read": "firestore", "args": ["tenants/t-1"]},
        ),
        ("/_dashboard/api/firestore", {"read": "firestore", "args": [""]}),
        ("/_dashboard/api/schedules", {"read": "schedules", "args": []}),
        ("/_dashboard/api/mail", {"read": "mail", "args": []}),
        ("/_dashboard/api/webhooks", {"read": "webhook_deliveries", "args": []}),
        ("/_dashboard/api/tenants", {"read": "tenants", "args": []}),
        (
            "/_dashboard/api/trial-balance?tenant=t-1",
            {"read": "trial_balance", "args": ["t-1"]},
        ),
    ],
)
def test_each_read_reaches_its_source_with_its_parameters(
    api: DashboardApi, target: str, expected: dict[str, Any]
) -> None:
    assert _json(api.handle("GET", target, LOCAL, b"")) == expected


def test_the_overview_names_the_project(api: DashboardApi) -> None:
    assert _json(api.handle("GET", "/_dashboard/api/overview", LOCAL, b"")) == {
        "project_id": "demo-unit"
    }


def test_actions_reach_the_use_cases(api: DashboardApi, fake: FakeSources) -> None:
    replayed = api.handle("POST", "/_dashboard/api/dead-letters/dlq-1/replay", ACTION, b"{}")
    assert _json(replayed) == {"done": "replay", "args": ["dlq-1"]}
    body = json.dumps({"note": "duplicate"}).encode()
    discarded = api.handle("POST", "/_dashboard/api/dead-letters/rej-2/discard", ACTION, body)
    assert _json(discarded) == {"done": "discard", "args": ["rej-2", "duplicate"]}
    ran = api.handle("POST", "/_dashboard/api/schedules/expire-holds-schedule/run", ACTION, b"")
    assert _json(ran) == {"done": "run", "args": ["expire-holds-schedule"]}
    assert fake.actions == [
        ("replay", ("dlq-1",)),
        ("discard", ("rej-2", "duplicate")),
        ("run", ("expire-holds-schedule",)),
    ]


@pytest.mark.parametrize(
    ("target", "field"),
    [
        ("/_dashboard/api/logs?lines=0", "lines"),
        ("/_dashboard/api/logs?lines=501", "lines"),
        ("/_dashboard/api/logs?lines=ten", "lines"),
        ("/_dashboard/api/logs?severity=LOUD", "severity"),
        ("/_dashboard/api/logs?log=a&log=b", "log"),
        ("/_dashboard/api/logs?colour=red", "colour"),
        ("/_dashboard/api/dead-letters?status=lost", "status"),
        ("/_dashboard/api/functions?all=1", "all"),
        ("/_dashboard/api/trial-balance", "tenant"),
        ("/_dashboard/api/trial-balance?tenant=", "tenant"),
    ],
)
def test_a_bad_query_is_a_problem_naming_the_parameter_and_reads_nothing(
    api: DashboardApi, fake: FakeSources, target: str, field: str
) -> None:
    refused = _refused(api, "GET", target, LOCAL)
    assert refused.status == 422
    assert [e.field for e in refused.errors] == [field]
    assert fake.calls == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[1]", "body"),
        (b'{"note": 5}', "note"),
        (json.dumps({"note": "x" * 501}).encode(), "note"),
        (b'{"note": "ok", "force": true}', "force"),
    ],
)
def test_a_bad_discard_body_is_refused_and_discards_nothing(
    api: DashboardApi, fake: FakeSources, body: bytes, field: str
) -> None:
    refused = _refused(api, "POST", "/_dashboard/api/dead-letters/d-1/discard", ACTION, body)
    assert refused.status == 422
    assert [e.field for e in refused.errors] == [field]
    assert fake.actions == []


@pytest.mark.parametrize(
    "target",
    ["/_dashboard/api/dead-letters/d-1/replay", "/_dashboard/api/schedules/t/run"],
)
def test_an_action_without_the_dashboard_header_is_refused(
    api: DashboardApi, fake: FakeSources, target: str
) -> None:
    refused = _refused(api, "POST", target, LOCAL, b"{}")
    assert (refused.status, refused.code) == (403, "dashboard_header_missing")
    assert [e.field for e in refused.errors] == [ACTION_HEADER]
    assert fake.actions == []


@pytest.mark.parametrize("host", ["evil.example:8080", "", "10.0.0.1:8080", "127.0.0.1.nip.io"])
def test_the_api_answers_only_under_a_loopback_host(
    api: DashboardApi, fake: FakeSources, host: str
) -> None:
    refused = _refused(
        api, "POST", "/_dashboard/api/schedules/t/run", {ACTION_HEADER: "1", "Host": host}
    )
    assert (refused.status, refused.code) == (403, "dashboard_host_refused")
    assert _refused(api, "GET", "/_dashboard/api/functions", {"Host": host}).status == 403
    assert fake.actions == [] and fake.calls == []


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:28080", "[::1]:8080", "127.0.47.1"])
def test_loopback_host_names_are_accepted(api: DashboardApi, host: str) -> None:
    assert _json(api.handle("GET", "/_dashboard/api/tenants", {"Host": host}, b""))


@pytest.mark.parametrize(
    ("method", "target", "allow"),
    [
        ("GET", "/_dashboard/api/dead-letters/d-1/replay", ("POST",)),
        ("DELETE", "/_dashboard/api/functions", ("GET", "HEAD")),
        ("POST", "/_dashboard/api/functions", ("GET", "HEAD")),
        ("POST", "/_dashboard", ("GET", "HEAD")),
    ],
)
def test_a_wrong_method_is_a_405_with_allow(
    api: DashboardApi, fake: FakeSources, method: str, target: str, allow: tuple[str, ...]
) -> None:
    refused = _refused(api, method, target, ACTION, b"{}")
    assert refused.status == 405
    assert refused.headers["Allow"] == ", ".join(allow)
    assert fake.actions == []


@pytest.mark.parametrize(
    "target", ["/_dashboard/api/nothing", "/_dashboard/static/secrets.py", "/_dashboard/other"]
)
def test_unknown_dashboard_paths_are_404(api: DashboardApi, target: str) -> None:
    refused = _refused(api, "GET", target, LOCAL)
    assert (refused.status, refused.code) == (404, "route_not_found")


def test_a_stopped_emulator_is_a_503(api: DashboardApi, fake: FakeSources) -> None:
    fake.fail_with = ConnectionRefusedError(111, "refused")
    refused = _refused(api, "GET", "/_dashboard/api/topics", LOCAL)
    assert (refused.status, refused.code) == (503, "stack_unavailable")


def test_the_page_and_its_files_are_served_from_the_repo(api: DashboardApi) -> None:
    page = api.handle("GET", "/_dashboard", LOCAL, b"")
    assert page.content_type.startswith("text/html")
    html = page.body.decode()
    assert "demo-unit" in html
    # Every script and style sheet is the gateway's own: nothing from another origin.
    assert "//" not in html.split("<body>")[0].replace("http-equiv", "")
    assert 'src="/_dashboard/static/dashboard.js"' in html
    for name, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        answer = api.handle("GET", f"/_dashboard/static/{name}", LOCAL, b"")
        assert answer.content_type.startswith(kind)
        assert b"http://" not in answer.body and b"https://" not in answer.body


@pytest.mark.parametrize(
    "manifest",
    [REPO_ROOT / "functions" / "manifest.yaml", REPO_ROOT / "tests/e2e/functions/manifest.yaml"],
)
def test_no_manifest_path_is_one_of_the_gateways_own(manifest: Path) -> None:
    paths = [route.path for fn in load_manifest(manifest).functions for route in fn.routes]
    assert paths
    assert [p for p in paths if _is_own_path(p)] == []


def test_the_docs_page_loads_swagger_ui_from_the_gateway() -> None:
    assert apidocs.swagger_dir() is not None, "fastapi-offline ships Swagger UI's files"
    page = apidocs.swagger_page()
    assert "http://" not in page and "https://" not in page
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "docs.js"):
        assert f"{apidocs.DOCS_ASSETS_PREFIX}{name}" in page
        found = apidocs.asset(name)
        assert found is not None and found[0]
    assert apidocs.asset("../../secrets") is None
    assert apidocs.asset("swagger-ui-bundle.js.map") is None


def test_the_docs_document_offers_each_body_s_schema_examples() -> None:
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/v1/things": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/New"}}
                        }
                    }
                },
                "get": {"responses": {}},
            }
        },
        "components": {"schemas": {"New": {"type": "object", "examples": [{"a": 1}, {"a": 2}]}}},
        "x-tributum-unavailable": {"tax": "not reachable (ConnectionRefusedError)"},
    }
    shown = apidocs.with_visible_examples(document)
    media = shown["paths"]["/v1/things"]["post"]["requestBody"]["content"]["application/json"]
    assert media["examples"] == {"example 1": {"value": {"a": 1}}, "example 2": {"value": {"a": 2}}}
    assert "tax (not reachable" in shown["info"]["description"]
    # The merged document itself is left as the functions wrote it.
    assert (
        "examples"
        not in document["paths"]["/v1/things"]["post"]["requestBody"]["content"]["application/json"]
    )


def test_the_landing_page_links_every_page() -> None:
    page = apidocs.landing_page("demo-unit")
    for href in ("/docs", "/_dashboard", "/openapi.json", "/docs/reference"):
        assert f'href="{href}"' in page
    assert "demo-unit" in page
