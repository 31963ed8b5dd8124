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
        .order_by("__name__", direction="DESCENDING")
    )
    assert index_need(_shape(query)) == IndexNeed(
        "people",
        "COLLECTION",
        frozenset({"tenant_id"}),
        None,
        (("created_at", "DESCENDING"), ("__name__", "DESCENDING")),
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
        (("effective_date", "ASCENDING"), ("__name__", "ASCENDING")),
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


# -- The document id ends every sort, in the last field's direction unless said otherwise ------

_BY_TENANT_NEWEST_FIRST = _index("letters", ("tenant_id", "ASCENDING"), ("seen", "DESCENDING"))


def _tenant_letters_newest_first(document_id_direction: str | None) -> object:
    query = (
        _client()
        .collection("letters")
        .where(filter=FieldFilter("tenant_id", "==", "t"))
        .order_by("seen", direction="DESCENDING")
    )
    if document_id_direction is not None:
        query = query.order_by("__name__", direction=document_id_direction)
    return query


@pytest.mark.parametrize("document_id_direction", [None, "DESCENDING"])
def test_an_index_serves_the_id_sort_in_its_last_fields_direction(
    document_id_direction: str | None,
) -> None:
    shape = _shape(_tenant_letters_newest_first(document_id_direction))
    assert missing_indexes([shape], [_BY_TENANT_NEWEST_FIRST]) == []


def test_an_id_sort_against_the_last_fields_direction_needs_its_own_index() -> None:
    # Passed before the check knew the id's direction; production refuses it.
    shape = _shape(_tenant_letters_newest_first("ASCENDING"))
    missing = missing_indexes([shape], [_BY_TENANT_NEWEST_FIRST])
    assert [need.describe() for need in missing] == [
        "letters (COLLECTION): tenant_id ==, seen DESCENDING, __name__ ASCENDING"
    ]
    declaring_the_id = _index(
        "letters", ("tenant_id", "ASCENDING"), ("seen", "DESCENDING"), ("__name__", "ASCENDING")
    )
    assert missing_indexes([shape], [declaring_the_id]) == []
    # ... and that index no longer serves the id in the implied (descending) direction.
    implied = _shape(_tenant_letters_newest_first(None))
    assert missing_indexes([implied], [declaring_the_id]) != []


def test_one_sort_field_with_the_id_against_it_needs_a_composite_index() -> None:
    letters = _client().collection("letters")
    newest_first = letters.order_by("seen", direction="DESCENDING")
    assert index_need(_shape(newest_first.order_by("__name__", direction="DESCENDING"))) is None
    assert index_need(_shape(newest_first.order_by("__name__"))) == _index(
        "letters", ("seen", "DESCENDING"), ("__name__", "ASCENDING")
    )


@pytest.mark.parametrize("direction", ["ASCENDING", "DESCENDING"])
def test_equality_filters_sorted_by_the_id_alone_need_no_composite_index(direction: str) -> None:
    query = (
        _client()
        .collection("letters")
        .where(filter=FieldFilter("tenant_id", "==", "t"))
        .where(filter=FieldFilter("status", "==", "stored"))
        .order_by("__name__", direction=direction)
    )
    assert index_need(_shape(query)) is None


def test_merged_indexes_must_agree_on_the_id_direction() -> None:
    need = IndexNeed(
        "audit",
        "COLLECTION",
        frozenset({"actor_id", "action"}),
        None,
        (("at", "DESCENDING"), ("__name__", "ASCENDING")),
    )
    by_actor = _index(
        "audit", ("actor_id", "ASCENDING"), ("at", "DESCENDING"), ("__name__", "ASCENDING")
    )
    by_action = _index("audit", ("action", "ASCENDING"), ("at", "DESCENDING"))
    by_action_with_id = _index(
        "audit", ("action", "ASCENDING"), ("at", "DESCENDING"), ("__name__", "ASCENDING")
    )
    assert not served(need, [by_actor, by_action])
    assert served(need, [by_actor, by_action_with_id])


def test_a_need_names_the_id_only_where_the_index_must_declare_it() -> None:
    implied = _index(
        "t", ("tenant_id", "ASCENDING"), ("at", "DESCENDING"), ("__name__", "DESCENDING")
    )
    assert implied.describe() == "t (COLLECTION): tenant_id ASCENDING, at DESCENDING"
