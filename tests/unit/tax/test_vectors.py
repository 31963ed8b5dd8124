"""Hand-computed vectors: the arithmetic is written beside each expected figure."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.tax import LineResult, Reason, TaxCalculation

from .support import D, line, locality_catalog, payload, run, totals, two_tax_catalog

SR, RR, ZR = Reason.STANDARD_RATED, Reason.REDUCED_RATED, Reason.ZERO_RATED

# (id, request body, (net, tax, gross)) for one-document cases whose totals say it all.
TOTALS_VECTORS = [
    # DE 19 %: 2 * 10.00 = 20.00; 20.00 * 0.19 = 3.80; 20.00 + 3.80 = 23.80
    ("de_standard", payload(line("2", "10.00")), ("20.00", "3.80", "23.80")),
    # DE 7 %: 3 * 4.99 = 14.97; 14.97 * 0.07 = 1.0479 -> 1.05; 16.02
    (
        "de_reduced",
        payload(line("3", "4.99", tax_category="reduced")),
        ("14.97", "1.05", "16.02"),
    ),
    # NL 21 %: 0.50 * 0.21 = 0.105, a tie; half_up -> 0.11
    ("tie_half_up", payload(line("1", "0.50"), place="NL"), ("0.50", "0.11", "0.61")),
    # NL 21 %: 0.105 half_even -> 0.10 (0 is even)
    (
        "tie_half_even",
        payload(line("1", "0.50"), place="NL", rounding="half_even"),
        ("0.50", "0.10", "0.60"),
    ),
    # DE 7 %: 1.50 * 0.07 = 0.105; half_up -> 0.11
    (
        "tie_reduced_half_up",
        payload(line("1", "1.50", tax_category="reduced")),
        ("1.50", "0.11", "1.61"),
    ),
    # DE 7 %: 0.105 half_even -> 0.10
    (
        "tie_reduced_half_even",
        payload(line("1", "1.50", tax_category="reduced"), rounding="half_even"),
        ("1.50", "0.10", "1.60"),
    ),
    # Credit note, NL 21 %: -1 * 0.50 = -0.50; -0.105 half_up rounds away from zero -> -0.11
    (
        "credit_tie_half_up",
        payload(line("-1", "0.50"), place="NL", document_type="credit_note"),
        ("-0.50", "-0.11", "-0.61"),
    ),
    # Credit note: -0.105 half_even -> -0.10
    (
        "credit_tie_half_even",
        payload(line("-1", "0.50"), place="NL", document_type="credit_note", rounding="half_even"),
        ("-0.50", "-0.10", "-0.60"),
    ),
    # CA-NS HST on the day before the cut: 100.00 * 0.15 = 15.00
    (
        "ns_hst_day_before",
        payload(line("1", "100.00", "CAD"), place="CA-NS", on="2025-03-31", currency="CAD"),
        ("100.00", "15.00", "115.00"),
    ),
    # CA-NS HST on the day of the cut: 100.00 * 0.14 = 14.00
    (
        "ns_hst_day_of",
        payload(line("1", "100.00", "CAD"), place="CA-NS", on="2025-04-01", currency="CAD"),
        ("100.00", "14.00", "114.00"),
    ),
    # DE the day before the 2020 cut: 100.00 * 0.19 = 19.00
    ("de_2020_06_30", payload(line("1", "100.00"), on="2020-06-30"), ("100.00", "19.00", "119.00")),
    # DE first day of the temporary rate: 100.00 * 0.16 = 16.00
    ("de_2020_07_01", payload(line("1", "100.00"), on="2020-07-01"), ("100.00", "16.00", "116.00")),
    # DE last day of the temporary rate: still 16 %
    ("de_2020_12_31", payload(line("1", "100.00"), on="2020-12-31"), ("100.00", "16.00", "116.00")),
    # DE back to 19 % on 2021-01-01
    ("de_2021_01_01", payload(line("1", "100.00"), on="2021-01-01"), ("100.00", "19.00", "119.00")),
    # NL reduced on 2018-12-31: 50.00 * 0.06 = 3.00
    (
        "nl_reduced_2018",
        payload(line("1", "50.00", tax_category="reduced"), place="NL", on="2018-12-31"),
        ("50.00", "3.00", "53.00"),
    ),
    # NL reduced from 2019-01-01: 50.00 * 0.09 = 4.50
    (
        "nl_reduced_2019",
        payload(line("1", "50.00", tax_category="reduced"), place="NL", on="2019-01-01"),
        ("50.00", "4.50", "54.50"),
    ),
    # DE inclusive: 119.00 / 1.19 = 100.00 exactly; tax 19.00
    (
        "inclusive_exact",
        payload(line("1", "119.00"), price_mode="inclusive"),
        ("100.00", "19.00", "119.00"),
    ),
    # DE inclusive: 10.00 / 1.19 = 8.403361...; tax = 8.403361 * 0.19 = 1.596638... -> 1.60;
    # net = 10.00 - 1.60 = 8.40
    (
        "inclusive_extracted",
        payload(line("1", "10.00"), price_mode="inclusive"),
        ("8.40", "1.60", "10.00"),
    ),
    # JPY, JP 10 %: 3 * 333 = 999; 999 * 0.10 = 99.9 -> 100; 1099
    (
        "jpy_standard",
        payload(line("3", "333", "JPY"), place="JP", currency="JPY", seller="JP"),
        ("999", "100", "1099"),
    ),
    # JPY inclusive 8 %: 1080 / 1.08 = 1000; tax 80
    (
        "jpy_inclusive_exact",
        payload(
            line("1", "1080", "JPY", tax_category="reduced"),
            place="JP",
            currency="JPY",
            price_mode="inclusive",
        ),
        ("1000", "80", "1080"),
    ),
    # JPY inclusive 8 %: 1000 / 1.08 = 925.925...; tax 74.074... -> 74; net 1000 - 74 = 926
    (
        "jpy_inclusive_extracted",
        payload(
            line("1", "1000", "JPY", tax_category="reduced"),
            place="JP",
            currency="JPY",
            price_mode="inclusive",
        ),
        ("926", "74", "1000"),
    ),
    # BHD (3 decimals), BH 10 %: 1.245 * 0.10 = 0.1245, a tie; half_up -> 0.125
    (
        "bhd_tie_half_up",
        payload(line("1", "1.245", "BHD"), place="BH", currency="BHD"),
        ("1.245", "0.125", "1.370"),
    ),
    # BHD: 0.1245 half_even -> 0.124 (4 is even)
    (
        "bhd_tie_half_even",
        payload(line("1", "1.245", "BHD"), place="BH", currency="BHD", rounding="half_even"),
        ("1.245", "0.124", "1.369"),
    ),
    # BH on 2021-12-31 (5 %): 3 * 2.345 = 7.035; 7.035 * 0.05 = 0.35175 -> 0.352
    (
        "bhd_5_percent",
        payload(line("3", "2.345", "BHD"), place="BH", currency="BHD", on="2021-12-31"),
        ("7.035", "0.352", "7.387"),
    ),
    # BH from 2022-01-01 (10 %): 7.035 * 0.10 = 0.7035 -> half_up 0.704
    (
        "bhd_10_percent",
        payload(line("3", "2.345", "BHD"), place="BH", currency="BHD", on="2022-01-01"),
        ("7.035", "0.704", "7.739"),
    ),
    # Percentage discount: 4 * 12.50 = 50.00; 10 % = 5.00; net 45.00; VAT 8.55; 53.55
    (
        "discount_percent",
        payload(line("4", "12.50", discount_percent="10")),
        ("45.00", "8.55", "53.55"),
    ),
    # Amount discount: 3 * 19.99 = 59.97; - 7.50 = 52.47; * 0.19 = 9.9693 -> 9.97; 62.44
    (
        "discount_amount",
        payload(line("3", "19.99", discount_amount={"amount": "7.50", "currency": "EUR"})),
        ("52.47", "9.97", "62.44"),
    ),
    # Rounded percentage discount: 9.99 * 12.5 % = 1.24875 -> 1.25; net 8.74;
    # 8.74 * 0.19 = 1.6606 -> 1.66; 10.40
    (
        "discount_percent_rounded",
        payload(line("1", "9.99", discount_percent="12.5")),
        ("8.74", "1.66", "10.40"),
    ),
    # Credit note with an amount discount: -2 * 10.00 = -20.00; discount 5.00 shrinks it to
    # -15.00; * 0.19 = -2.85; -17.85
    (
        "credit_note_discount",
        payload(
            line("-2", "10.00", discount_amount={"amount": "5.00", "currency": "EUR"}),
            document_type="credit_note",
        ),
        ("-15.00", "-2.85", "-17.85"),
    ),
    # Fractional quantity: 1.5 * 0.99 = 1.485 -> half_up 1.49; 1.49 * 0.19 = 0.2831 -> 0.28
    ("fractional_half_up", payload(line("1.5", "0.99")), ("1.49", "0.28", "1.77")),
    # 1.485 -> half_even 1.48; 1.48 * 0.19 = 0.2812 -> 0.28
    (
        "fractional_half_even",
        payload(line("1.5", "0.99"), rounding="half_even"),
        ("1.48", "0.28", "1.76"),
    ),
    # CA-ON: HST 13 % replaces GST: 100.00 * 0.13 = 13.00
    (
        "ontario_hst",
        payload(line("1", "100.00", "CAD"), place="CA-ON", currency="CAD"),
        ("100.00", "13.00", "113.00"),
    ),
    # A line naming its own place of supply: document DE, line FR 20 %: 10.00 -> 2.00
    (
        "line_place_of_supply",
        payload(line("1", "10.00", place_of_supply="FR")),
        ("10.00", "2.00", "12.00"),
    ),
    # FR custom category "intermediate" (10 %): 25.00 * 0.10 = 2.50
    (
        "custom_category",
        payload(line("1", "25.00", tax_category="intermediate"), place="FR"),
        ("25.00", "2.50", "27.50"),
    ),
    # FR super-reduced 2.1 %: 10.00 * 0.021 = 0.21
    (
        "super_reduced",
        payload(line("1", "10.00", tax_category="super_reduced"), place="FR"),
        ("10.00", "0.21", "10.21"),
    ),
    # ES super-reduced 4 %: 2 * 1.25 = 2.50 * 0.04 = 0.10
    (
        "es_super_reduced",
        payload(line("2", "1.25", tax_category="super_reduced"), place="ES"),
        ("2.50", "0.10", "2.60"),
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"),
    [pytest.param(body, expected, id=name) for name, body, expected in TOTALS_VECTORS],
)
def test_totals_vector(body: dict[str, object], expected: tuple[str, str, str]) -> None:
    result = run(body)
    assert totals(result) == tuple(D(x) for x in expected)
    assert [str(x) for x in totals(result)] == list(expected)  # currency exponent kept
    assert result.lines[0].net + result.lines[0].tax == result.lines[0].gross


def _taxes(result_line: LineResult) -> list[tuple[str, str | None, str, str, str, Reason]]:
    return [
        (t.jurisdiction, t.tax, str(t.rate), str(t.taxable_amount), str(t.tax_amount), t.reason)
        for t in result_line.taxes
    ]


def test_each_line_explains_rate_jurisdiction_and_reason() -> None:
    # DE 19 %: 20.00 taxable, 3.80 tax
    result = run(payload(line("2", "10.00")))
    assert _taxes(result.lines[0]) == [("DE", "VAT", "19", "20.00", "3.80", SR)]
    assert [(r.jurisdiction, r.tax, r.rate, r.reason) for r in result.breakdown] == [
        ("DE", "VAT", D("19"), SR)
    ]


def test_rates_by_category_in_one_document() -> None:
    # 100.00 * 19 % = 19.00 and 100.00 * 7 % = 7.00: two breakdown rows, tax 26.00
    result = run(payload(line("1", "100.00"), line("1", "100.00", tax_category="reduced")))
    assert [(str(r.rate), str(r.tax_amount), r.reason) for r in result.breakdown] == [
        ("19", "19.00", SR),
        ("7", "7.00", RR),
    ]
    assert totals(result) == (D("200.00"), D("26.00"), D("226.00"))


def test_zero_rated_and_exempt_are_reported_apart() -> None:
    # IE: 10.00 zero-rated (0 %, zero_rated) + 10.00 exempt (no tax, product_exempt)
    result = run(
        payload(
            line("1", "10.00", tax_category="zero_rated"),
            line("1", "10.00", tax_category="exempt"),
            place="IE",
        )
    )
    assert _taxes(result.lines[0]) == [("IE", "VAT", "0", "10.00", "0.00", ZR)]
    assert _taxes(result.lines[1]) == [("IE", "VAT", "0", "10.00", "0.00", Reason.PRODUCT_EXEMPT)]
    assert [(r.reason, str(r.taxable_amount)) for r in result.breakdown] == [
        (ZR, "10.00"),
        (Reason.PRODUCT_EXEMPT, "10.00"),
    ]
    assert totals(result) == (D("20.00"), D("0.00"), D("20.00"))


def test_per_line_rounding_half_up_three_ties() -> None:
    # NL 21 % on 0.50 = 0.105 per line -> 0.11 each; tax 0.33
    result = run(payload(*[line("1", "0.50")] * 3, place="NL"))
    assert [line_.tax for line_ in result.lines] == [D("0.11")] * 3
    assert result.tax == D("0.33")


def test_per_document_rounding_half_up_three_ties() -> None:
    # 3 * 0.105 = 0.315 -> 0.32 once. Allocation: each line rounds to 0.11 (sum 0.33), one unit
    # too many; every residual is -0.005, the tie goes to the first line: 0.10, 0.11, 0.11.
    result = run(payload(*[line("1", "0.50")] * 3, place="NL", rounding_scope="document"))
    assert [line_.tax for line_ in result.lines] == [D("0.10"), D("0.11"), D("0.11")]
    assert totals(result) == (D("1.50"), D("0.32"), D("1.82"))


def test_per_line_vs_per_document_half_even_differ_by_two_units() -> None:
    # half_even: each 0.105 -> 0.10, per-line total 0.30; per-document 0.315 -> 0.32.
    # Allocation: shares 0.10 each (0.30), two units short, residuals +0.005 each:
    # the first two lines get one unit each: 0.11, 0.11, 0.10.
    lines = [line("1", "0.50")] * 3
    per_line = run(payload(*lines, place="NL", rounding="half_even"))
    per_document = run(payload(*lines, place="NL", rounding="half_even", rounding_scope="document"))
    assert per_line.tax == D("0.30")
    assert per_document.tax == D("0.32")
    assert [line_.tax for line_ in per_document.lines] == [D("0.11"), D("0.11"), D("0.10")]


def test_per_document_rounding_recovers_lost_cents() -> None:
    # DE 19 %: 0.13 * 0.19 = 0.0247 -> 0.02 per line, 0.06 over 3 lines;
    # per document 0.0741 -> 0.07; the extra unit goes to the first line (equal residuals).
    lines = [line("1", "0.13")] * 3
    assert run(payload(*lines)).tax == D("0.06")
    result = run(payload(*lines, rounding_scope="document"))
    assert [line_.tax for line_ in result.lines] == [D("0.03"), D("0.02"), D("0.02")]
    assert result.breakdown[0].tax_amount == D("0.07")


def test_per_document_inclusive_allocation_keeps_lines_exact() -> None:
    # DE inclusive 0.10 gross: tax 0.10 / 1.19 * 0.19 = 0.015966... -> 0.02 per line (0.06);
    # per document 3 * 0.015966 = 0.047899 -> 0.05: one unit back from the first line.
    # Lines: tax 0.01/0.02/0.02, net 0.09/0.08/0.08; net 0.25 + tax 0.05 = gross 0.30
    result = run(
        payload(*[line("1", "0.10")] * 3, price_mode="inclusive", rounding_scope="document")
    )
    assert [(ln.net, ln.tax, ln.gross) for ln in result.lines] == [
        (D("0.09"), D("0.01"), D("0.10")),
        (D("0.08"), D("0.02"), D("0.10")),
        (D("0.08"), D("0.02"), D("0.10")),
    ]
    assert totals(result) == (D("0.25"), D("0.05"), D("0.30"))


def test_inclusive_multi_tax_extraction() -> None:
    # CA-BC GST 5 % + PST 7 %: 9.99 / 1.12 = 8.919642...; GST 0.445982 -> 0.45;
    # PST 0.624375 -> 0.62; net = 9.99 - 1.07 = 8.92
    result = run(
        payload(line("1", "9.99", "CAD"), place="CA-BC", currency="CAD", price_mode="inclusive")
    )
    assert [t.tax_amount for t in result.lines[0].taxes] == [D("0.45"), D("0.62")]
    assert totals(result) == (D("8.92"), D("1.07"), D("9.99"))


def test_inclusive_compound_extraction() -> None:
    # QC 2012 (QST 9.5 % compound on price + GST): factor 1 + 0.05 + 0.095 * 1.05 = 1.14975;
    # 114.98 / 1.14975 = 100.004348...; GST 5.000217 -> 5.00; QST 9.975434 -> 9.98;
    # net = 114.98 - 14.98 = 100.00; QST base shown = 100.00 + 5.00 = 105.00
    result = run(
        payload(
            line("1", "114.98", "CAD"),
            place="CA-QC",
            currency="CAD",
            on="2012-06-01",
            price_mode="inclusive",
        )
    )
    assert _taxes(result.lines[0]) == [
        ("CA", "GST", "5", "100.00", "5.00", SR),
        ("CA-QC", "QST", "9.5", "105.00", "9.98", SR),
    ]
    assert totals(result) == (D("100.00"), D("14.98"), D("114.98"))


def test_quebec_2012_compound_qst() -> None:
    # Revenu Quebec's own 2012 example: GST 100.00 * 5 % = 5.00;
    # QST (100.00 + 5.00) * 9.5 % = 9.975 -> 9.98; total 114.98
    result = run(
        payload(line("1", "100.00", "CAD"), place="CA-QC", currency="CAD", on="2012-06-01")
    )
    assert _taxes(result.lines[0]) == [
        ("CA", "GST", "5", "100.00", "5.00", SR),
        ("CA-QC", "QST", "9.5", "105.00", "9.98", SR),
    ]
    assert result.lines[0].taxes[1].compound
    assert totals(result) == (D("100.00"), D("14.98"), D("114.98"))


def test_quebec_2013_harmonized_qst() -> None:
    # From 2013-01-01: QST 100.00 * 9.975 % = 9.975 -> 9.98 on the price alone; total 114.98
    result = run(
        payload(line("1", "100.00", "CAD"), place="CA-QC", currency="CAD", on="2013-01-01")
    )
    assert _taxes(result.lines[0])[1] == ("CA-QC", "QST", "9.975", "100.00", "9.98", SR)
    assert not result.lines[0].taxes[1].compound
    assert result.gross == D("114.98")


@pytest.mark.parametrize(
    ("first_order", "second_order", "expected_a", "expected_b"),
    [
        # A first (10 % of 100.00 = 10.00), then compound B: 10 % of 110.00 = 11.00
        pytest.param(10, 20, "10.00", "11.00", id="compound_after"),
        # B first: nothing before it, 10 % of 100.00 = 10.00; then A: 10.00
        pytest.param(30, 20, "10.00", "10.00", id="compound_first"),
    ],
)
def test_compound_order(
    first_order: int, second_order: int, expected_a: str, expected_b: str
) -> None:
    catalog = two_tax_catalog(
        first_order=first_order, second_order=second_order, second_compound=True
    )
    result = run(payload(line("1", "100.00"), place="XA"), catalog)
    amounts = {t.tax: str(t.tax_amount) for t in result.lines[0].taxes}
    assert amounts == {"A": expected_a, "B": expected_b}
    order = [t.tax for t in result.lines[0].taxes]
    assert order == (["A", "B"] if first_order < second_order else ["B", "A"])


def test_multi_tax_line_british_columbia() -> None:
    # GST 100.00 * 5 % = 5.00 (jurisdiction CA) + PST 100.00 * 7 % = 7.00 (CA-BC) = 12.00
    result = run(payload(line("1", "100.00", "CAD"), place="CA-BC", currency="CAD"))
    assert _taxes(result.lines[0]) == [
        ("CA", "GST", "5", "100.00", "5.00", SR),
        ("CA-BC", "PST", "7", "100.00", "7.00", SR),
    ]
    assert [(j.jurisdiction, j.tax_amount) for j in result.jurisdictions] == [
        ("CA", D("5.00")),
        ("CA-BC", D("7.00")),
    ]
    assert totals(result) == (D("100.00"), D("12.00"), D("112.00"))


def test_multi_tax_line_with_one_tax_exempt() -> None:
    # Children's clothing in BC: GST 40.00 * 5 % = 2.00; PST exempt -> 0.00; gross 42.00
    result = run(
        payload(
            line("1", "40.00", "CAD", tax_category="childrens_clothing"),
            place="CA-BC",
            currency="CAD",
        )
    )
    assert _taxes(result.lines[0]) == [
        ("CA", "GST", "5", "40.00", "2.00", SR),
        ("CA-BC", "PST", "0", "40.00", "0.00", Reason.PRODUCT_EXEMPT),
    ]
    assert result.lines[0].reasons == (SR, Reason.PRODUCT_EXEMPT)
    assert result.gross == D("42.00")


def test_three_levels_of_jurisdiction() -> None:
    # 200.00: federal 5 % = 10.00; regional 2.5 % = 5.00; city 1.375 % = 2.75; tax 17.75
    result = run(payload(line("1", "200.00"), place="XB-R1/CITY"), locality_catalog())
    assert [(t.jurisdiction, t.tax_amount) for t in result.lines[0].taxes] == [
        ("XB", D("10.00")),
        ("XB-R1", D("5.00")),
        ("XB-R1/CITY", D("2.75")),
    ]
    assert totals(result) == (D("200.00"), D("17.75"), D("217.75"))


def test_not_subject_to_tax() -> None:
    # Oregon levies no sales tax: 100.00 stays 100.00
    result = run(payload(line("1", "100.00", "USD"), place="US-OR", currency="USD", seller="US"))
    assert _taxes(result.lines[0]) == [
        ("US-OR", None, "0", "100.00", "0.00", Reason.NOT_SUBJECT_TO_TAX)
    ]
    assert totals(result) == (D("100.00"), D("0.00"), D("100.00"))


def _cross_border(buyer: dict[str, object], seller: str = "DE") -> dict[str, object]:
    return payload(line("1", "1000.00"), place="FR", seller=seller, buyer=buyer)


def test_reverse_charge_eu_b2b() -> None:
    # DE seller, FR buyer with a VAT id: no VAT, reason reverse_charge, buyer id carried
    result = run(_cross_border({"country": "FR", "tax_id": "FR40303265045"}))
    assert _taxes(result.lines[0]) == [("FR", "VAT", "0", "1000.00", "0.00", Reason.REVERSE_CHARGE)]
    assert result.reverse_charge is not None
    assert result.reverse_charge.buyer_tax_id == "FR40303265045"
    assert result.to_json()["reverse_charge"]["buyer_tax_id"] == "FR40303265045"
    assert totals(result) == (D("1000.00"), D("0.00"), D("1000.00"))


def test_no_reverse_charge_without_buyer_vat_id() -> None:
    # Same sale to a consumer: FR 20 % = 200.00
    result = run(_cross_border({"country": "FR"}))
    assert result.tax == D("200.00")
    assert result.reverse_charge is None


def test_no_reverse_charge_within_one_member_state() -> None:
    # DE seller, DE buyer with VAT id, place DE: domestic, 1000.00 * 19 % = 190.00
    body = payload(line("1", "1000.00"), buyer={"country": "DE", "tax_id": "DE136695976"})
    assert run(body).tax == D("190.00")


def test_no_reverse_charge_for_a_non_eu_seller() -> None:
    # US seller, FR business buyer: not an intra-EU supply, FR 20 % = 200.00
    result = run(_cross_border({"country": "FR", "tax_id": "FR40303265045"}, seller="US"))
    assert result.tax == D("200.00")


def test_exempt_supply_stays_product_exempt_under_reverse_charge() -> None:
    body = payload(
        line("1", "50.00", tax_category="exempt"),
        place="FR",
        buyer={"country": "FR", "tax_id": "FR40303265045"},
    )
    assert run(body).lines[0].taxes[0].reason is Reason.PRODUCT_EXEMPT


def _certified(
    on: str, valid_to: str = "2025-06-01", jurisdiction: str = "US-CA"
) -> TaxCalculation:
    certificate = {
        "id": "CERT-1",
        "jurisdiction": jurisdiction,
        "valid_from": "2024-01-01",
        "valid_to": valid_to,
    }
    return run(
        payload(
            line("1", "100.00", "USD"),
            place="US-CA",
            currency="USD",
            seller="US",
            on=on,
            buyer={"country": "US", "exemption_certificates": [certificate]},
        )
    )


def test_exemption_certificate_valid_on_its_last_day() -> None:
    # valid_to 2025-06-01 is exclusive: on 2025-05-31 the buyer is exempt, tax 0.00
    result = _certified("2025-05-31")
    assert result.lines[0].taxes[0].reason is Reason.CUSTOMER_EXEMPT
    assert result.tax == D("0.00")


def test_expired_exemption_certificate_does_not_exempt() -> None:
    # On 2025-06-01 the certificate has expired: 100.00 * 7.25 % = 7.25
    result = _certified("2025-06-01")
    assert result.lines[0].taxes[0].reason is SR
    assert result.tax == D("7.25")


def test_certificate_of_another_jurisdiction_does_not_exempt() -> None:
    # A New York certificate is no use in California: 7.25
    result = _certified("2025-01-15", valid_to="2026-01-01", jurisdiction="US-NY")
    assert result.tax == D("7.25")


def test_certificate_limited_to_one_tax() -> None:
    # BC certificate for PST only: GST 100.00 * 5 % = 5.00 still due, PST exempt
    certificate = {
        "id": "PST-EX",
        "jurisdiction": "CA-BC",
        "tax": "PST",
        "valid_from": "2020-01-01",
    }
    result = run(
        payload(
            line("1", "100.00", "CAD"),
            place="CA-BC",
            currency="CAD",
            buyer={"country": "CA", "exemption_certificates": [certificate]},
        )
    )
    assert [t.reason for t in result.lines[0].taxes] == [SR, Reason.CUSTOMER_EXEMPT]
    assert result.tax == D("5.00")


def test_credit_note_mirrors_invoice() -> None:
    # Invoice 3 * 19.99 = 59.97, VAT 11.3943 -> 11.39; the credit note is the exact negative.
    invoice = run(payload(line("3", "19.99"), rounding_scope="document"))
    credit = run(
        payload(line("-3", "19.99"), rounding_scope="document", document_type="credit_note")
    )
    assert totals(invoice) == (D("59.97"), D("11.39"), D("71.36"))
    assert totals(credit) == (-invoice.net, -invoice.tax, -invoice.gross)


def test_to_json_uses_decimal_strings() -> None:
    # 0 VAT on a credit note is computed as -0; it is printed "0.00"
    document = run(
        payload(line("-1", "10.00", tax_category="exempt"), document_type="credit_note")
    ).to_json()
    assert document["totals"] == {"net": "-10.00", "tax": "0.00", "gross": "-10.00"}
    assert document["lines"][0]["taxes"][0]["rate"] == "0"
    assert document["lines"][0]["reasons"] == ["product_exempt"]
    jpy = run(payload(line("1", "1000", "JPY"), place="JP", currency="JPY")).to_json()
    assert jpy["totals"] == {"net": "1000", "tax": "100", "gross": "1100"}
    assert isinstance(Decimal(jpy["totals"]["tax"]), Decimal)
