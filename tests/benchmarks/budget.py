"""The performance budget: ratios recorded in budget.json, and what counts as a regression.

Each ratio is ours over a baseline measured in the same run, so a slow or busy machine
moves both sides alike; the budget fails a run only when a ratio moves the wrong way by
more than the tolerance (25 % unless budget.json says otherwise) from the recorded one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

BUDGET_PATH = Path(__file__).resolve().parent / "budget.json"
DEFAULT_TOLERANCE = 0.25

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Regression:
    name: str
    recorded: float
    measured: float
    limit: float
    better: Better

    def __str__(self) -> str:
        bound = "at least" if self.better == "higher" else "at most"
        return (
            f"{self.name}: {self.measured:.2f}x, recorded {self.recorded:.2f}x, "
            f"allowed {bound} {self.limit:.2f}x"
        )


def limit(recorded: float, better: Better, tolerance: float) -> float:
    """The worst figure still within budget."""
    return recorded * (1 - tolerance) if better == "higher" else recorded * (1 + tolerance)


def regressions(
    measured: dict[str, float], budget: dict[str, Any]
) -> tuple[list[Regression], list[str]]:
    """Ratios that moved the wrong way by more than the tolerance, and the recorded ratios
    this run did not measure (a partial run checks only what it measured)."""
    tolerance = float(budget.get("tolerance", DEFAULT_TOLERANCE))
    found: list[Regression] = []
    unmeasured: list[str] = []
    for name, entry in budget["ratios"].items():
        if name not in measured:
            unmeasured.append(name)
            continue
        better: Better = entry["better"]
        if better not in ("higher", "lower"):
            raise ValueError(f"budget ratio {name}: 'better' must be 'higher' or 'lower'")
        recorded = float(entry["value"])
        bound = limit(recorded, better, tolerance)
        value = measured[name]
        worse = value < bound if better == "higher" else value > bound
        if worse:
            found.append(Regression(name, recorded, value, bound, better))
    return found, unmeasured


def load(path: Path = BUDGET_PATH) -> dict[str, Any]:
    budget: dict[str, Any] = json.loads(path.read_text())
    return budget


def record(
    path: Path,
    measured: dict[str, float],
    better: dict[str, Better],
    *,
    command: str,
    machine: str,
    date: str,
    tolerance: float = DEFAULT_TOLERANCE,
) -> None:
    """Write this run's ratios as the new budget."""
    document = {
        "command": command,
        "machine": machine,
        "date": date,
        "tolerance": tolerance,
        "ratios": {
            name: {"value": round(value, 3), "better": better[name]}
            for name, value in sorted(measured.items())
        },
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
