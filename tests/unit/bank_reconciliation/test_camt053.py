"""CAMT.053: a realistic day statement, and every refusal naming its entry and field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from shared.bank_reconciliation.camt053 import parse_camt053
from shared.errors import ValidationError

SAMPLE = (Path(__file__).parent / "samples" / "camt053_day.xml").read_bytes()
NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"


def _document(*entries: str, account_currency: str = "EUR", statements: int = 1) -> bytes:
    statement = (
        f"<Stmt><Id>S-1</Id><Acct><Id><IBAN>DE1</IBAN></Id><Ccy>{account_currency}</Ccy></Acct>"
        + "".join(entries)
        + "</Stmt>"
    )
    return (
        f'<?xml version="1.0"?><Document xmlns="{NS}"><BkToCstmrStmt>'
        + statement * statements
        + "</BkToCstmrStmt></Document>"
    ).encode()


def _entry(
    amount: str = "10.00",
    currency: str = "EUR",
    indicator: str = "CRDT",
    booking: str = "<BookgDt><Dt>2026-11-02</Dt></BookgDt>",
    status: str = "<Sts><Cd>BOOK</Cd></Sts>",
) -> str:
    return (
        f'<Ntry><Amt Ccy="{currency}">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>'
        f"{status}{booking}<AcctSvcrRef>REF-1</AcctSvcrRef></Ntry>"
    )


def _refusal(content: bytes, currency: str = "EUR") -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as refused:
        parse_camt053(content, currency)
    return [(e.field, e.code) for e in refused.value.errors]


def test_the_sample_day_statement_reads_as_its_booked_entries() -> None:
    statement = parse_camt053(SAMPLE, "EUR")

    assert (statement.period_start, statement.period_end) == (date(2026, 11, 2), date(2026, 11, 3))
    assert statement.bank_reference == "2026-11-03-DE89370400440532013000"
    assert statement.skipped == 1  # the pending entry
    first, second, third = statement.lines
    assert (first.number, first.amount_minor, first.booking_date, first.value_date) == (
        1, 125000, date(2026, 11, 2), date(2026, 11, 2),
    )  # fmt: skip
    assert (first.reference, first.end_to_end_id) == ("2026110200012345", "INV-1042")
    assert first.description == "Invoice INV-1042 October"
    assert (second.amount_minor, second.end_to_end_id) == (-8990, "")  # NOTPROVIDED
    assert second.description == "RF18539007547034"
    assert (third.amount_minor, third.booking_date, third.value_date) == (
        -350, date(2026, 11, 3), date(2026, 11, 4),
    )  # fmt: skip
    assert (third.reference, third.description) == ("FEES-NOV", "Account maintenance fee")


def test_any_version_of_the_namespace_reads_the_same() -> None:
    statement = parse_camt053(_document(_entry("12.5", indicator="DBIT")), "EUR")

    assert [line.amount_minor for line in statement.lines] == [-1250]
    assert statement.lines[0].reference == "REF-1"


def test_a_booking_date_falls_back_to_the_value_date() -> None:
    booking = "<ValDt><DtTm>2026-11-05T09:00:00Z</DtTm></ValDt>"
    [line] = parse_camt053(_document(_entry(booking=booking)), "EUR").lines

    assert line.booking_date == line.value_date == date(2026, 11, 5)


@pytest.mark.parametrize(
    "content",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        b"<Document>&lol2;</Document>",
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<Document>&x;</Document>",
        b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://example.com/d.dtd"><Document/>',
    ],
    ids=["entity_expansion", "external_entity", "external_dtd"],
)
def test_a_document_type_declaration_is_refused_before_anything_expands(content: bytes) -> None:
    assert _refusal(content) == [("content", "unsafe_xml")]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"<Document><BkToCstmrStmt>", "unreadable_xml"),
        (b"Date,Amount\n2026-11-02,10.00\n", "unreadable_xml"),
        (b"<Document><BkToCstmrNtfctn/></Document>", "not_camt053"),
        (b"<Other><BkToCstmrStmt/></Other>", "not_camt053"),
        (_document(_entry(), statements=2), "statement_count"),
        (_document(_entry(status="<Sts>PDNG</Sts>")), "no_lines"),
        (_document(), "no_lines"),
    ],
)
def test_a_file_that_is_not_one_statement_is_refused_on_content(content: bytes, code: str) -> None:
    assert _refusal(content) == [("content", code)]


def test_elements_nested_absurdly_deep_are_refused() -> None:
    content = b"<Document>" + b"<a>" * 100 + b"</a>" * 100 + b"</Document>"

    assert _refusal(content) == [("content", "unsafe_xml")]


@pytest.mark.parametrize(
    ("entry", "field", "code"),
    [
        (_entry(currency="USD"), "entries.1.amount", "currency_mismatch"),
        (_entry(amount="-10.00"), "entries.1.amount", "invalid_amount"),
        (_entry(amount="1e3"), "entries.1.amount", "invalid_amount"),
        (_entry(amount="10.005"), "entries.1.amount", "too_many_decimals"),
        (_entry(amount="0.00"), "entries.1.amount", "amount_zero"),
        (_entry(amount=""), "entries.1.amount", "missing_amount"),
        (_entry(indicator="CRED"), "entries.1.credit_debit", "invalid_indicator"),
        (_entry(booking=""), "entries.1.booking_date", "invalid_date"),
        (_entry(booking="<BookgDt><Dt>2026-02-30</Dt></BookgDt>"), "entries.1.booking_date",
         "invalid_date"),
    ],
)  # fmt: skip
def test_each_bad_entry_is_named_with_its_field(entry: str, field: str, code: str) -> None:
    assert _refusal(_document(_entry(), entry)) == [(field.replace("1", "2", 1), code)]


def test_a_statement_of_another_currency_is_refused() -> None:
    refusal = _refusal(_document(_entry(currency="USD"), account_currency="USD"))

    assert refusal == [
        ("content.Acct.Ccy", "currency_mismatch"),
        ("entries.1.amount", "currency_mismatch"),
    ]


def test_the_sample_in_another_currency_is_refused_entry_by_entry() -> None:
    refusal = _refusal(SAMPLE, "CHF")

    assert ("content.Acct.Ccy", "currency_mismatch") in refusal
    assert [f for f, c in refusal if c == "currency_mismatch" and f.startswith("entries.")] == [
        "entries.1.amount", "entries.2.amount", "entries.3.amount",
    ]  # fmt: skip
