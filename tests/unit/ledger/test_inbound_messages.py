"""Posting requests over Pub/Sub, the parts that need no database: addressing, entry ids,
message models and the committed JSON Schemas of the public topics."""

from __future__ import annotations

import re

import jsonschema
import orjson
import pytest

from shared.ledger.idempotency import (
    entry_id_for_key,
    entry_id_for_request,
    with_entry_id,
    with_entry_id_from_key,
)
from shared.ledger.inbound import (
    REQUEST_TYPE,
    REQUESTS_TOPIC,
    RESULTS_TOPIC,
    SCHEMA_DIR,
    SCHEMA_FILES,
    PostingRequestMessage,
    UnanswerableRequest,
    public_topic_schemas,
    render_schema,
    request_id_of,
)
from shared.ledger.requests import ENTRY_ID_PATTERN, PostEntryRequest, parse_request

LINES = [
    {"account_id": "acc_a", "side": "debit", "amount": "1.00"},
    {"account_id": "acc_b", "side": "credit", "amount": "1.00"},
]
REQUEST = {
    "id": "evt-1",
    "type": REQUEST_TYPE,
    "source": "billing",
    "subject": "invoices/INV-1",
    "time": "2026-11-23T10:00:00Z",
    "tenant_id": "tenant-a",
    "correlation_id": "corr-1",
    "schema_version": 1,
    "data": {"request_id": "INV-1", "posting": {"lines": LINES}},
}


def test_the_committed_schemas_are_the_generated_ones() -> None:
    generated = public_topic_schemas()
    assert set(generated) == set(SCHEMA_FILES.values())
    for file_name, schema in generated.items():
        committed = (SCHEMA_DIR / file_name).read_bytes()
        assert committed == render_schema(schema), (
            f"{file_name} is stale: run python -m shared.ledger.inbound"
        )


def test_the_request_schema_accepts_a_request_and_refuses_what_the_model_refuses() -> None:
    schema = orjson.loads((SCHEMA_DIR / SCHEMA_FILES[REQUESTS_TOPIC]).read_bytes())
    jsonschema.validate(REQUEST, schema)
    PostingRequestMessage.model_validate_json(orjson.dumps(REQUEST))
    for broken in (
        {**REQUEST, "type": "ledger.entry_posted"},
        {**REQUEST, "data": {"posting": {"lines": LINES}}},
        {**REQUEST, "data": {**REQUEST["data"], "extra": 1}},
        {k: v for k, v in REQUEST.items() if k != "tenant_id"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)
    assert orjson.loads((SCHEMA_DIR / SCHEMA_FILES[RESULTS_TOPIC]).read_bytes())["title"] == (
        "ledger-posting-results message"
    )


@pytest.mark.parametrize(
    "data",
    [{}, {"request_id": ""}, {"request_id": "a/b"}, {"request_id": 42}, {"request_id": "x" * 200}],
)
def test_a_request_without_a_usable_request_id_cannot_be_answered(data: dict[str, object]) -> None:
    with pytest.raises(UnanswerableRequest, match=r"data\.request_id"):
        request_id_of(data)


def test_the_request_id_is_read_even_when_the_posting_is_invalid() -> None:
    assert request_id_of({"request_id": "INV-1", "posting": "nonsense"}) == "INV-1"


def test_entry_ids_are_derived_deterministically_and_are_valid_entry_ids() -> None:
    for entry_id in (entry_id_for_key("k-1"), entry_id_for_request("INV-1")):
        assert re.fullmatch(ENTRY_ID_PATTERN, entry_id)
    assert entry_id_for_key("k-1") == entry_id_for_key("k-1") != entry_id_for_key("k-2")
    # A key and a request id with the same text are different postings.
    assert entry_id_for_key("same") != entry_id_for_request("same")


def test_a_client_chosen_entry_id_wins_over_the_derived_one() -> None:
    chosen = parse_request(PostEntryRequest, {"entry_id": "mine", "lines": LINES})
    plain = parse_request(PostEntryRequest, {"lines": LINES})

    assert with_entry_id(chosen, "derived").entry_id == "mine"
    assert with_entry_id(plain, "derived").entry_id == "derived"
    assert with_entry_id_from_key(plain, "k-1").entry_id == entry_id_for_key("k-1")
    assert with_entry_id_from_key(plain, None).entry_id is None
