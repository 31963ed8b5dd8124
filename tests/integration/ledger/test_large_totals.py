"""Totals beyond Firestore's 64-bit integers stay exact, and reconciliation sees the edge.

Firestore integers are 64-bit and an ``Increment`` past the edge saturates silently (the
emulator does it too). One line is capped at 10**15 minor units, so reaching the edge
through the API takes hundreds of full entries: one test does exactly that, and the
others start from a history already written near the edge, in the storage format used
before limbs, and cross it with real postings in every currency exponent.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.ledger.model import Entry, EntryKind, EntryStatus, Line, Side
from shared.ledger.repository import FOLD_THRESHOLD, INT64_MAX, LIMB_BITS, entry_to_document
from shared.money import from_minor_units, minor_unit
from tests.integration.ledger.conftest import TENANT, Books

EDGE_GAP = 5  # minor units left below 2**63 - 1 by the written history


def _account_ref(db: Any, account_id: str) -> Any:
    return db.collection("tenants").document(TENANT).collection("accounts").document(account_id)


def _shard(db: Any, account_id: str, shard: str = "0") -> Any:
    return _account_ref(db, account_id).collection("balance_shards").document(shard)


def _history_near_the_edge(db: Any, debit: str, credit: str, currency: str) -> int:
    """An entry of ``INT64_MAX - EDGE_GAP`` minor units and the totals it left behind."""
    minor = INT64_MAX - EDGE_GAP
    history = Entry(
        id="ent_history",
        kind=EntryKind.STANDARD,
        status=EntryStatus.POSTED,
        effective_date=date(2020, 1, 1),
        description="years of postings",
        metadata={},
        lines=(
            Line(debit, Side.DEBIT, minor, currency),
            Line(credit, Side.CREDIT, minor, currency),
        ),
        created_at=datetime(2020, 1, 1, tzinfo=UTC),
        created_by={"system": "test"},
    )
    db.collection("tenants").document(TENANT).collection("entries").document(history.id).set(
        entry_to_document(history)
    )
    _shard(db, debit).set({"debits_posted": minor})
    _shard(db, credit).set({"credits_posted": minor})
    return minor


@pytest.mark.parametrize(
    ("currency", "line"),
    [("JPY", "1000"), ("EUR", "10.00"), ("KWD", "10.000"), ("CLF", "10.0000")],
)
def test_postings_across_the_int64_edge_stay_exact(
    books: Books, firestore_client: Any, currency: str, line: str
) -> None:
    assets = books.account("vault", currency=currency, balance_shards=1)
    equity = books.account("capital", "equity", currency=currency, balance_shards=1)
    history = _history_near_the_edge(firestore_client, assets, equity, currency)
    # A total written before limbs sits in limb 0, next to the edge: the first
    # reconciliation carries it into the upper limbs, so increments have room again.
    assert books.service.reconcile_tenant(TENANT).clean
    for _ in range(3):
        books.post((assets, "debit", line), (equity, "credit", line))

    expected = from_minor_units(history, currency) + Decimal(line) * 3
    assert expected.scaleb(minor_unit(currency)) > INT64_MAX
    assert Decimal(books.posted(assets)) == expected
    assert Decimal(books.posted(equity)) == expected
    trial = books.service.trial_balance(TENANT).to_json()
    assert trial["balanced"] is True
    (row,) = trial["currencies"]
    debits = {a["account_id"]: a["debit"] for a in row["accounts"]}
    assert Decimal(debits[assets]) == expected
    report = books.service.reconcile_tenant(TENANT)
    assert report.clean, report.discrepancies


def test_hundreds_of_maximal_entries_sum_past_the_edge_through_the_api(books: Books) -> None:
    # What the defect report did: 25 lines of 10**13 EUR a side, until 2**63 - 1 cents
    # was passed. The account used to stop at 92,233,720,368,547,758.07 EUR.
    assets = books.account("vault")
    equity = books.account("capital", "equity")
    maximal = "10000000000000.00"
    entries = 369
    for _ in range(entries):
        books.post(*([(assets, "debit", maximal)] * 25 + [(equity, "credit", maximal)] * 25))

    expected = Decimal(maximal) * 25 * entries
    assert expected.scaleb(2) > INT64_MAX
    assert Decimal(books.posted(assets)) == expected
    assert Decimal(books.posted(equity)) == expected
    assert books.service.reconcile_tenant(TENANT).clean


def test_a_saturated_total_is_reported_as_drift(books: Books, firestore_client: Any) -> None:
    assets = books.account("vault", balance_shards=1)
    equity = books.account("capital", "equity", balance_shards=1)
    _history_near_the_edge(firestore_client, assets, equity, "EUR")
    books.service.reconcile_tenant(TENANT)
    books.post((assets, "debit", "1.00"), (equity, "credit", "1.00"))
    # What a saturating increment would have left behind: the total stuck at the edge.
    _shard(firestore_client, assets).set({"debits_posted": INT64_MAX})

    report = books.service.reconcile_tenant(TENANT)

    drift = [d for d in report.discrepancies if d.kind == "balance_drift"]
    assert [(d.account_id, d.field) for d in drift] == [(assets, "debits_posted")]
    assert drift[0].stored == "92233720368547758.07"
    assert drift[0].recomputed == "92233720368547759.02"


def test_reconciliation_carries_a_grown_limb_without_changing_the_value(
    books: Books, firestore_client: Any
) -> None:
    assets = books.account("vault", balance_shards=1)
    equity = books.account("capital", "equity", balance_shards=1)
    books.post((assets, "debit", "12.34"), (equity, "credit", "12.34"))
    ref = _shard(firestore_client, assets)
    # The same 1234 minor units, with the low limb grown past the fold threshold.
    ref.set(
        {"debits_posted": 1234 + FOLD_THRESHOLD, "debits_posted_1": -(FOLD_THRESHOLD >> LIMB_BITS)}
    )

    report = books.service.reconcile_tenant(TENANT)

    assert report.clean, report.discrepancies
    assert books.posted(assets) == "12.34"
    stored = ref.get().to_dict()
    assert (stored["debits_posted"], stored["debits_posted_1"]) == (1234, 0)
