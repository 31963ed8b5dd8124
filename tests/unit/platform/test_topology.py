"""shared.topology: the manifest's schema, and the manifest against the code it describes."""

from __future__ import annotations

import copy
import importlib.util
import inspect
import sys
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from shared.http import Router
from shared.topology import ACK_DEADLINE_MARGIN_SECONDS, MANIFEST_PATH, Manifest, load_manifest

REPO_ROOT = Path(__file__).resolve().parents[3]
FUNCTIONS_DIR = REPO_ROOT / "functions"


def minimal() -> dict[str, Any]:
    """The smallest valid manifest: one HTTP function and one event function."""
    return {
        "version": 1,
        "runtime": "python311",
        "topics": [{"name": "ledger-events", "description": "ledger facts"}],
        "secrets": [{"name": "jwt-signing-key", "description": "signs tokens"}],
        "functions": [
            {
                "name": "journal",
                "kind": "http",
                "description": "journal entries",
                "routes": [{"method": "POST", "path": "/v1/journal-entries"}],
                "publishes": ["ledger-events"],
                "secrets": ["jwt-signing-key"],
            },
            {
                "name": "projector",
                "kind": "event",
                "description": "projects ledger events",
                "consumes": [{"topic": "ledger-events"}],
            },
        ],
    }


def test_the_minimal_manifest_is_valid() -> None:
    manifest = Manifest.model_validate(minimal())
    journal = manifest.functions_by_name["journal"]
    assert journal.signature_type == "http"
    assert journal.folder == "functions/journal"
    assert manifest.functions_by_name["projector"].signature_type == "cloudevent"
    assert manifest.topics_by_name["ledger-events"].dead_letter_topic == "ledger-events-dlq"
    assert manifest.topics_by_name["ledger-events"].dead_letter_subscription == (
        "ledger-events-dlq-sub"
    )
    projector = manifest.functions_by_name["projector"]
    assert manifest.push_subscription(projector, "ledger-events") == "ledger-events--projector"


def test_the_real_manifest_validates() -> None:
    manifest = load_manifest()
    assert manifest.functions
    assert "health" in manifest.functions_by_name
    for topic in manifest.topics:
        assert not topic.name.endswith("-dlq")


def _refused(document: dict[str, Any], *fragments: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Manifest.model_validate(document)
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, message


def test_duplicate_function_names() -> None:
    document = minimal()
    document["functions"].append(copy.deepcopy(document["functions"][1]))
    _refused(document, "duplicate function names: projector")


def test_duplicate_topic_and_secret_names() -> None:
    document = minimal()
    document["topics"].append({"name": "ledger-events", "description": "again"})
    _refused(document, "duplicate topic names: ledger-events")
    document = minimal()
    document["secrets"].append({"name": "jwt-signing-key", "description": "again"})
    _refused(document, "duplicate secret names: jwt-signing-key")


def test_a_route_served_by_two_functions() -> None:
    document = minimal()
    document["functions"].append(
        {
            "name": "journal_copy",
            "kind": "http",
            "description": "same route",
            "routes": [{"method": "POST", "path": "/v1/journal-entries"}],
        }
    )
    _refused(document, "POST /v1/journal-entries", "journal", "journal_copy")


@pytest.mark.parametrize(
    ("section", "value", "fragment"),
    [
        ("consumes", [{"topic": "payment-events"}], "undeclared topic payment-events"),
        ("publishes", ["payment-events"], "undeclared topic payment-events"),
        ("secrets", ["stripe-key"], "undeclared secret stripe-key"),
    ],
)
def test_references_to_undeclared_topics_and_secrets(
    section: str, value: list[Any], fragment: str
) -> None:
    document = minimal()
    target = document["functions"][1 if section == "consumes" else 0]
    target[section] = value
    _refused(document, fragment)


def test_routes_on_an_event_function() -> None:
    document = minimal()
    document["functions"][1]["routes"] = [{"method": "GET", "path": "/v1/things"}]
    _refused(document, "event function projector cannot declare routes")


def test_an_http_function_without_routes_or_consuming_topics() -> None:
    document = minimal()
    document["functions"][0]["routes"] = []
    _refused(document, "declares no routes")
    document = minimal()
    document["functions"][0]["consumes"] = [{"topic": "ledger-events"}]
    _refused(document, "cannot consume topics")


def test_an_event_function_that_consumes_nothing() -> None:
    document = minimal()
    document["functions"][1]["consumes"] = []
    _refused(document, "consumes nothing")


@pytest.mark.parametrize("name", ["Journal", "journal-api", "j", "1journal", "journal api", ""])
def test_bad_function_names(name: str) -> None:
    document = minimal()
    document["functions"][0]["name"] = name
    _refused(document, "snake_case")


@pytest.mark.parametrize(
    "name", ["ab", "Ledger-events", "goog-events", "ledger_events", "ledger-events-dlq", "1abc"]
)
def test_bad_topic_names(name: str) -> None:
    document = minimal()
    document["topics"][0]["name"] = name
    _refused(document, "topic name")


@pytest.mark.parametrize("name", ["JWT", "jwt_key", "k"])
def test_bad_secret_names(name: str) -> None:
    document = minimal()
    document["secrets"][0]["name"] = name
    _refused(document, "kebab-case")


@pytest.mark.parametrize(
    "path", ["/journal-entries", "/v1/Journal", "/v1/things/{Id}", "/v2/things", "v1/things"]
)
def test_bad_route_paths(path: str) -> None:
    document = minimal()
    document["functions"][0]["routes"] = [{"method": "POST", "path": path}]
    _refused(document, "route path")


def test_unknown_keys_and_bad_values_are_refused() -> None:
    document = minimal()
    document["functions"][0]["memory"] = "512Mi"
    _refused(document, "memory")
    document = minimal()
    document["functions"][0]["routes"][0]["method"] = "TRACE"
    _refused(document, "method")
    document = minimal()
    document["functions"][1]["consumes"][0]["retry"] = {"max_delivery_attempts": 2}
    _refused(document, "max_delivery_attempts")
    document = minimal()
    document["functions"][1]["consumes"][0]["retry"] = {
        "minimum_backoff_seconds": 100,
        "maximum_backoff_seconds": 10,
    }
    _refused(document, "minimum_backoff_seconds exceeds maximum_backoff_seconds")


def test_only_one_dead_letter_consumer() -> None:
    document = minimal()
    for name in ("dead_one", "dead_two"):
        document["functions"].append(
            {"name": name, "kind": "event", "description": "dl", "consumes_dead_letters": True}
        )
    _refused(document, "only one function may consume the dead-letter topics")


def test_the_default_ack_deadline_outlasts_the_default_timeout() -> None:
    projector = Manifest.model_validate(minimal()).functions_by_name["projector"]
    deadline = projector.consumes[0].retry.ack_deadline_seconds
    assert deadline >= projector.scaling.timeout_seconds + ACK_DEADLINE_MARGIN_SECONDS


@pytest.mark.parametrize(
    ("timeout", "ack_deadline", "valid"),
    [(60, 90, True), (60, 89, False), (120, 150, True), (120, 120, False), (570, 600, True)],
)
def test_a_consumers_ack_deadline_is_its_timeout_plus_the_margin(
    timeout: int, ack_deadline: int, valid: bool
) -> None:
    document = minimal()
    projector = document["functions"][1]
    projector["scaling"] = {"timeout_seconds": timeout}
    projector["consumes"][0]["retry"] = {"ack_deadline_seconds": ack_deadline}
    if valid:
        Manifest.model_validate(document)
    else:
        _refused(document, "projector", "ledger-events", "at least scaling.timeout_seconds + 30")


def test_a_consumer_slower_than_the_longest_ack_deadline_is_refused() -> None:
    document = minimal()
    document["functions"][1]["scaling"] = {"timeout_seconds": 571}
    document["functions"][1]["consumes"][0]["retry"] = {"ack_deadline_seconds": 600}
    _refused(document, "projector", "(601s")


@pytest.mark.parametrize(("timeout", "valid"), [(60, True), (61, False)])
def test_the_dead_letter_consumer_fits_the_default_ack_deadline(timeout: int, valid: bool) -> None:
    document = minimal()
    document["functions"].append(
        {
            "name": "dead_letters",
            "kind": "event",
            "description": "keeps dead letters",
            "consumes_dead_letters": True,
            "scaling": {"timeout_seconds": timeout},
        }
    )
    if valid:
        Manifest.model_validate(document)
    else:
        _refused(document, "dead_letters", "the dead-letter topics")


def test_load_manifest_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(minimal()), encoding="utf-8")
    assert [f.name for f in load_manifest(path).functions] == ["journal", "projector"]


# -- the manifest against the repository ------------------------------------------------------


def function_folders() -> set[str]:
    return {
        path.name
        for path in FUNCTIONS_DIR.iterdir()
        if path.is_dir() and not path.name.startswith((".", "__"))
    }


def test_every_function_folder_is_in_the_manifest_and_has_a_main() -> None:
    declared = {f.name for f in load_manifest().functions}
    folders = function_folders()
    assert folders - declared == set(), "folders the manifest does not declare"
    for folder in folders:
        assert (FUNCTIONS_DIR / folder / "main.py").is_file(), f"functions/{folder} lacks main.py"


def test_every_manifest_function_has_its_folder() -> None:
    manifest = load_manifest()
    for function in manifest.functions:
        folder = REPO_ROOT / function.folder
        assert folder.is_dir(), f"{function.name}: {function.folder} is missing"
        assert (folder / "main.py").is_file(), f"{function.name}: main.py is missing"
    assert MANIFEST_PATH == FUNCTIONS_DIR / "manifest.yaml"


def import_function(name: str) -> ModuleType:
    """Import functions/<name>/main.py from its path, with the repo root importable."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    module_name = f"platform_topology_test_{name}"
    loaded = sys.modules.get(module_name)
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(module_name, FUNCTIONS_DIR / name / "main.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before running, as functions-framework does: pydantic resolves the
    # postponed annotations of the function's models through sys.modules.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


HTTP_FUNCTIONS = sorted(f.name for f in load_manifest().functions if f.kind == "http")
EVENT_FUNCTIONS = sorted(f.name for f in load_manifest().functions if f.kind == "event")


@pytest.mark.parametrize("name", HTTP_FUNCTIONS)
def test_http_function_routes_equal_the_manifest(name: str) -> None:
    declared = load_manifest().functions_by_name[name]
    module = import_function(name)
    router = getattr(module, "router", None)
    assert isinstance(router, Router), f"functions/{name}/main.py has no Router named router"
    served = sorted((r.method, r.path, r.auth) for r in router.routes)
    expected = sorted((r.method, r.path, r.auth) for r in declared.routes)
    assert served == expected


@pytest.mark.parametrize("name", HTTP_FUNCTIONS + EVENT_FUNCTIONS)
def test_entry_point_is_a_plain_function(name: str) -> None:
    declared = load_manifest().functions_by_name[name]
    module = import_function(name)
    entry = getattr(module, declared.entry_point, None)
    assert entry is not None, f"functions/{name}/main.py lacks {declared.entry_point}"
    assert isinstance(entry, FunctionType), f"{name}.{declared.entry_point} is {type(entry)}"
    assert len(inspect.signature(entry).parameters) == 1
    if declared.kind == "http":
        assert entry is module.router.handler


def test_the_manifests_requirements_come_first_in_every_functions_list() -> None:
    document = minimal()
    document["requirements"] = ["functions-framework", "pydantic"]
    document["functions"][0]["requirements"] = ["PyJWT"]
    manifest = Manifest.model_validate(document)
    assert manifest.functions_by_name["journal"].requirements == (
        "functions-framework",
        "pydantic",
        "PyJWT",
    )
    assert manifest.functions_by_name["projector"].requirements == (
        "functions-framework",
        "pydantic",
    )


def test_a_function_does_not_list_a_requirement_every_function_has() -> None:
    document = minimal()
    document["requirements"] = ["functions-framework", "pydantic"]
    document["functions"][1]["requirements"] = ["Pydantic"]
    _refused(document, "projector", "Pydantic", "already in the manifest's requirements")
