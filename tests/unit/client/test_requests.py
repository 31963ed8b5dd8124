"""What each method sends: method, path, query, body and headers."""

from __future__ import annotations

import inspect
import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared.client import OPERATIONS, Tributum
from shared.client._core import expand_path
from tests.unit.client.support import FakeApi, answer, envelope, token_pair

HEADER_ARGUMENTS = {"idempotency_key", "if_match"}


def _reply_for(name: str) -> httpx.Response:
    if OPERATIONS[name].method == "DELETE" or name in {"log_out", "change_password"}:
        return httpx.Response(204)
    if name.startswith("list_"):
        return envelope([])
    if not OPERATIONS[name].envelope:
        return httpx.Response(200, json={"keys": []})
    return envelope(token_pair("access", "refresh"))


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_method_sends_its_operation(name: str) -> None:
    operation = OPERATIONS[name]
    api = FakeApi([answer(_reply_for(name))])
    client = api.client(api_key="key-1")
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    path_values: dict[str, str] = {}
    query: dict[str, str] = {}
    body: Any = None
    for parameter in list(inspect.signature(getattr(Tributum, name)).parameters.values())[1:]:
        wire = parameter.name.rstrip("_")
        if "{" + parameter.name + "}" in operation.path:
            path_values[parameter.name] = f"{parameter.name}-1"
            args.append(path_values[parameter.name])
        elif parameter.name == "body":
            body = {"field": "value"}
            args.append(body)
        elif parameter.name in {"email", "password", "refresh_token"}:
            args.append(f"{parameter.name}-value")
        elif parameter.name in HEADER_ARGUMENTS:
            continue
        elif parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            query[wire] = "2026-01-31"
            args.append("2026-01-31")
        else:
            query[wire] = f"{wire}-q"
            kwargs[parameter.name] = f"{wire}-q"

    getattr(client, name)(*args, **kwargs)

    (request,) = api.requests
    assert request.method == operation.method
    assert request.url.path == expand_path(operation.path, path_values)
    assert dict(request.url.params) == query
    assert ("Idempotency-Key" in request.headers) == operation.idempotent
    assert request.headers.get("Authorization") == ("Bearer key-1" if operation.auth else None)
    if body is not None:
        assert json.loads(request.content) == body
        assert request.headers["Content-Type"] == "application/json"
    elif name in {"log_in", "refresh_tokens"}:
        assert set(json.loads(request.content)) <= {"email", "password", "refresh_token"}
    else:
        assert request.content == b""


def test_an_idempotency_key_is_a_fresh_uuid4_unless_given() -> None:
    api = FakeApi([answer(envelope({"id": "e-1"}, status=201))])
    client = api.client(api_key="k")
    entry: dict[str, Any] = {"lines": []}

    client.post_journal_entry(entry)
    client.post_journal_entry(entry)
    client.post_journal_entry(entry, idempotency_key="capital-2026")

    keys = [r.headers["Idempotency-Key"] for r in api.requests]
    assert uuid.UUID(keys[0]).version == 4 and uuid.UUID(keys[1]).version == 4
    assert keys[0] != keys[1]
    assert keys[2] == "capital-2026"


def test_amounts_and_dates_are_sent_as_strings_never_floats() -> None:
    from datetime import date

    api = FakeApi([answer(envelope({"id": "e-1"}, status=201))])
    api.client(api_key="k").post_journal_entry(
        {"effective_date": date(2026, 3, 1), "lines": [{"amount": Decimal("100.10")}]}
    )
    assert api.body() == {"effective_date": "2026-03-01", "lines": [{"amount": "100.10"}]}


def test_path_values_are_escaped_as_one_segment() -> None:
    api = FakeApi([answer(envelope({"id": "x"}))])
    api.client(api_key="k").get_account("a/../b c")
    assert api.requests[0].url.raw_path == b"/v1/accounts/a%2F..%2Fb%20c"


def test_an_empty_path_value_is_refused_before_sending() -> None:
    api = FakeApi([answer(envelope({}))])
    with pytest.raises(ValueError, match="account_id"):
        api.client(api_key="k").get_account("")
    assert api.requests == []


def test_filters_are_encoded_and_unset_ones_left_out() -> None:
    api = FakeApi([answer(envelope([]))])
    api.client(api_key="k").list_accounts(type="asset", with_balances=True, limit=10)
    assert dict(api.requests[0].url.params) == {
        "type": "asset",
        "with_balances": "true",
        "limit": "10",
    }


def test_if_match_is_sent_when_given() -> None:
    api = FakeApi([answer(envelope({"id": "p-1"}, status=202))])
    client = api.client(api_key="k")
    client.capture_payment("p-1", {}, if_match='"v3"')
    client.capture_payment("p-1", {})
    assert api.requests[0].headers["If-Match"] == '"v3"'
    assert "If-Match" not in api.requests[1].headers


def test_documents_served_without_an_envelope_come_back_whole() -> None:
    api = FakeApi([answer(httpx.Response(200, json={"keys": [{"kid": "k1"}]}))])
    assert api.client().get_signing_keys() == {"keys": [{"kid": "k1"}]}


def test_an_export_comes_back_as_its_text() -> None:
    body = "effective_date,entry_id\r\n2026-01-02,ent_1\r\n"
    api = FakeApi(
        [
            answer(
                httpx.Response(200, text=body, headers={"Content-Type": "text/csv; charset=utf-8"})
            )
        ]
    )
    text = api.client(api_key="key-1").export_account_entries(
        "acc_1", "2026-01-01", "2026-01-31", format="csv"
    )
    assert text == body
    assert api.requests[0].url.path == "/v1/accounts/acc_1/entries/export"
    assert dict(api.requests[0].url.params) == {
        "from": "2026-01-01",
        "to": "2026-01-31",
        "format": "csv",
    }


def test_the_client_closes_its_connections_on_leaving_the_block() -> None:
    api = FakeApi([answer(envelope({"status": "alive"}))])
    with api.client() as client:
        assert client.check_liveness() == {"status": "alive"}
    assert client._http.is_closed
