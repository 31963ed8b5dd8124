"""Checks that every query the tests run has the Firestore index production needs.

The Firestore emulator answers any query without an index, where production
refuses a query whose composite index is missing (FAILED_PRECONDITION). So the
test session records the shape of every query it runs (by wrapping
``BaseQuery._to_protobuf``, which every query execution goes through: streams,
gets, aggregations, queries in transactions) and, at the end, compares the
composite indexes those shapes need with ``infra/firestore_indexes.yaml``.

Which shapes need a composite index (Firestore's rules, simplified to what this
code base uses): equality and array-contains filters alone are served by merging
single-field indexes; once a query also sorts, or filters a range or inequality,
every field it filters or sorts on (other than the document id) must sit in one
composite index: equality fields first (any order), the array-contains field,
then the sort fields in order and direction (an inequality field is sorted
ascending implicitly). Several equality filters may be served by merging indexes
that share the sort suffix, as Firestore does.

The document id (``__name__``) ends every sort. A query that does not order by it
explicitly is sorted by it in the direction of its last sort field; an index,
likewise, ends with ``__name__`` in the direction of its last field unless it
declares ``__name__`` itself. So ``created_at DESC, __name__ ASC`` is not served by
the index ``(created_at DESC)``, which sorts ``__name__`` descending: it needs an
index that declares ``__name__ ASCENDING`` (or the query should order the id
descending). Equality and array-contains filters sorted by the id alone are
served by single-field indexes, which exist in both directions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DOCUMENT_ID = "__name__"
# The databases of infra/firestore_indexes.yaml's `database` key (main is the default).
MAIN = "main"
CREDENTIALS = "credentials"
_EQUALITY = {"EQUAL", "IN"}
_CONTAINS = {"ARRAY_CONTAINS", "ARRAY_CONTAINS_ANY"}
_INEQUALITY = {
    "LESS_THAN",
    "LESS_THAN_OR_EQUAL",
    "GREATER_THAN",
    "GREATER_THAN_OR_EQUAL",
    "NOT_EQUAL",
    "NOT_IN",
}


@dataclass(frozen=True)
class QueryShape:
    collection: str
    collection_group: bool
    equalities: frozenset[str]
    contains: str | None
    inequalities: frozenset[str]
    orders: tuple[tuple[str, str], ...]  # (field, ASCENDING|DESCENDING), document id excluded
    document_id_order: str | None = None  # an explicit __name__ sort's direction
    database: str = MAIN  # which database the query ran on: "main" or "credentials"


@dataclass(frozen=True)
class IndexNeed:
    collection: str
    scope: str  # COLLECTION | COLLECTION_GROUP
    equalities: frozenset[str]
    contains: str | None
    orders: tuple[tuple[str, str], ...]  # may end with the document id's sort
    database: str = MAIN

    def describe(self) -> str:
        """The fields to declare, ``__name__`` only where it is not implied."""
        fields = [f"{f} ==" for f in sorted(self.equalities)]
        if self.contains:
            fields.append(f"{self.contains} CONTAINS")
        orders = with_document_id(self.orders)
        if orders[-1] == (DOCUMENT_ID, _implied_document_id_order(orders[:-1])):
            orders = orders[:-1]
        fields += [f"{f} {d}" for f, d in orders]
        where = "" if self.database == MAIN else f", database: {self.database}"
        return f"{self.collection} ({self.scope}{where}): " + ", ".join(fields)


def _implied_document_id_order(orders: tuple[tuple[str, str], ...]) -> str:
    return orders[-1][1] if orders else "ASCENDING"


def with_document_id(orders: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """``orders`` ending with the document id's sort, implied from the last field if absent.

    Holds for a query's sort and for an index's fields alike.
    """
    if orders and orders[-1][0] == DOCUMENT_ID:
        return orders
    return (*orders, (DOCUMENT_ID, _implied_document_id_order(orders)))


def shape_of(structured_query: Any, database: str = MAIN) -> QueryShape | None:
    """The shape of a ``StructuredQuery`` protobuf (None for a query of no collection)."""
    if not structured_query.from_:
        return None
    source = structured_query.from_[0]
    equalities: set[str] = set()
    inequalities: set[str] = set()
    contains: str | None = None
    for field, operator in _field_filters(structured_query.where):
        if operator in _EQUALITY:
            equalities.add(field)
        elif operator in _CONTAINS:
            contains = field
        elif operator in _INEQUALITY:
            inequalities.add(field)
    orders: list[tuple[str, str]] = []
    document_id_order: str | None = None
    for order in structured_query.order_by:
        if order.field.field_path == DOCUMENT_ID:
            # Document ids are unique: nothing sorted after the id changes the order.
            document_id_order = order.direction.name
            break
        orders.append((order.field.field_path, order.direction.name))
    return QueryShape(
        collection=source.collection_id,
        collection_group=bool(source.all_descendants),
        equalities=frozenset(equalities),
        contains=contains,
        inequalities=frozenset(inequalities),
        orders=tuple(orders),
        document_id_order=document_id_order,
        database=database,
    )


def _field_filters(where: Any) -> Iterable[tuple[str, str]]:
    if "field_filter" in where:
        yield where.field_filter.field.field_path, where.field_filter.op.name
    elif "unary_filter" in where:
        yield where.unary_filter.field.field_path, "EQUAL"  # IS NULL / IS NAN
    elif "composite_filter" in where:
        for child in where.composite_filter.filters:
            yield from _field_filters(child)


def index_need(shape: QueryShape) -> IndexNeed | None:
    """The composite index ``shape`` needs in production, or None if none is needed."""
    orders = list(shape.orders)
    ordered = {field for field, _ in orders}
    # An inequality field is sorted first, ascending, unless the query sorts it itself.
    for field in sorted(shape.inequalities):
        if field not in ordered and field != DOCUMENT_ID:
            orders.insert(0, (field, "ASCENDING"))
    if not orders:
        # Equality / array-contains only, sorted by the id at most: single-field
        # indexes (ascending and descending, each ending in the id) merge.
        return None
    implied = _implied_document_id_order(tuple(orders))
    document_id_order = shape.document_id_order or implied
    # An id sort against the implied direction is one more field the index must declare.
    fields = (
        len(shape.equalities - ordered)
        + (1 if shape.contains else 0)
        + len(orders)
        + (0 if document_id_order == implied else 1)
    )
    if fields < 2:
        return None  # one field: its automatic single-field index serves it
    return IndexNeed(
        collection=shape.collection,
        scope="COLLECTION_GROUP" if shape.collection_group else "COLLECTION",
        equalities=frozenset(shape.equalities - ordered),
        contains=shape.contains,
        orders=(*orders, (DOCUMENT_ID, document_id_order)),
        database=shape.database,
    )


def declared_indexes(config_path: Path) -> list[IndexNeed]:
    """The composite indexes of ``infra/firestore_indexes.yaml``, in the same terms."""
    config = yaml.safe_load(config_path.read_text())
    declared = []
    for index in config.get("composite_indexes", []):
        equalities: list[str] = []
        contains: str | None = None
        orders: list[tuple[str, str]] = []
        for entry in index["fields"]:
            if entry.get("array_config") == "CONTAINS":
                contains = entry["field"]
            else:
                orders.append((entry["field"], entry.get("order", "ASCENDING")))
        declared.append(
            IndexNeed(
                collection=index["collection_group"],
                scope=index.get("query_scope", "COLLECTION"),
                equalities=frozenset(equalities),
                contains=contains,
                orders=tuple(orders),
                database=index.get("database", MAIN),
            )
        )
    return declared


def served(need: IndexNeed, declared: list[IndexNeed]) -> bool:
    """Whether the declared indexes serve ``need``.

    An index serves it when it holds some of the need's equality fields first (in any
    order), then exactly its sort fields, the document id's direction included.
    Firestore merges such indexes for a query with several equality filters, so
    together they must cover every equality field.
    """
    need_orders = with_document_id(need.orders)
    covered: set[str] = set()
    for index in declared:
        if (index.collection, index.scope, index.contains, index.database) != (
            need.collection,
            need.scope,
            need.contains,
            need.database,
        ):
            continue
        index_orders = with_document_id(index.orders)
        split = len(index_orders) - len(need_orders)
        if split < 0 or index_orders[split:] != need_orders:
            continue
        head = {field for field, _ in index_orders[:split]}
        if head <= need.equalities and (head or not need.equalities):
            covered |= head
            if covered == need.equalities:
                return True
    return False


def missing_indexes(shapes: Iterable[QueryShape], declared: list[IndexNeed]) -> list[IndexNeed]:
    needs = {need for shape in shapes if (need := index_need(shape)) is not None}
    return sorted((need for need in needs if not served(need, declared)), key=IndexNeed.describe)


def database_of(query: Any) -> str:
    """Which of the manifest's databases a query runs on, by its client's database id."""
    database = getattr(query._client, "_database", "(default)")
    return CREDENTIALS if database == CREDENTIALS else MAIN


class QueryRecorder:
    """Records the shape of every Firestore query this process runs."""

    def __init__(self) -> None:
        self.shapes: set[QueryShape] = set()
        self._lock = threading.Lock()
        self._original: Any = None
        self._paused = threading.local()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Queries built here are not recorded (tests of this module build examples)."""
        self._paused.on = True
        try:
            yield
        finally:
            self._paused.on = False

    def install(self) -> None:
        from google.cloud.firestore_v1.base_query import BaseQuery

        original = BaseQuery._to_protobuf
        self._original = original
        recorder = self

        def recording(query: Any) -> Any:
            structured = original(query)
            if getattr(recorder._paused, "on", False):
                return structured
            shape = shape_of(structured, database_of(query))
            if shape is not None:
                with recorder._lock:
                    recorder.shapes.add(shape)
            return structured

        BaseQuery._to_protobuf = recording  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original is not None:
            from google.cloud.firestore_v1.base_query import BaseQuery

            BaseQuery._to_protobuf = self._original  # type: ignore[method-assign]
            self._original = None


# The one recorder of the test session (tests/conftest.py installs it).
RECORDER = QueryRecorder()
