"""Every file and folder docs/architecture.md names in backticks exists.

A path is a backticked token that starts with one of the repository's top-level folders
(``shared/http/router.py``) or ends with a file extension. A bare file name
(``domain.py``) is looked up in the folder the same paragraph or list item named last
(``shared/ledger/``), at the repository root when it named none. Tokens with a
placeholder (``functions/<name>/main.py``) or a Firestore path (``outbox/{event id}``)
are not files; URL paths (``/v1/...``) are not either.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DOC = REPO_ROOT / "docs" / "architecture.md"
TOP_LEVEL = ("functions", "shared", "infra", "emulator", "docs", "tests", "build")
EXTENSIONS = (".py", ".md", ".yaml", ".yml", ".json", ".tf", ".sh", ".toml")
_CODE_SPAN = re.compile(r"`([^`]+)`")
_MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
# A blank line or the start of a list item ends a block: a bare name's folder is its block's.
_BLOCK_BREAK = re.compile(r"\n\s*\n|\n(?=\s*(?:[*-]|\d+\.)\s)")


def _is_path(token: str) -> bool:
    if any(char in token for char in " \n<>{}*(),=") or token.startswith("/"):
        return False
    under_a_top_level_folder = "/" in token and token.split("/")[0] in TOP_LEVEL
    return under_a_top_level_folder or token.endswith(EXTENSIONS)


def named_paths(text: str) -> list[str]:
    """The repository paths ``text`` names, bare file names resolved against their block."""
    paths: list[str] = []
    for block in _BLOCK_BREAK.split(text):
        folder = ""
        for token in _CODE_SPAN.findall(block):
            if not _is_path(token):
                continue
            if "/" in token:
                paths.append(token)
                if token.endswith("/"):
                    folder = token
            else:
                paths.append(folder + token)
    return paths


def test_every_path_the_architecture_doc_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    paths = named_paths(text)
    assert len(paths) > 40, "the path extraction found almost nothing"
    missing = sorted({path for path in paths if not (REPO_ROOT / path).exists()})
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_relative_link_of_the_architecture_doc_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    targets = [
        target.split("#")[0]
        for target in _MARKDOWN_LINK.findall(text)
        if "://" not in target and not target.startswith("#")
    ]
    missing = sorted({t for t in targets if not (DOC.parent / t).exists()})
    assert not missing, f"docs/architecture.md links to missing files: {missing}"


def test_bare_names_resolve_in_the_folder_their_item_named() -> None:
    text = (
        "* **ledger** (`shared/ledger/`): rules `domain.py`; see `docs/schemas/`.\n"
        "* **tax** (`shared/tax/`): `engine.py` and `functions/tax/main.py`, not "
        "`functions/<name>/main.py`, `outbox/{event id}`, `/v1/tax` or "
        "`application/problem+json`.\n\n"
        "The `README.md` at the root.\n"
    )
    assert named_paths(text) == [
        "shared/ledger/",
        "shared/ledger/domain.py",
        "docs/schemas/",
        "shared/tax/",
        "shared/tax/engine.py",
        "functions/tax/main.py",
        "README.md",
    ]
