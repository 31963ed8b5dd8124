"""Matching by hand, unmatching, and reconciling: every refusal writes nothing."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.integration.bank_reconciliation.conftest import Bank
from tests.integration.ledger.conftest import dump

FILE = (
    "Date,Amount,Ref,Text\n"
    "2026-11-02,200.00,,Transfer in\n"  # r000002: matched automatically
    "2026-11-03,-75.00,,Two payments at once\n"  # r000003: left for a manual match
)


@pytest.fixture
def setup(bank: Bank) -> dict[str, Any]:
    cash = bank.account("1000-bank")
    other_bank = bank.account("1010-other-bank")
    sales = bank.account("4000-sales", "revenue")
    costs = bank.account("6000-costs", "expense")
    found = {
        "cash": cash,
        "transfer": bank.post(cash, sales, "200.00", "2026-11-02"),
        # Outside the 3-day window: only a person matches these to line 3.
        "rent_a": bank.post(cash, costs, "50.00", "2026-11-20", side="credit"),
        "rent_b": bank.post(cash, costs, "25.00", "2026-11-21", side="credit"),
        "too_big": bank.post(cash, costs, "80.00", "2026-11-20", side="credit"),
        "elsewhere": bank.post(other_bank, costs, "75.00", "2026-11-03", side="credit"),
    }
    answer = bank.import_csv(cash, FILE)
    assert answer.status == 201, answer.json
    found["statement"] = answer.data["id"]
    return found


def test_a_line_is_matched_by_hand_unmatched_and_matched_again(
    bank: Bank, setup: dict[str, Any]
) -> None:
    statement = setup["statement"]
    bank.match()
    assert bank.statement(statement)["matched_count"] == 1

    answer = bank.line_action(
        statement, "r000003", "match", {"entry_ids": [setup["rent_a"], setup["rent_b"]]}
    )

    assert answer.status == 200, answer.json
    assert (answer.data["status"], answer.data["match_rule"]) == ("matched", "manual")
    assert answer.data["matched_by"]["user_id"] == "u-accountant"
    assert bank.statement(statement)["matched_count"] == 2
    assert setup["rent_a"] not in bank.unmatched_entries(statement)

    released = bank.line_action(statement, "r000002", "unmatch")

    assert released.status == 200, released.json
    assert (released.data["status"], released.data["entry_ids"]) == ("unmatched", [])
    assert bank.statement(statement)["matched_count"] == 1
    assert setup["transfer"] in bank.unmatched_entries(statement)
    again = bank.line_action(statement, "r000002", "match", {"entry_ids": [setup["transfer"]]})
    assert again.status == 200, again.json
    assert audit_actions(bank.db) == [
        "bank_statement.imported",
        "bank_statement.line_matched",
        "bank_statement.line_unmatched",
        "bank_statement.line_matched",
    ]


def audit_actions(db: Any) -> list[str]:
    """The bank statement actions audited through the outbox, oldest first."""
    records = [
        r
        for r in (s.to_dict() or {} for s in db.collection("outbox").stream())
        if r["topic"] == "audit-events"
    ]
    records.sort(key=lambda r: r["created_at"])
    actions = [orjson.loads(r["data"])["data"]["action"] for r in records]
    return [a for a in actions if a.startswith("bank_statement.")]


def _refusal(
    bank: Bank, statement: str, line: str, verb: str, body: Any = None, who: str = "accountant"
) -> Any:
    before = dump(bank.db)
    answer = bank.line_action(statement, line, verb, body, who=who)
    assert dump(bank.db) == before
    return answer


def test_manual_match_refusals_name_the_entry_and_write_nothing(
    bank: Bank, setup: dict[str, Any]
) -> None:
    statement = setup["statement"]
    bank.match()

    wrong_sum = _refusal(bank, statement, "r000003", "match", {"entry_ids": [setup["too_big"]]})
    assert wrong_sum.status == 422 and wrong_sum.json["errors"][0]["code"] == "amounts_do_not_sum"
    assert "-80.00" in wrong_sum.json["errors"][0]["message"]

    elsewhere = _refusal(
        bank, statement, "r000003", "match", {"entry_ids": [setup["rent_a"], setup["elsewhere"]]}
    )
    assert elsewhere.status == 422
    assert [(e["field"], e["code"]) for e in elsewhere.json["errors"]] == [
        ("entry_ids.1", "entry_not_on_account")
    ]

    missing = _refusal(bank, statement, "r000003", "match", {"entry_ids": ["ent_nothing"]})
    assert [(e["field"], e["code"]) for e in missing.json["errors"]] == [
        ("entry_ids.0", "entry_not_found")
    ]

    twice = _refusal(
        bank, statement, "r000003", "match", {"entry_ids": [setup["rent_a"], setup["rent_a"]]}
    )
    assert twice.status == 422 and twice.json["errors"][0]["code"] == "duplicate_entry"

    # The transfer is held by line 2 (matched automatically).
    taken = _refusal(
        bank, statement, "r000003", "match",
        {"entry_ids": [setup["rent_a"], setup["transfer"]]},
    )  # fmt: skip
    assert taken.status == 409 and taken.json["code"] == "entry_already_matched"
    assert taken.json["errors"][0]["field"] == "entry_ids.1"

    already = _refusal(bank, statement, "r000002", "match", {"entry_ids": [setup["rent_a"]]})
    assert already.status == 409 and already.json["code"] == "statement_line_already_matched"

    not_matched = _refusal(bank, statement, "r000003", "unmatch")
    assert not_matched.status == 409 and not_matched.json["code"] == "statement_line_not_matched"

    viewer = _refusal(bank, statement, "r000003", "unmatch", who="viewer")
    assert viewer.status == 403
    other_tenant = _refusal(bank, statement, "r000002", "unmatch", who="other")
    assert other_tenant.status == 404
    no_line = _refusal(bank, statement, "r000099", "unmatch")
    assert (no_line.status, no_line.json["code"]) == (404, "statement_line_not_found")


def test_an_entry_matched_on_one_statement_is_refused_on_another(
    bank: Bank, setup: dict[str, Any]
) -> None:
    bank.match()
    second = bank.import_csv(setup["cash"], "Date,Amount,Ref,Text\n2026-11-02,200.00,,again\n")
    bank.match()

    taken = _refusal(
        bank, second.data["id"], "r000002", "match", {"entry_ids": [setup["transfer"]]}
    )

    assert taken.status == 409
    assert setup["statement"] in taken.json["detail"]


def test_reconciling_needs_every_line_matched_then_freezes_the_statement(
    bank: Bank, setup: dict[str, Any]
) -> None:
    statement = setup["statement"]
    before = dump(bank.db)
    too_early = bank.reconcile(statement)
    assert (too_early.status, too_early.json["code"]) == (409, "bank_statement_not_matched")
    assert dump(bank.db) == before
    bank.match()

    before = dump(bank.db)
    refused = bank.reconcile(statement)
    assert refused.status == 409, refused.json
    assert refused.json["code"] == "bank_statement_has_unmatched_lines"
    assert refused.json["unmatched_count"] == 1 and "1 line(s)" in refused.json["detail"]
    assert bank.reconcile(statement, who="viewer").status == 403
    assert dump(bank.db) == before

    matched = bank.line_action(
        statement, "r000003", "match", {"entry_ids": [setup["rent_a"], setup["rent_b"]]}
    )
    assert matched.status == 200, matched.json
    done = bank.reconcile(statement)

    assert done.status == 200, done.json
    assert (done.data["status"], done.data["unmatched_count"]) == ("reconciled", 0)
    assert done.data["reconciled_by"]["user_id"] == "u-accountant"
    assert "bank_statement.reconciled" in audit_actions(bank.db)
    before = dump(bank.db)
    again = bank.reconcile(statement)
    assert (again.status, again.json["code"]) == (409, "bank_statement_already_reconciled")
    frozen = bank.line_action(statement, "r000003", "unmatch")
    assert (frozen.status, frozen.json["code"]) == (409, "bank_statement_reconciled")
    assert dump(bank.db) == before
