"""``up --watch``: which functions a changed file restarts (import graph, no processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.settings import REPO_ROOT
from emulator.watch import ImportGraph, functions_to_restart, is_source_change


def _write(root: Path, relative: str, text: str = "") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """shared/ with a small import graph, and three functions using parts of it."""
    _write(tmp_path, "shared/__init__.py")
    _write(tmp_path, "shared/money.py", "import decimal\n")
    _write(tmp_path, "shared/text.py", "")
    _write(tmp_path, "shared/http/__init__.py", "from .router import Router\n")
    _write(tmp_path, "shared/http/router.py", "from ..text import clean\n")
    _write(tmp_path, "shared/ledger/__init__.py")
    _write(
        tmp_path,
        "shared/ledger/service.py",
        "from shared import money\n\ndef lazy():\n    from . import store\n",
    )
    _write(tmp_path, "shared/ledger/store.py", "")
    _write(tmp_path, "shared/ledger/rates.json", "{}")
    _write(tmp_path, "shared/ledger/README.md", "# ledger")
    _write(tmp_path, "shared/unused.py", "")
    _write(tmp_path, "functions/api/main.py", "from shared.http import Router\n")
    _write(
        tmp_path,
        "functions/ledger/main.py",
        "from shared.http import Router\nfrom shared.ledger.service import lazy\n",
    )
    _write(tmp_path, "functions/ledger/helpers.py", "")
    _write(tmp_path, "functions/plain/main.py", "import json\n")
    return tmp_path


def _plan(tree: Path, *changed: str) -> dict[str, str]:
    shared = tree / "shared"
    graph = ImportGraph(shared)
    folders = {name: tree / "functions" / name for name in ("api", "ledger", "plain")}
    loaded = {name: graph.closure(folder) for name, folder in folders.items()}
    restarts = functions_to_restart([tree / c for c in changed], folders, shared, loaded)
    return {name: path.relative_to(tree).as_posix() for name, path in restarts.items()}


def test_a_function_folder_change_restarts_that_function_only(tree: Path) -> None:
    assert _plan(tree, "functions/ledger/helpers.py") == {"ledger": "functions/ledger/helpers.py"}
    assert _plan(tree, "functions/plain/main.py") == {"plain": "functions/plain/main.py"}


def test_a_shared_module_restarts_the_functions_importing_it_transitively(tree: Path) -> None:
    # text is reached only through shared/http/__init__ -> router -> ..text (relative imports).
    assert _plan(tree, "shared/text.py") == {
        "api": "shared/text.py",
        "ledger": "shared/text.py",
    }
    # money only through the ledger service; store only through a lazy import in a function.
    assert _plan(tree, "shared/money.py") == {"ledger": "shared/money.py"}
    assert _plan(tree, "shared/ledger/store.py") == {"ledger": "shared/ledger/store.py"}


def test_package_init_files_count_for_every_importer(tree: Path) -> None:
    assert set(_plan(tree, "shared/__init__.py")) == {"api", "ledger"}


def test_an_unimported_module_documentation_and_caches_restart_nothing(tree: Path) -> None:
    assert _plan(tree, "shared/unused.py") == {}
    assert _plan(tree, "shared/ledger/README.md") == {}
    assert _plan(tree, "shared/__pycache__/text.cpython-311.pyc") == {}
    assert _plan(tree, "functions/api/.main.py.swp", "functions/api/main.py~") == {}


def test_a_data_file_restarts_the_functions_loading_its_package(tree: Path) -> None:
    assert _plan(tree, "shared/ledger/rates.json") == {"ledger": "shared/ledger/rates.json"}


def test_the_first_changed_path_is_named_and_manifest_order_kept(tree: Path) -> None:
    plan = _plan(tree, "shared/text.py", "functions/api/main.py", "functions/plain/main.py")
    assert list(plan) == ["api", "ledger", "plain"]
    assert plan["api"] == "functions/api/main.py"  # sorted: functions/ before shared/
    assert plan["ledger"] == "shared/text.py"


def test_a_module_dropped_from_the_imports_still_counts_with_the_closure_before(
    tree: Path,
) -> None:
    shared = tree / "shared"
    graph = ImportGraph(shared)
    folders = {"api": tree / "functions" / "api"}
    before = graph.closure(folders["api"])
    router = _write(tree, "shared/http/router.py", "")  # router no longer imports text
    assert graph.closure(folders["api"]) == before  # kept until told the file changed
    graph.forget([router])
    after = graph.closure(folders["api"])
    assert shared / "text.py" in before
    assert shared / "text.py" not in after
    changed = [shared / "http" / "router.py", shared / "text.py"]
    assert set(functions_to_restart(changed, folders, shared, {"api": before | after})) == {"api"}


def test_a_file_that_does_not_parse_yet_imports_nothing(tree: Path) -> None:
    broken = _write(tree, "functions/api/main.py", "from shared.http import (\n")
    assert ImportGraph(tree / "shared").imports(broken) == frozenset()


def test_is_source_change() -> None:
    assert is_source_change(Path("shared/http/router.py"))
    assert is_source_change(Path("shared/tax/seed_rates.json"))
    assert not is_source_change(Path("shared/__pycache__/x.cpython-311.pyc"))
    assert not is_source_change(Path("functions/a/.#main.py"))
    assert not is_source_change(Path("functions/a/4913"))


def test_the_real_health_function_loads_shared_health_and_the_echo_test_function_nothing() -> None:
    graph = ImportGraph(REPO_ROOT / "shared")
    health = graph.closure(REPO_ROOT / "functions" / "health")
    assert (REPO_ROOT / "shared" / "health.py").resolve() in health
    assert (REPO_ROOT / "shared" / "http" / "router.py").resolve() in health
    assert graph.closure(REPO_ROOT / "tests" / "e2e" / "functions" / "e2e_echo") == frozenset()
