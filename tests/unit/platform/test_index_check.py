"""The index check the test session runs: which query shapes need which composite index."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from tests.support.firestore_indexes import (
    RECORDER,
    IndexNeed,
    QueryShape,
    declared_indexes,
    index_need,
    missing_indexes,
    served,
    shape_of,
)

REPO = Path(__file__).resolve().parents[3]


def _client() -> firestore.Client:
    # Queries are only built, never sent: no emulator or credentials needed.
    from google.auth.credentials import AnonymousCredentials

    return firestore.Client(project="demo-index-check", credentials=AnonymousCredentials())


def _shape(query: object) -> QueryShape:
    with RECORDER.paused():  # examples, not queries the code base runs
        shape = shape_of(query._to_protobuf())  # type: ignore[attr-defined]
    assert shape is not None
    return shape


def test_equality_filters_alone_need_no_composite_index() -> None:
    people = _client().collection("people")
    query = people.where(filter=FieldFilter("tenant_id", "==", "t")).where(
        filter=FieldFilter("role", "==", "admin")
    )
    assert index_need(_shape(query)) is None
    assert index_need(_shape(people.order_by("created_at"))) is None


def test_an_equality_filter_with_a_sort_needs_one() -> None:
    query = (
        _client()
        .collection("people")
        .where(filter=FieldFilter("tenant_id", "==", "t"))
        .order_by("created_at", direction="DESCENDING")
        .order_by("__name__")
    )
    assert index_need(_shape(query)) == IndexNeed(
        "people", "COLLECTION", frozenset({"tenant_id"}), None, (("created_at", "DESCENDING"),)
    )


def test_a_range_is_sorted_first_and_array_contains_counts() -> None:
    query = (
        _client()
        .collection_group("entries")
        .where(filter=FieldFilter("account_ids", "array_contains", "a"))
        .where(filter=FieldFilter("effective_date", ">=", "2025-01-01"))
    )
    need = index_need(_shape(query))
    assert need == IndexNeed(
        "entries",
        "COLLECTION_GROUP",
        frozenset(),
        "account_ids",
        (("effective_date", "ASCENDING"),),
    )


def _index(collection: str, *fields: tuple[str, str]) -> IndexNeed:
    return IndexNeed(collection, "COLLECTION", frozenset(), None, tuple(fields))


def test_several_equalities_are_served_by_merging_indexes_with_the_same_sort() -> None:
    need = IndexNeed(
        "audit", "COLLECTION", frozenset({"actor_id", "action"}), None, (("at", "DESCENDING"),)
    )
    by_actor = _index("audit", ("actor_id", "ASCENDING"), ("at", "DESCENDING"))
    by_action = _index("audit", ("action", "ASCENDING"), ("at", "DESCENDING"))
    by_action_ascending = _index("audit", ("action", "ASCENDING"), ("at", "ASCENDING"))
    assert served(need, [by_actor, by_action])
    assert not served(need, [by_actor])
    assert not served(need, [by_actor, by_action_ascending])
    assert not served(need, [_index("other", ("actor_id", "ASCENDING"), ("at", "DESCENDING"))])


@pytest.mark.parametrize(
    "fields",
    [
        (("at", "DESCENDING"), ("tenant_id", "ASCENDING")),  # sort field not last
        (("tenant_id", "ASCENDING"), ("at", "DESCENDING"), ("x", "ASCENDING")),  # extra sort
    ],
)
def test_an_index_with_the_wrong_shape_does_not_serve(fields: tuple[tuple[str, str], ...]) -> None:
    need = IndexNeed("t", "COLLECTION", frozenset({"tenant_id"}), None, (("at", "DESCENDING"),))
    assert missing_indexes([], [_index("t", *fields)]) == []
    assert not served(need, [_index("t", *fields)])


def test_the_declared_indexes_parse() -> None:
    declared = declared_indexes(REPO / "infra" / "firestore_indexes.yaml")
    assert any(index.collection == "entries" and index.contains for index in declared)
    assert all(index.orders for index in declared)
