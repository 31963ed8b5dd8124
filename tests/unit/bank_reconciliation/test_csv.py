"""CSV statements: the column mapping, notations, and every refusal naming row and field."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest

from shared.bank_reconciliation.csv_format import parse_csv
from shared.bank_reconciliation.requests import CsvMapping
from shared.errors import ValidationError


def _mapping(**overrides: Any) -> CsvMapping:
    columns = overrides.pop(
        "columns", {"date": "Date", "amount": "Amount", "reference": "Ref", "description": "Text"}
    )
    return CsvMapping.model_validate_json(orjson.dumps({"columns": columns, **overrides}))


def _refusal(
    text: str | bytes, mapping: CsvMapping, currency: str = "EUR"
) -> list[tuple[str, str]]:
    content = text.encode() if isinstance(text, str) else text
    with pytest.raises(ValidationError) as refused:
        parse_csv(content, mapping, currency)
    return [(e.field, e.code) for e in refused.value.errors]


def test_a_signed_amount_column_with_header_names() -> None:
    text = (
        "\ufeffDate,Amount,Ref,Text\n"
        "2026-11-02,1250.00,INV-1042,Customer payment\n"
        "\n"
        '2026-11-04,-89.9,,"Office supplies, paper"\n'
    )
    statement = parse_csv(text.encode(), _mapping(), "EUR")

    assert (statement.period_start, statement.period_end) == (date(2026, 11, 2), date(2026, 11, 4))
    first, second = statement.lines
    assert (first.number, first.amount_minor, first.reference) == (2, 125000, "INV-1042")
    assert (second.number, second.amount_minor, second.description) == (
        4, -8990, "Office supplies, paper",
    )  # fmt: skip


def test_debit_and_credit_columns_in_german_notation() -> None:
    text = (
        "Buchungstag;Valuta;Soll;Haben;Verwendungszweck;Währung\n"
        "02.11.2026;03.11.2026;;1.250,00;INV-1043;EUR\n"
        "03.11.2026;;-89,90;;Büro;EUR\n"
        "04.11.2026;;12,5;;Gebühr;EUR\n"
    )
    mapping = _mapping(
        columns={
            "date": "Buchungstag",
            "value_date": "Valuta",
            "debit": "Soll",
            "credit": "Haben",
            "description": "Verwendungszweck",
            "currency": "Währung",
        },
        delimiter=";",
        date_format="DD.MM.YYYY",
        decimal_separator=",",
        thousands_separator=".",
    )
    lines = parse_csv(text.encode(), mapping, "EUR").lines

    assert [(line.amount_minor, line.value_date) for line in lines] == [
        (125000, date(2026, 11, 3)), (-8990, None), (-1250, None),
    ]  # fmt: skip


def test_columns_by_position_without_a_header_and_latin_1() -> None:
    text = "20261102|Caf\xe9 au lait|-3.20\n".encode("iso-8859-1")
    mapping = _mapping(
        columns={"date": 1, "description": 2, "amount": 3},
        has_header=False,
        delimiter="|",
        encoding="iso-8859-1",
        date_format="YYYYMMDD",
    )
    [line] = parse_csv(text, mapping, "EUR").lines

    assert (line.number, line.description, line.amount_minor) == (1, "Café au lait", -320)


def test_a_yen_statement_has_no_decimals() -> None:
    text = 'Date,Amount\n11/02/2026,"1,500"\n'
    mapping = _mapping(
        columns={"date": "Date", "amount": "Amount"},
        date_format="MM/DD/YYYY",
        thousands_separator=",",
    )
    [line] = parse_csv(text.encode(), mapping, "JPY").lines

    assert (line.booking_date, line.amount_minor) == (date(2026, 11, 2), 1500)
    assert _refusal("Date,Amount\n11/02/2026,15.5\n", mapping, "JPY") == [
        ("rows.2.amount", "too_many_decimals")
    ]


def test_control_characters_in_texts_become_spaces() -> None:
    text = "Date,Amount,Ref,Text\n2026-11-02,1.00,A\u202eB,one\u0007  two\n"
    [line] = parse_csv(text.encode(), _mapping(), "EUR").lines

    assert (line.reference, line.description) == ("A B", "one two")


@pytest.mark.parametrize(
    ("columns", "extra", "refusal"),
    [
        ({"date": "Date", "amount": "Amount", "debit": "Out"}, {},
         [("csv.columns.amount", "amount_columns_conflict")]),
        ({"date": "Date", "debit": "Out"}, {}, [("csv.columns.amount", "amount_column_missing")]),
        ({"date": "Date", "amount": "Amount"}, {"thousands_separator": "."},
         [("csv.thousands_separator", "separators_clash")]),
        ({"date": "Date", "amount": 2}, {"has_header": False},
         [("csv.columns.date", "column_by_name_without_header")]),
    ],
)  # fmt: skip
def test_a_mapping_that_makes_no_sense_is_refused(
    columns: dict[str, Any], extra: dict[str, Any], refusal: list[tuple[str, str]]
) -> None:
    assert _refusal("Date,Amount\n2026-11-02,1.00\n", _mapping(columns=columns, **extra)) == refusal


def test_columns_the_header_does_not_have_are_named() -> None:
    text = "Date,Amount,Amount\n2026-11-02,1.00,2.00\n"
    mapping = _mapping(columns={"date": "Datum", "amount": "Amount", "reference": 9})

    assert _refusal(text, mapping) == [
        ("csv.columns.date", "unknown_column"),
        ("csv.columns.amount", "ambiguous_column"),
        ("csv.columns.reference", "unknown_column"),
    ]


@pytest.mark.parametrize(
    ("row", "refusal"),
    [
        ("2026-13-01,1.00,,", [("rows.2.date", "invalid_date")]),
        ("02.11.2026,1.00,,", [("rows.2.date", "invalid_date")]),
        ("2026-11-02,\"1,00\",,", [("rows.2.amount", "invalid_amount")]),
        ("2026-11-02,1.2.3,,", [("rows.2.amount", "invalid_amount")]),
        ("2026-11-02,,,", [("rows.2.amount", "invalid_amount")]),
        ("2026-11-02,1e3,,", [("rows.2.amount", "invalid_amount")]),
        ("2026-11-02,1.001,,", [("rows.2.amount", "too_many_decimals")]),
        ("2026-11-02,0.00,,", [("rows.2.amount", "amount_zero")]),
        ("2026-11-02,99999999999999999.00,,", [("rows.2.amount", "amount_too_large")]),
        ("2026-11-02", [("rows.2", "missing_columns")]),
    ],
)  # fmt: skip
def test_each_bad_row_is_named_by_its_line(row: str, refusal: list[tuple[str, str]]) -> None:
    assert _refusal(f"Date,Amount,Ref,Text\n{row}\n", _mapping()) == refusal


def test_every_problem_of_the_file_is_listed_up_to_twenty() -> None:
    rows = "".join(f"2026-11-{day:02d},x,,\n" for day in range(1, 30))
    refusal = _refusal("Date,Amount,Ref,Text\n" + rows, _mapping())

    assert len(refusal) == 20
    assert refusal[:2] == [("rows.2.amount", "invalid_amount"), ("rows.3.amount", "invalid_amount")]


@pytest.mark.parametrize(
    ("row", "refusal"),
    [
        ("2026-11-02,1.00,1.00,EUR", [("rows.2.amount", "debit_or_credit")]),
        ("2026-11-02,,,EUR", [("rows.2.amount", "debit_or_credit")]),
        ("2026-11-02,,-1.00,EUR", [("rows.2.credit", "negative_credit")]),
        ("2026-11-02,abc,,EUR", [("rows.2.debit", "invalid_amount")]),
        ("2026-11-02,1.00,,USD", [("rows.2.currency", "currency_mismatch")]),
    ],
)  # fmt: skip
def test_debit_credit_and_currency_refusals(row: str, refusal: list[tuple[str, str]]) -> None:
    mapping = _mapping(
        columns={"date": "Date", "debit": "Out", "credit": "In", "currency": "Currency"}
    )
    assert _refusal(f"Date,Out,In,Currency\n{row}\n", mapping) == refusal


def test_files_without_lines_bad_bytes_and_broken_quotes_are_refused() -> None:
    assert _refusal("Date,Amount,Ref,Text\n\n", _mapping()) == [("content", "no_lines")]
    assert _refusal(b"Date,Amount\n2026-11-02,\xff\n", _mapping()) == [("content", "bad_encoding")]
    assert _refusal('Date,Amount,Ref,Text\n2026-11-02,1.00,"open\n', _mapping()) == [
        ("rows.2", "malformed_csv")
    ]


def test_a_file_of_more_lines_than_a_statement_holds_is_refused() -> None:
    rows = "".join("2026-11-02,1.00,,\n" for _ in range(2001))

    assert _refusal("Date,Amount,Ref,Text\n" + rows, _mapping()) == [
        ("rows.2002", "too_many_lines")
    ]


@pytest.mark.parametrize(
    "separators",
    [{"decimal_separator": ","}, {"thousands_separator": ","}],
)
def test_without_a_header_a_delimiter_that_is_also_a_separator_is_refused(
    separators: dict[str, str],
) -> None:
    # "1,250.00" would be two cells, and nothing would show the amount was split.
    mapping = _mapping(columns={"date": 1, "amount": 2}, has_header=False, **separators)
    assert _refusal("2026-01-01,1,250.00\n", mapping) == [("csv.delimiter", "separators_clash")]


def test_a_row_with_more_cells_than_the_header_is_refused_naming_it() -> None:
    text = "Date,Amount,Ref,Text\n2026-01-01,12.50,R1,Customer\n2026-01-02,12,50,R2,Other\n"
    assert _refusal(text, _mapping()) == [("rows.3", "extra_columns")]


def test_dates_are_ascii_digits_only() -> None:
    text = "Date,Amount,Ref,Text\n\u0662\u0660\u0662\u0666-01-01,12.50,R1,Customer\n"
    assert _refusal(text, _mapping()) == [("rows.2.date", "invalid_date")]
