"""The documented import examples are statements, not only valid request shapes."""

from __future__ import annotations

import orjson
import pytest

from shared.bank_reconciliation.requests import ImportStatementRequest
from shared.bank_reconciliation.service import decoded_content, parse_statement

EXAMPLES = ImportStatementRequest.model_json_schema()["examples"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example_{i}" for i in range(len(EXAMPLES))])
def test_each_import_example_reads_as_a_statement(example: dict[str, object]) -> None:
    request = ImportStatementRequest.model_validate_json(orjson.dumps(example))

    statement = parse_statement(request, decoded_content(request), "EUR")

    assert statement.lines
    assert all(line.amount_minor != 0 for line in statement.lines)


def test_the_first_example_leaves_its_debit_on_the_files_third_line() -> None:
    # The end-to-end walk of the examples matches this line by hand as r000003.
    request = ImportStatementRequest.model_validate_json(orjson.dumps(EXAMPLES[0]))
    lines = parse_statement(request, decoded_content(request), "EUR").lines

    assert [(line.number, line.amount_minor) for line in lines] == [(2, 125000), (3, -8990)]
