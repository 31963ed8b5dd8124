"""The performance budget's verdicts: which ratio changes fail a run (no timing here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.benchmarks import budget


def _budget(**ratios: tuple[float, str]) -> dict[str, Any]:
    return {
        "tolerance": 0.25,
        "ratios": {
            name: {"value": value, "better": better} for name, (value, better) in ratios.items()
        },
    }


def test_a_throughput_ratio_may_fall_by_a_quarter_but_not_more() -> None:
    recorded = _budget(throughput_vs_bare=(0.80, "higher"))
    within, _ = budget.regressions({"throughput_vs_bare": 0.61}, recorded)
    beyond, _ = budget.regressions({"throughput_vs_bare": 0.59}, recorded)
    assert within == []
    assert [r.name for r in beyond] == ["throughput_vs_bare"]
    assert beyond[0].limit == pytest.approx(0.60)


def test_a_time_ratio_may_grow_by_a_quarter_but_not_more() -> None:
    recorded = _budget(cold_health_vs_bare=(2.0, "lower"))
    within, _ = budget.regressions({"cold_health_vs_bare": 2.49}, recorded)
    beyond, _ = budget.regressions({"cold_health_vs_bare": 2.51}, recorded)
    assert within == []
    assert [r.name for r in beyond] == ["cold_health_vs_bare"]


def test_improvements_never_fail() -> None:
    recorded = _budget(throughput_vs_bare=(0.5, "higher"), log_line_vs_structlog=(2.0, "lower"))
    found, _ = budget.regressions(
        {"throughput_vs_bare": 5.0, "log_line_vs_structlog": 0.1}, recorded
    )
    assert found == []


def test_a_partial_run_checks_only_what_it_measured() -> None:
    recorded = _budget(throughput_vs_bare=(0.8, "higher"), cold_health_vs_bare=(2.0, "lower"))
    found, unmeasured = budget.regressions({"cold_health_vs_bare": 2.0}, recorded)
    assert found == []
    assert unmeasured == ["throughput_vs_bare"]


def test_the_tolerance_comes_from_the_budget() -> None:
    recorded = _budget(throughput_vs_bare=(1.0, "higher"))
    recorded["tolerance"] = 0.10
    found, _ = budget.regressions({"throughput_vs_bare": 0.85}, recorded)
    assert [r.name for r in found] == ["throughput_vs_bare"]


def test_a_recorded_budget_reads_back_with_the_same_verdicts(tmp_path: Path) -> None:
    path = tmp_path / "budget.json"
    budget.record(
        path,
        {"throughput_vs_bare": 0.8, "cold_health_vs_bare": 2.0},
        {"throughput_vs_bare": "higher", "cold_health_vs_bare": "lower"},
        command="bench --quick",
        machine="2 cores",
        date="2025-01-31",
    )
    loaded = budget.load(path)
    assert loaded["ratios"]["throughput_vs_bare"] == {"value": 0.8, "better": "higher"}
    found, _ = budget.regressions({"throughput_vs_bare": 0.5, "cold_health_vs_bare": 2.6}, loaded)
    assert sorted(r.name for r in found) == ["cold_health_vs_bare", "throughput_vs_bare"]


def test_the_checked_in_budget_names_a_direction_for_every_ratio() -> None:
    recorded = budget.load()
    assert recorded["ratios"]
    for name, entry in recorded["ratios"].items():
        assert entry["better"] in ("higher", "lower"), name
        assert float(entry["value"]) > 0, name
