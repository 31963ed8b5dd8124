"""The seed rate file: it loads, its intervals never overlap, every figure has a source."""

from __future__ import annotations

import json
from datetime import date
from itertools import pairwise
from typing import Any

import pydantic
import pytest

from shared.errors import ValidationError
from shared.tax import SEED_PATH, catalog_from_seed, load_seed_catalog

from .support import D


def _seed() -> dict[str, Any]:
    seed: dict[str, Any] = json.loads(SEED_PATH.read_text(encoding="utf-8"))
    return seed


def _rates(seed: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{place['code']}/{tax['code']}/{category['code']}", entry)
        for place in seed["jurisdictions"]
        for tax in place["taxes"]
        for category in tax["categories"]
        for entry in category.get("rates", [])
    ]


def test_seed_loads_into_a_catalog() -> None:
    catalog = load_seed_catalog()
    codes = {j.code for j in catalog.jurisdictions}
    assert {"DE", "FR", "IE", "NL", "ES", "US-CA", "US-NY", "US-TX", "CA", "CA-ON"} <= codes
    assert {"CA-NS", "CA-BC", "CA-QC", "JP", "BH", "US-OR"} <= codes
    assert len(catalog.rates) == len(_rates(_seed()))


@pytest.mark.parametrize(
    ("jurisdiction", "tax", "category", "on", "percent"),
    [
        ("DE", "VAT", "standard", date(2025, 1, 1), "19"),
        ("DE", "VAT", "reduced", date(2025, 1, 1), "7"),
        ("FR", "VAT", "standard", date(2025, 1, 1), "20"),
        ("FR", "VAT", "intermediate", date(2025, 1, 1), "10"),
        ("FR", "VAT", "reduced", date(2025, 1, 1), "5.5"),
        ("FR", "VAT", "super_reduced", date(2025, 1, 1), "2.1"),
        ("IE", "VAT", "standard", date(2025, 1, 1), "23"),
        ("NL", "VAT", "standard", date(2025, 1, 1), "21"),
        ("NL", "VAT", "reduced", date(2025, 1, 1), "9"),
        ("ES", "VAT", "standard", date(2025, 1, 1), "21"),
        ("ES", "VAT", "reduced", date(2025, 1, 1), "10"),
        ("ES", "VAT", "super_reduced", date(2025, 1, 1), "4"),
        ("US-CA", "SALES", "standard", date(2025, 1, 1), "7.25"),
        ("US-NY", "SALES", "standard", date(2025, 1, 1), "4"),
        ("US-TX", "SALES", "standard", date(2025, 1, 1), "6.25"),
        ("CA", "GST", "standard", date(2025, 1, 1), "5"),
        ("CA-ON", "HST", "standard", date(2025, 1, 1), "13"),
        ("CA-NS", "HST", "standard", date(2025, 3, 31), "15"),
        ("CA-NS", "HST", "standard", date(2025, 4, 1), "14"),
        ("CA-BC", "PST", "standard", date(2025, 1, 1), "7"),
        ("CA-QC", "QST", "standard", date(2025, 1, 1), "9.975"),
        ("CA-BC", "PST", "standard", date(2010, 6, 30), "7"),
        ("CA-BC", "HST", "standard", date(2010, 7, 1), "12"),
        ("CA-BC", "HST", "standard", date(2013, 3, 31), "12"),
        ("CA-BC", "HST", "childrens_clothing", date(2012, 1, 1), "5"),
        ("OM", "VAT", "standard", date(2021, 4, 16), "5"),
        ("ES", "IRPF", "professional", date(2025, 1, 1), "15"),
        ("ES", "IRPF", "new_professional", date(2025, 1, 1), "7"),
    ],
)
def test_published_rates(
    jurisdiction: str, tax: str, category: str, on: date, percent: str
) -> None:
    assert load_seed_catalog().rate(jurisdiction, tax, category, on).percent == D(percent)


def test_every_place_has_a_time_zone_but_canada_as_a_whole() -> None:
    catalog = load_seed_catalog()
    missing = [j.code for j in catalog.jurisdictions if catalog.time_zone_at(j.code) is None]
    assert missing == ["CA"]
    zone = catalog.time_zone_at("CA-BC")
    assert zone is not None
    assert zone.key == "America/Vancouver"


def test_seed_intervals_do_not_overlap() -> None:
    by_key: dict[str, list[tuple[date, date | None]]] = {}
    for key, entry in _rates(_seed()):
        valid_to = date.fromisoformat(entry["valid_to"]) if entry["valid_to"] else None
        by_key.setdefault(key, []).append((date.fromisoformat(entry["valid_from"]), valid_to))
    for key, intervals in by_key.items():
        intervals.sort()
        for (_, earlier_end), (later_start, _) in pairwise(intervals):
            assert earlier_end is not None, f"{key}: an open rate is followed by another"
            assert earlier_end <= later_start, f"{key}: {earlier_end} > {later_start}"


def test_every_figure_has_a_source_and_effective_date() -> None:
    seed = _seed()
    for key, entry in _rates(seed):
        assert entry["source"]["publication"].strip(), key
        assert entry["source"]["url"].startswith("https://"), key
        date.fromisoformat(entry["valid_from"])
        assert isinstance(entry["rate"], str), f"{key}: rates are decimal strings"
    for place in seed["jurisdictions"]:
        if not place["taxes"]:
            assert place["source"]["url"].startswith("https://"), place["code"]


def test_overlap_in_the_file_names_its_place() -> None:
    seed = _seed()
    nova_scotia = next(p for p in seed["jurisdictions"] if p["code"] == "CA-NS")
    nova_scotia["taxes"][0]["categories"][0]["rates"][0]["valid_to"] = "2025-04-02"
    index = seed["jurisdictions"].index(nova_scotia)
    with pytest.raises(ValidationError) as caught:
        catalog_from_seed(json.dumps(seed))
    assert caught.value.code == "rate_interval_overlap"
    assert caught.value.errors[0].field == (
        f"jurisdictions.{index}.taxes.0.categories.0.rates.1.valid_from"
    )


def test_jurisdiction_without_taxes_needs_a_source() -> None:
    seed = _seed()
    oregon = next(p for p in seed["jurisdictions"] if p["code"] == "US-OR")
    del oregon["source"]
    with pytest.raises(ValidationError) as caught:
        catalog_from_seed(json.dumps(seed))
    assert caught.value.code == "missing_source"


def test_float_rate_in_the_file_is_refused() -> None:
    seed = _seed()
    seed["jurisdictions"][0]["taxes"][0]["categories"][0]["rates"][0]["rate"] = 19.0
    with pytest.raises(pydantic.ValidationError):
        catalog_from_seed(json.dumps(seed))
