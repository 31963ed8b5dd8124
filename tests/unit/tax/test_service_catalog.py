"""The stored catalog's shape, the admin request models, the per-instance cache and its setting."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import orjson
import pytest
from pydantic import ValidationError as PydanticValidationError

from shared.config import ConfigError
from shared.errors import NotFoundError, ValidationError
from shared.tax import load_seed_catalog, service, store
from shared.tax.requests_admin import NewRateRequest, TaxIn
from shared.tax.store import CatalogCache, CatalogSnapshot

SOURCE = {"publication": "Finance Act", "url": "https://example.org/act"}


def test_the_stored_seed_is_the_published_catalog_with_rate_ids() -> None:
    documents = store.seed_jurisdictions()
    assert store.build_catalog(documents).rates == load_seed_catalog().rates
    for document in documents:
        ids = [
            rate["id"]
            for tax in document["taxes"]
            for category in tax["categories"]
            for rate in category["rates"]
        ]
        assert len(ids) == len(set(ids)), document["code"]
    germany = next(d for d in documents if d["code"] == "DE")
    standard = germany["taxes"][0]["categories"][0]
    assert [r["id"] for r in standard["rates"]] == [
        "VAT.standard.2007-01-01",
        "VAT.standard.2020-07-01",
        "VAT.standard.2021-01-01",
    ]


def test_a_stored_document_round_trips_through_its_shape() -> None:
    for document in store.seed_jurisdictions():
        assert store.canonical(orjson.loads(orjson.dumps(document))) == document


def test_catalog_errors_name_the_stored_entry() -> None:
    documents = store.seed_jurisdictions()
    germany = next(i for i, d in enumerate(documents) if d["code"] == "DE")
    documents[germany]["taxes"][0]["categories"][0]["rates"][2]["valid_from"] = "2020-12-01"
    with pytest.raises(ValidationError) as refused:
        store.build_catalog(documents)
    assert refused.value.errors[0].field == (
        f"jurisdictions.{germany}.taxes.0.categories.0.rates.2.valid_from"
    )


def test_locality_codes_use_a_tilde_in_ids_and_paths() -> None:
    assert store.jurisdiction_document_id("US-CA/SF") == "US-CA~SF"
    assert store.jurisdiction_code("US-CA~SF") == "US-CA/SF"
    assert service.jurisdiction_code_from_path("US-CA~SF") == "US-CA/SF"
    with pytest.raises(NotFoundError):
        service.jurisdiction_code_from_path("us-ca")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rate": 21}, "rate"),
        ({"rate": "21.00001"}, "rate"),
        ({"rate": "101"}, "rate"),
        ({"surprise": True}, "surprise"),
        ({"source": {**SOURCE, "url": "http://example.org"}}, "source.url"),
        ({"category": "Standard"}, "category"),
    ],
)
def test_rate_requests_are_strict(body: dict[str, Any], field: str) -> None:
    valid = {
        "tax": "VAT",
        "category": "standard",
        "rate": "21",
        "valid_from": "2031-01-01",
        "source": SOURCE,
    }
    NewRateRequest.model_validate_json(orjson.dumps(valid))
    with pytest.raises(PydanticValidationError) as refused:
        NewRateRequest.model_validate_json(orjson.dumps({**valid, **body}))
    assert [".".join(map(str, e["loc"])) for e in refused.value.errors()] == [field]


def test_a_tax_replaces_only_taxes_named_jurisdiction_colon_tax() -> None:
    tax = {
        "code": "HST",
        "name": "Harmonized sales tax",
        "order": 10,
        "categories": [{"code": "standard", "kind": "standard"}],
    }
    TaxIn.model_validate_json(orjson.dumps({**tax, "replaces": ["CA:GST"]}))
    with pytest.raises(PydanticValidationError) as refused:
        TaxIn.model_validate_json(orjson.dumps({**tax, "replaces": ["GST"]}))
    assert refused.value.errors()[0]["loc"] == ("replaces", 0)


def _snapshot(version: int) -> CatalogSnapshot:
    return CatalogSnapshot("tenant-a", version, load_seed_catalog())


class _Database:
    project = "demo-tributum-unit"


@pytest.fixture
def firestore_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Stand-ins for the two reads the cache makes, counting calls; ``version`` is settable."""
    calls: Counter[str] = Counter()
    calls["version"] = 1

    def load_snapshot(db: Any, tenant_id: str) -> CatalogSnapshot:
        calls["load"] += 1
        time.sleep(0.05)  # long enough for concurrent callers to pile up
        return _snapshot(calls["version"])

    def read_version(db: Any, tenant_id: str) -> int:
        calls["read_version"] += 1
        return calls["version"]

    monkeypatch.setattr(store, "load_snapshot", load_snapshot)
    monkeypatch.setattr(store, "read_version", read_version)
    return calls


def test_the_cache_loads_a_tenant_once_for_concurrent_callers(
    firestore_reads: Counter[str],
) -> None:
    cache = CatalogCache(ttl_seconds=60)
    got: list[int] = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.get(_Database(), "tenant-a").version))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == [1] * 8
    assert firestore_reads["load"] == 1


def test_after_the_ttl_one_version_read_decides_whether_to_reload(
    firestore_reads: Counter[str],
) -> None:
    now = [0.0]
    cache = CatalogCache(ttl_seconds=60, clock=lambda: now[0])
    first = cache.get(_Database(), "tenant-a")
    now[0] = 61
    assert cache.get(_Database(), "tenant-a") is first
    assert (firestore_reads["load"], firestore_reads["read_version"]) == (1, 1)
    now[0] = 100  # checked at 61: still fresh
    assert cache.get(_Database(), "tenant-a") is first
    assert firestore_reads["read_version"] == 1
    firestore_reads["version"] = 2
    now[0] = 122
    assert cache.get(_Database(), "tenant-a").version == 2
    assert firestore_reads["load"] == 2


def test_an_own_write_replaces_the_entry_but_an_older_version_does_not(
    firestore_reads: Counter[str],
) -> None:
    cache = CatalogCache(ttl_seconds=60)
    cache.get(_Database(), "tenant-a")
    newer = _snapshot(3)
    cache.install(_Database(), newer)
    assert cache.get(_Database(), "tenant-a") is newer
    cache.install(_Database(), _snapshot(2))
    assert cache.get(_Database(), "tenant-a") is newer
    assert firestore_reads["load"] == 1


def test_the_ttl_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTUM_TAX__CATALOG_CACHE_TTL_SECONDS", "5")
    assert store.load_tax_settings().catalog_cache_ttl_seconds == 5
    monkeypatch.setenv("TRIBUTUM_TAX__CATALOG_CACHE_TTL_SECONDS", "soon")
    with pytest.raises(ConfigError, match="TRIBUTUM_TAX__CATALOG_CACHE_TTL_SECONDS"):
        store.load_tax_settings()
    monkeypatch.delenv("TRIBUTUM_TAX__CATALOG_CACHE_TTL_SECONDS")
    assert store.load_tax_settings().catalog_cache_ttl_seconds == 60
