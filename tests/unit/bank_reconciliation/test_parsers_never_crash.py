"""Whatever a file holds, reading it either gives lines or a 422: never another error."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.bank_reconciliation.camt053 import parse_camt053
from shared.bank_reconciliation.csv_format import parse_csv
from shared.bank_reconciliation.requests import CsvMapping
from shared.errors import ValidationError

MAPPING = CsvMapping.model_validate_json(
    orjson.dumps(
        {
            "columns": {"date": 1, "amount": 2, "reference": 3, "value_date": 4},
            "has_header": False,
            "delimiter": ";",
            "decimal_separator": ",",
            "thousands_separator": ".",
        }
    )
)
CELLS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["2026-11-02", "9999-12-31", "0001-01-01", "1.234,56", "-0,01", "\x00"]),
)
ROWS = st.lists(st.lists(CELLS, max_size=6).map(";".join), max_size=8).map("\n".join)


@settings(max_examples=150, deadline=None)
@given(ROWS)
def test_any_csv_is_lines_or_a_refusal(text: str) -> None:
    try:
        statement = parse_csv(text.encode(), MAPPING, "EUR")
    except ValidationError as refused:
        assert refused.errors and all(e.field for e in refused.errors)
    else:
        assert statement.lines and statement.period_start <= statement.period_end


TAGS = st.sampled_from(
    ["Document", "BkToCstmrStmt", "Stmt", "Ntry", "Amt", "CdtDbtInd", "BookgDt", "Dt", "Sts"]
)


@st.composite
def xml_trees(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(TAGS)
    if depth > 4 or draw(st.booleans()):
        inner = draw(st.sampled_from(["", "CRDT", "BOOK", "12.50", "2026-11-02", "&amp;", "<"]))
    else:
        inner = "".join(draw(st.lists(xml_trees(depth + 1), max_size=3)))
    attribute = draw(st.sampled_from(["", ' Ccy="EUR"', ' Ccy="USD"']))
    return f"<{tag}{attribute}>{inner}</{tag}>"


@settings(max_examples=150, deadline=None)
@given(xml_trees())
def test_any_xml_is_lines_or_a_refusal(document: str) -> None:
    try:
        statement = parse_camt053(document.encode(), "EUR")
    except ValidationError as refused:
        assert refused.errors and all(e.field for e in refused.errors)
    else:
        assert statement.lines
