"""The README's Python quickstart block, as tests read it."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"
SECTION = "### Python quickstart"


def python_quickstart() -> str:
    """The first ``python`` code block under the section heading."""
    section = README.read_text(encoding="utf-8").split(SECTION, 1)[1]
    return section.split("```python\n", 1)[1].split("\n```", 1)[0] + "\n"
