"""Firestore persistence of the tax catalog and of stored calculations.

Layout, per tenant (every tenant has its own copy of the catalog: tenants add
custom categories and rates, and one tenant's change must not affect another)::

    tenants/{tid}/tax_catalog/{jurisdiction id}   one jurisdiction, in the JSON shape of one
                                                  entry of seed_rates.json, each rate with an id
    tenants/{tid}/tax_catalog_meta/current        {"version": n, ...}: +1 on every change
    tenants/{tid}/tax_calculations/{id}           a stored calculation

A jurisdiction's document id is its code with the locality separator ``/``
written as ``~`` (``US-CA/SF`` -> ``US-CA~SF``): Firestore ids cannot hold a
slash. The same form names a jurisdiction in URL paths.

A rate's id is ``TAX.category.valid_from`` (``VAT.standard.2021-01-01``), fixed
when the rate is created: rates of one tax and category never overlap, so no two
of them start on the same day, and ``valid_from`` is never edited.

On a tenant's first use the published seed is copied in, in one transaction that
creates the meta document, so it happens once however many instances race.

:class:`CatalogCache` keeps each tenant's built :class:`RateCatalog` per
instance. An entry is trusted for ``TRIBUTUM_TAX__CATALOG_CACHE_TTL_SECONDS``
(default 60); after that one read of the meta document tells whether the
catalog changed, and only then is it reloaded. This instance's own writes
install the new version at once; other instances see it within the TTL.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.config import ConfigError
from shared.events.audit import AUDIT_TOPIC
from shared.events.envelope import EventEnvelope
from shared.events.outbox import add_to_outbox
from shared.events.transact import commit_in_transaction, transact
from shared.instance import per_instance
from shared.logger import get_logger
from shared.resilience import RetryPolicy, is_firestore_contention
from shared.tax.catalog import RateCatalog
from shared.tax.model import CategoryKind
from shared.tax.seed import SEED_PATH, SeedRate, SeedSource, SeedThreshold, catalog_from_seed

if TYPE_CHECKING:
    from google.cloud import firestore

TENANTS_COLLECTION = "tenants"
CATALOG_COLLECTION = "tax_catalog"
CATALOG_META_COLLECTION = "tax_catalog_meta"
CATALOG_META_DOCUMENT = "current"
CALCULATIONS_COLLECTION = "tax_calculations"
LOCALITY_SEPARATOR = "/"
LOCALITY_SEPARATOR_IN_ID = "~"

# Concurrent first uses contend for one meta document: a few rounds of the client's own
# retries, with a growing pause between them (full-jitter waits under 0.1, 0.2, 0.4 s),
# let every one of them see the seeded catalog.
SEED_RETRY = RetryPolicy(max_attempts=4, base_delay_seconds=0.1, max_delay_seconds=0.4)

JurisdictionDocument = dict[str, Any]
T = TypeVar("T")

_log = get_logger("shared.tax.store")


# -- settings ---------------------------------------------------------------------------


class TaxSettings(BaseSettings):
    """``TRIBUTUM_TAX__CATALOG_CACHE_TTL_SECONDS``: how long an instance trusts its cache."""

    model_config = SettingsConfigDict(env_prefix="TRIBUTUM_TAX__", extra="ignore", frozen=True)

    catalog_cache_ttl_seconds: float = Field(default=60.0, ge=0, le=3600)


def load_tax_settings() -> TaxSettings:
    """The tax settings, or a ``ConfigError`` naming the bad variable."""
    try:
        return TaxSettings()
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"TRIBUTUM_TAX__{'__'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


# -- the stored shape ---------------------------------------------------------------------

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


class StoredRate(SeedRate):
    """A rate as the seed file writes it, plus its id."""

    id: str = Field(min_length=1, max_length=128)


class StoredCategory(BaseModel):
    model_config = _STRICT
    code: str
    kind: CategoryKind
    description: str = ""
    price_threshold: SeedThreshold | None = None
    rates: list[StoredRate] = Field(default_factory=list)


class StoredTax(BaseModel):
    model_config = _STRICT
    code: str
    name: str
    order: int
    replaces: list[str] = Field(default_factory=list)
    in_force_from: date | None = None
    in_force_to: date | None = None
    withholding: bool = False
    selective: bool = False
    categories: list[StoredCategory]


class StoredJurisdiction(BaseModel):
    model_config = _STRICT
    code: str
    name: str
    time_zone: str | None = None
    source: SeedSource | None = None
    taxes: list[StoredTax] = Field(default_factory=list)


def jurisdiction_document_id(code: str) -> str:
    return code.replace(LOCALITY_SEPARATOR, LOCALITY_SEPARATOR_IN_ID)


def jurisdiction_code(document_id: str) -> str:
    return document_id.replace(LOCALITY_SEPARATOR_IN_ID, LOCALITY_SEPARATOR)


def rate_id(tax: str, category: str, valid_from: str) -> str:
    return f"{tax}.{category}.{valid_from}"


def category_with_rate_ids(tax: str, category: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a category in the seed shape whose rates carry their ids."""
    document = copy.deepcopy(dict(category))
    for rate in document.get("rates", []):
        rate.setdefault("id", rate_id(tax, document["code"], rate["valid_from"]))
    return document


def with_rate_ids(jurisdiction: Mapping[str, Any]) -> JurisdictionDocument:
    """A copy of a jurisdiction in the seed shape whose rates carry their ids."""
    document = copy.deepcopy(dict(jurisdiction))
    for tax in document.get("taxes", []):
        tax["categories"] = [
            category_with_rate_ids(tax["code"], category) for category in tax["categories"]
        ]
    return document


def canonical(document: Mapping[str, Any]) -> JurisdictionDocument:
    """A stored jurisdiction checked against its shape, every field present, in order."""
    return StoredJurisdiction.model_validate(dict(document), strict=False).model_dump(mode="json")


def seed_jurisdictions(raw: bytes | None = None) -> list[JurisdictionDocument]:
    """The published seed as stored documents (rate ids added)."""
    from shared.tax.seed import parse_seed

    seed = parse_seed(raw if raw is not None else SEED_PATH.read_bytes())
    return [canonical(with_rate_ids(j.model_dump(mode="json"))) for j in seed.jurisdictions]


@functools.cache
def _seed_time_zones() -> dict[str, str]:
    return {j["code"]: j["time_zone"] for j in seed_jurisdictions() if j.get("time_zone")}


def build_catalog(jurisdictions: Sequence[Mapping[str, Any]]) -> RateCatalog:
    """Validate stored jurisdictions as one catalog.

    A ``ValidationError`` names the entry as ``jurisdictions.J.taxes.T.categories.C.rates.R.x``
    with J the position in ``jurisdictions``. A jurisdiction without a time zone takes the
    published seed's zone for the same code, if any.
    """
    without_ids = []
    seed_zones = _seed_time_zones()
    for jurisdiction in jurisdictions:
        document = copy.deepcopy(dict(jurisdiction))
        if document.get("time_zone") is None:
            # Catalogs copied from the seed before it named time zones take the seed's zone of
            # the same place; a place of the tenant's own keeps none.
            document["time_zone"] = seed_zones.get(str(document.get("code")))
        for tax in document.get("taxes", []):
            for category in tax.get("categories", []):
                for rate in category.get("rates", []):
                    rate.pop("id", None)
        without_ids.append(document)
    return catalog_from_seed(orjson.dumps({"schema_version": 1, "jurisdictions": without_ids}))


@dataclass(frozen=True, slots=True)
class CatalogSnapshot:
    """A tenant's catalog at one version."""

    tenant_id: str
    version: int
    catalog: RateCatalog


# -- references -----------------------------------------------------------------------------


def _tenant(db: firestore.Client, tenant_id: str) -> Any:
    return db.collection(TENANTS_COLLECTION).document(tenant_id)


def catalog_collection(db: firestore.Client, tenant_id: str) -> Any:
    return _tenant(db, tenant_id).collection(CATALOG_COLLECTION)


def meta_reference(db: firestore.Client, tenant_id: str) -> Any:
    return (
        _tenant(db, tenant_id).collection(CATALOG_META_COLLECTION).document(CATALOG_META_DOCUMENT)
    )


def calculations_collection(db: firestore.Client, tenant_id: str) -> Any:
    return _tenant(db, tenant_id).collection(CALCULATIONS_COLLECTION)


# -- seeding and loading --------------------------------------------------------------------


def _seed_digest() -> str:
    return hashlib.sha256(SEED_PATH.read_bytes()).hexdigest()


def ensure_seeded(db: firestore.Client, tenant_id: str) -> bool:
    """Copy the published seed into a tenant without a catalog; True if this call did it.

    Contention is retried (``SEED_RETRY``) while the tenant is still unseeded; once
    another instance has seeded it meanwhile, this call stops and answers False.
    """
    meta = meta_reference(db, tenant_id)
    if meta.get().exists:
        return False
    documents = seed_jurisdictions()
    build_catalog(documents)  # a broken seed file must never reach a tenant
    collection = catalog_collection(db, tenant_id)
    digest = _seed_digest()

    def seed(transaction: Any) -> bool:
        if meta.get(transaction=transaction).exists:
            return False
        now = datetime.now(UTC)
        for document in documents:
            transaction.set(
                collection.document(jurisdiction_document_id(document["code"])), document
            )
        transaction.create(
            meta,
            {"version": 1, "seed_sha256": digest, "seeded_at": now, "updated_at": now},
        )
        return True

    def still_unseeded(exc: BaseException) -> bool:
        if not is_firestore_contention(exc):
            return False
        try:
            return not meta.get().exists
        except Exception:
            return True  # not known to be seeded: keep trying, and 503 when spent

    try:
        seeded = commit_in_transaction(
            db,
            seed,
            name="tax.seed_catalog",
            retry=SEED_RETRY,
            busy="the tax catalog of this tenant is being set up; retry shortly",
            is_retryable=still_unseeded,
        ).result
    except Exception as exc:
        if not is_firestore_contention(exc):
            raise
        return False  # another instance seeded it while this one waited
    if seeded:
        _log.info("tax.catalog_seeded", tenant_id=tenant_id, jurisdictions=len(documents))
    return seeded


def read_version(db: firestore.Client, tenant_id: str) -> int | None:
    snapshot = meta_reference(db, tenant_id).get()
    return int(snapshot.get("version")) if snapshot.exists else None


def read_jurisdictions(
    db: firestore.Client, tenant_id: str, transaction: Any = None
) -> tuple[int, list[JurisdictionDocument]]:
    """The catalog's version and its jurisdictions (sorted by code), read together."""
    meta = meta_reference(db, tenant_id).get(transaction=transaction)
    if not meta.exists:
        return 0, []
    documents = [
        snapshot.to_dict() or {}
        for snapshot in catalog_collection(db, tenant_id).stream(transaction=transaction)
    ]
    documents.sort(key=lambda document: str(document["code"]))
    return int(meta.get("version")), documents


def load_snapshot(db: firestore.Client, tenant_id: str) -> CatalogSnapshot:
    """The tenant's current catalog, seeding it first if the tenant has none."""
    from google.cloud import firestore as fs

    ensure_seeded(db, tenant_id)

    @fs.transactional  # type: ignore[untyped-decorator,unused-ignore]
    def read(transaction: Any) -> tuple[int, list[JurisdictionDocument]]:
        return read_jurisdictions(db, tenant_id, transaction)

    version, documents = read(db.transaction(read_only=True))
    return CatalogSnapshot(tenant_id, version, build_catalog(documents))


def read_jurisdiction(
    db: firestore.Client, tenant_id: str, code: str
) -> JurisdictionDocument | None:
    snapshot = catalog_collection(db, tenant_id).document(jurisdiction_document_id(code)).get()
    return canonical(snapshot.to_dict() or {}) if snapshot.exists else None


# -- changing the catalog -------------------------------------------------------------------


@dataclass(slots=True)
class CatalogChange(Generic[T]):
    """What a use case decided inside the transaction: documents to write and events to stage.

    ``catalog`` is the whole catalog after the change, already validated.
    """

    documents: list[JurisdictionDocument]
    catalog: RateCatalog
    value: T
    events: list[EventEnvelope] = field(default_factory=list)


def change_catalog(
    db: firestore.Client,
    tenant_id: str,
    decide: Callable[[int, list[JurisdictionDocument]], CatalogChange[T]],
) -> tuple[CatalogSnapshot, T]:
    """Read the whole catalog, let ``decide`` change it, and commit the result once.

    ``decide`` receives the current version and jurisdictions read in the
    transaction and may be called again if the transaction retries; raising
    aborts the change. The changed documents, the incremented version and the
    audit events (outbox) commit together (:func:`shared.events.transact.transact`);
    the events are published after the commit (the outbox relay publishes them if
    that fails).
    """
    ensure_seeded(db, tenant_id)
    collection = catalog_collection(db, tenant_id)
    meta = meta_reference(db, tenant_id)

    def write(transaction: Any) -> tuple[int, CatalogChange[T]]:
        version, documents = read_jurisdictions(db, tenant_id, transaction)
        change = decide(version, documents)
        for document in change.documents:
            transaction.set(
                collection.document(jurisdiction_document_id(document["code"])), document
            )
        transaction.update(meta, {"version": version + 1, "updated_at": datetime.now(UTC)})
        for event in change.events:
            add_to_outbox(transaction, db, AUDIT_TOPIC, event)
        return version + 1, change

    version, change = transact(
        db,
        write,
        name="tax.change_catalog",
        busy="the tax catalog was changed at the same time; retry",
    )
    return CatalogSnapshot(tenant_id, version, change.catalog), change.value


# -- calculations ----------------------------------------------------------------------------


def insert_calculation(
    db: firestore.Client, tenant_id: str, calculation_id: str, document: Mapping[str, Any]
) -> None:
    calculations_collection(db, tenant_id).document(calculation_id).create(dict(document))


def read_calculation(
    db: firestore.Client, tenant_id: str, calculation_id: str
) -> dict[str, Any] | None:
    snapshot = calculations_collection(db, tenant_id).document(calculation_id).get()
    return (snapshot.to_dict() or {}) if snapshot.exists else None


# -- the per-instance cache ------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    snapshot: CatalogSnapshot
    checked_at: float


class CatalogCache:
    """Built catalogs per tenant, trusted for ``ttl_seconds``; safe to share between threads.

    A tenant is loaded by one thread at a time (the others wait for it rather
    than read the same documents again).
    """

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str], threading.Lock] = {}

    def get(self, db: firestore.Client, tenant_id: str) -> CatalogSnapshot:
        key = (str(db.project), tenant_id)
        fresh = self._fresh(key)
        if fresh is not None:
            return fresh
        with self._loading_lock(key):
            fresh = self._fresh(key)
            if fresh is not None:
                return fresh
            with self._lock:
                entry = self._entries.get(key)
            if entry is not None and read_version(db, tenant_id) == entry.snapshot.version:
                self._store(key, entry.snapshot)
                return entry.snapshot
            snapshot = load_snapshot(db, tenant_id)
            self._store(key, snapshot)
            return snapshot

    def install(self, db: firestore.Client, snapshot: CatalogSnapshot) -> None:
        """Take a catalog this instance just committed, unless a newer one is already here."""
        self._store((str(db.project), snapshot.tenant_id), snapshot)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _fresh(self, key: tuple[str, str]) -> CatalogSnapshot | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self._clock() - entry.checked_at < self.ttl_seconds:
                return entry.snapshot
        return None

    def _store(self, key: tuple[str, str], snapshot: CatalogSnapshot) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.snapshot.version <= snapshot.version:
                self._entries[key] = _Entry(snapshot, self._clock())

    def _loading_lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._lock:
            return self._loading.setdefault(key, threading.Lock())


@per_instance
def default_cache() -> CatalogCache:
    """The instance's cache, with the TTL from the environment."""
    return CatalogCache(load_tax_settings().catalog_cache_ttl_seconds)
