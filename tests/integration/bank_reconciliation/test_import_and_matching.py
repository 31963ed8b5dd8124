"""Import → the consumer's matching → the report; redelivery; duplicates; refusals."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from shared.bank_reconciliation import service
from shared.bank_reconciliation.auto_match import match_statement
from shared.bank_reconciliation.rules import MAX_LINES
from shared.events.event_context import PROCESSED_COLLECTION
from tests.integration.bank_reconciliation.conftest import TENANT, Bank
from tests.integration.ledger.conftest import dump, outbox_types

SAMPLE = (
    Path(__file__).parents[2] / "unit" / "bank_reconciliation" / "samples" / "camt053_day.xml"
).read_bytes()

NOVEMBER = (
    "Date,Amount,Ref,Text\n"
    "2026-11-02,1250.00,INV-1042,Customer payment\n"  # line 2: by reference
    "2026-11-03,-89.90,,Office supplies\n"  # line 3: by amount and date
    "2026-11-05,100.00,,Card settlement\n"  # line 4: three sales summing to it
    "2026-11-06,-42.00,,Unknown debit\n"  # line 5: nothing matches
)


@pytest.fixture
def books(bank: Bank) -> dict[str, Any]:
    cash = bank.account("1000-bank")
    sales = bank.account("4000-sales", "revenue")
    costs = bank.account("6000-costs", "expense")
    entries = {
        "decoy": bank.post(cash, sales, "1250.00", "2026-11-02", description="Other sale"),
        "invoice": bank.post(
            cash, sales, "1250.00", "2026-11-04", description="Payment of INV-1042"
        ),
        "supplies": bank.post(cash, costs, "89.90", "2026-11-01", side="credit"),
        "sale_a": bank.post(cash, sales, "30.00", "2026-11-04"),
        "sale_b": bank.post(cash, sales, "45.50", "2026-11-05"),
        "sale_c": bank.post(cash, sales, "24.50", "2026-11-06"),
        "late": bank.post(cash, costs, "42.00", "2026-11-10", side="credit"),
    }
    return {"cash": cash, "sales": sales, "costs": costs, **entries}


def test_an_import_is_matched_in_the_background_and_reported(
    bank: Bank, books: dict[str, Any]
) -> None:
    answer = bank.import_csv(books["cash"], NOVEMBER)

    assert answer.status == 201, answer.json
    statement = answer.data
    assert answer.headers["Location"] == f"/v1/bank-statements/{statement['id']}"
    assert (statement["status"], statement["line_count"], statement["matched_count"]) == (
        "matching", 4, 0,
    )  # fmt: skip
    assert (statement["period_start"], statement["period_end"]) == ("2026-11-02", "2026-11-06")
    assert ("bank-statement-events", "bank_statement.imported") in outbox_types(bank.db)
    assert ("audit-events", "audit.recorded") in outbox_types(bank.db)

    bank.match()

    done = bank.statement(statement["id"], who="viewer")
    assert (done["status"], done["matched_count"], done["unmatched_count"]) == ("matched", 3, 1)
    lines = bank.lines(statement["id"])
    assert [(line["number"], line["status"], line["match_rule"]) for line in lines.values()] == [
        (2, "matched", "reference"),
        (3, "matched", "amount_date"),
        (4, "matched", "many"),
        (5, "unmatched", None),
    ]
    assert lines["r000002"]["entry_ids"] == [books["invoice"]]
    assert lines["r000003"]["entry_ids"] == [books["supplies"]]
    assert (lines["r000003"]["signed_amount"], lines["r000003"]["direction"]) == (
        "-89.90", "debit",
    )  # fmt: skip
    assert sorted(lines["r000004"]["entry_ids"]) == sorted(
        [books["sale_a"], books["sale_b"], books["sale_c"]]
    )
    assert lines["r000002"]["matched_by"] == {"system": "match_bank_statements"}
    assert list(bank.lines(statement["id"], status="unmatched")) == ["r000005"]
    # The period is 2 to 6 November: the decoy is unmatched in it, the late debit is not in it.
    assert bank.unmatched_entries(statement["id"]) == [books["decoy"]]
    listed = bank.api.get("/v1/bank-statements", token="viewer")
    assert [s["id"] for s in listed.data] == [statement["id"]]


def test_a_redelivered_event_changes_nothing(bank: Bank, books: dict[str, Any]) -> None:
    statement = bank.import_csv(books["cash"], NOVEMBER).data
    [message] = bank.published(1)
    bank.deliver(message)
    before = dump(bank.db)

    bank.deliver(message)
    # Even once the consumer's processed record is gone, the statement is matched.
    for record in bank.db.collection(PROCESSED_COLLECTION).stream():
        record.reference.delete()
    bank.deliver(message)

    after = dump(bank.db)
    assert {p: d for p, d in after.items() if not p.startswith(PROCESSED_COLLECTION)} == {
        p: d for p, d in before.items() if not p.startswith(PROCESSED_COLLECTION)
    }
    assert bank.statement(statement["id"])["matched_count"] == 3


def test_a_camt053_statement_is_imported_and_matched(bank: Bank, books: dict[str, Any]) -> None:
    answer = bank.import_camt(books["cash"], SAMPLE)

    assert answer.status == 201, answer.json
    assert (answer.data["format"], answer.data["line_count"], answer.data["skipped_count"]) == (
        "camt053", 3, 1,
    )  # fmt: skip
    assert answer.data["bank_reference"] == "2026-11-03-DE89370400440532013000"
    bank.match()

    lines = bank.lines(answer.data["id"])
    # Entry 1 carries the end-to-end id INV-1042, which the invoice's entry mentions.
    assert (lines["r000001"]["match_rule"], lines["r000001"]["entry_ids"]) == (
        "reference", [books["invoice"]],
    )  # fmt: skip
    assert lines["r000002"]["entry_ids"] == [books["supplies"]]
    assert lines["r000003"]["status"] == "unmatched"  # the 3.50 fee is not in the books
    assert bank.statement(answer.data["id"])["status"] == "matched"


def test_the_same_file_again_is_refused_naming_the_statement(
    bank: Bank, books: dict[str, Any]
) -> None:
    first = bank.import_csv(books["cash"], NOVEMBER).data
    before = dump(bank.db)

    again = bank.import_csv(books["cash"], NOVEMBER, date_window_days=5)
    as_base64 = bank.import_csv(
        books["cash"],
        base64.b64encode(NOVEMBER.encode()).decode(),
        content_encoding="base64",
    )

    for answer in (again, as_base64):
        assert answer.status == 409, answer.json
        assert answer.json["code"] == "bank_statement_already_imported"
        assert answer.json["statement_id"] == first["id"]
        assert answer.json["errors"] == [
            {
                "field": "content",
                "message": f"already imported as {first['id']}",
                "code": "duplicate_import",
            }
        ]
    assert dump(bank.db) == before
    # The same file for another account is another statement.
    savings = bank.account("1010-savings")
    assert bank.import_csv(savings, NOVEMBER).status == 201


REFUSALS = [
    (
        {"content": "Date,Amount,Ref,Text\n2026-11-02,1.00\n"},
        "rows.2",
        "missing_columns",
    ),
    ({"content": "Date,Amount,Ref,Text\n2026-02-30,1.00,,\n"}, "rows.2.date", "invalid_date"),
    (
        {"content": "Date,Amount,Ref,Text\n2026-11-02,1.000,,\n"},
        "rows.2.amount",
        "too_many_decimals",
    ),
    ({"content": "Date,Amount,Ref,Text\n"}, "content", "no_lines"),
    ({"content": "%%%", "content_encoding": "base64"}, "content", "invalid_base64"),
    ({"csv": None}, "csv", "csv_mapping_missing"),
    (
        {"csv": {"columns": {"date": "Datum", "amount": "Amount"}}},
        "csv.columns.date",
        "unknown_column",
    ),
    ({"account_id": "acc_missing"}, "account_id", "account_not_found"),
    # Not a document id at all: refused by its shape, before any read.
    ({"account_id": "acc/x"}, "account_id", "bad_format"),
    ({"account_id": "__x__"}, "account_id", "bad_format"),
    ({"format": "camt053", "csv": None, "content": "<Document>"}, "content", "unreadable_xml"),
    (
        {
            "format": "camt053",
            "csv": None,
            "content": SAMPLE.decode().replace('Ccy="EUR">89.90', 'Ccy="USD">89.90'),
        },
        "entries.2.amount",
        "currency_mismatch",
    ),
]


@pytest.mark.parametrize(("change", "field", "code"), REFUSALS)
def test_each_refusal_names_its_field_and_writes_nothing(
    bank: Bank, books: dict[str, Any], change: dict[str, Any], field: str, code: str
) -> None:
    before = dump(bank.db)
    body = {**change}
    account_id = body.pop("account_id", books["cash"])
    content = body.pop("content", NOVEMBER)
    if body.get("csv", "keep") is None:
        answer = bank.api.post(
            "/v1/bank-statements",
            json={
                "account_id": account_id,
                "format": body.get("format", "csv"),
                "content": content,
                **{k: v for k, v in body.items() if k not in ("csv", "format")},
            },
            token="accountant",
        )
    else:
        answer = bank.import_csv(account_id, content, **body)

    assert answer.status == 422, answer.json
    assert (field, code) in [(e["field"], e["code"]) for e in answer.json["errors"]]
    assert dump(bank.db) == before


def test_a_currency_other_than_the_accounts_is_refused(bank: Bank) -> None:
    dollars = bank.account("1020-usd", currency="USD")
    before = dump(bank.db)

    answer = bank.import_camt(dollars, SAMPLE)

    assert answer.status == 422, answer.json
    assert ("content.Acct.Ccy", "currency_mismatch") in [
        (e["field"], e["code"]) for e in answer.json["errors"]
    ]
    assert dump(bank.db) == before


def test_a_file_too_big_is_a_413_and_writes_nothing(bank: Bank, books: dict[str, Any]) -> None:
    before = dump(bank.db)
    # Within the schema's length in characters, beyond the bytes: two bytes each.
    answer = bank.import_csv(books["cash"], "é" * 300_000)

    assert answer.status == 413, answer.json
    assert answer.json["errors"][0]["field"] == "content"
    assert dump(bank.db) == before


def test_importing_needs_the_reconcile_permission_reading_does_not(
    bank: Bank, books: dict[str, Any]
) -> None:
    assert bank.import_csv(books["cash"], NOVEMBER, who="viewer").status == 403
    statement = bank.import_csv(books["cash"], NOVEMBER).data

    assert bank.statement(statement["id"], who="viewer")["id"] == statement["id"]
    other = bank.api.get(f"/v1/bank-statements/{statement['id']}", token="other")
    assert other.status == 404 and other.json["code"] == "bank_statement_not_found"
    assert bank.import_csv(books["cash"], NOVEMBER, who="other").json["errors"][0]["code"] == (
        "account_not_found"
    )


def test_progress_is_visible_while_matching_runs(bank: Bank, books: dict[str, Any]) -> None:
    statement = bank.import_csv(books["cash"], NOVEMBER).data

    run = match_statement(bank.db, TENANT, statement["id"])

    assert run is not None and (run.proposed, run.applied) == (3, 3)
    halfway = bank.statement(statement["id"])
    assert (halfway["status"], halfway["matched_count"]) == ("matching", 3)
    # A second run finds nothing left to do and matches nothing twice.
    again = match_statement(bank.db, TENANT, statement["id"])
    assert again is not None and again.applied == 0
    bank.match()
    done = bank.statement(statement["id"])
    assert (done["status"], done["matched_count"]) == ("matched", 3)


def test_an_interrupted_import_is_completed_by_the_same_file(
    bank: Bank, books: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(line: Any) -> Any:
        raise RuntimeError("the instance died while writing lines")

    monkeypatch.setattr(service, "line_to_document", crash)
    assert bank.import_csv(books["cash"], NOVEMBER).status == 500
    [stored] = [s.to_dict() for s in bank.db.collection_group("bank_statements").stream()]
    assert stored is not None and stored["status"] == "importing"
    monkeypatch.undo()
    for verb, body in (("match", {"entry_ids": [books["invoice"]]}), ("unmatch", None)):
        busy = bank.line_action(stored_id(bank), "r000002", verb, body)
        assert (busy.status, busy.json["code"]) == (409, "bank_statement_importing")

    answer = bank.import_csv(books["cash"], NOVEMBER)

    assert answer.status == 201, answer.json
    assert (answer.data["status"], answer.data["line_count"]) == ("matching", 4)
    assert len(bank.lines(answer.data["id"])) == 4


def test_an_interrupted_import_resumed_with_other_options_is_refused_and_lines_kept(
    bank: Bank, books: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []
    real = service.line_to_document

    def crash_after_two(line: Any) -> Any:
        if len(written) == 2:
            raise RuntimeError("the instance died while writing lines")
        written.append(line.id)
        return real(line)

    monkeypatch.setattr(service, "line_to_document", crash_after_two)
    assert bank.import_csv(books["cash"], NOVEMBER).status == 500
    monkeypatch.undo()
    before = dump(bank.db)

    other = bank.import_csv(books["cash"], NOVEMBER, date_window_days=9)

    assert other.status == 409, other.json
    assert other.json["code"] == "bank_statement_import_differs"
    assert other.json["errors"][0]["field"] == "content"
    assert dump(bank.db) == before
    # The same options complete it, keeping the lines already written.
    done = bank.import_csv(books["cash"], NOVEMBER)
    assert done.status == 201, done.json
    assert len(bank.lines(done.data["id"])) == 4


def stored_id(bank: Bank) -> str:
    [snapshot] = list(bank.db.collection_group("bank_statements").stream())
    return str(snapshot.id)


def test_a_statement_of_the_most_lines_imports_and_matches(
    bank: Bank, books: dict[str, Any]
) -> None:
    rows = "".join(f"2026-11-{1 + n % 28:02d},{n + 1}.01,,row {n}\n" for n in range(MAX_LINES))
    for n in range(0, MAX_LINES, 400):  # a few of them are in the books
        bank.post(books["cash"], books["sales"], f"{n + 1}.01", f"2026-11-{1 + n % 28:02d}")

    answer = bank.import_csv(books["cash"], "Date,Amount,Ref,Text\n" + rows)

    assert answer.status == 201, answer.json
    assert answer.data["line_count"] == MAX_LINES
    bank.match()
    done = bank.statement(answer.data["id"])
    assert (done["status"], done["matched_count"]) == ("matched", MAX_LINES // 400)
