"""The gateway's route matching."""

from __future__ import annotations

import pytest

from emulator.routing import GatewayRoute, RouteTable
from emulator.settings import function_ports
from tests.unit.emulator.support import make_manifest


@pytest.fixture
def table() -> RouteTable:
    manifest = make_manifest()
    return RouteTable.from_manifest(manifest, function_ports(manifest, 8700))


def _target(table: RouteTable, method: str, path: str) -> tuple[str, dict[str, str], bool] | None:
    match = table.match(method, path)
    if match is None:
        return None
    return match.route.function, match.path_params, match.method_declared


def test_literal_paths(table: RouteTable) -> None:
    assert _target(table, "GET", "/v1/accounts") == ("accounts", {}, True)
    assert _target(table, "POST", "/v1/accounts") == ("accounts", {}, True)


def test_a_parameter_matches_one_segment(table: RouteTable) -> None:
    assert _target(table, "GET", "/v1/accounts/acc-1") == (
        "accounts",
        {"account_id": "acc-1"},
        True,
    )
    assert _target(table, "GET", "/v1/accounts/acc-1/balance") == (
        "accounts",
        {"account_id": "acc-1"},
        True,
    )
    assert table.match("GET", "/v1/accounts/a/b/balance") is None
    assert table.match("GET", "/v1/accounts//balance") is None


def test_a_literal_segment_beats_a_parameter(table: RouteTable) -> None:
    assert _target(table, "GET", "/v1/accounts/search") == ("search", {}, True)


def test_the_declared_method_decides_between_functions_sharing_a_shape(table: RouteTable) -> None:
    assert _target(table, "POST", "/v1/accounts/acc-1/close") == (
        "search",
        {"account_id": "acc-1"},
        True,
    )


def test_an_undeclared_method_still_goes_to_the_path_owner(table: RouteTable) -> None:
    # The function itself answers 405 with Allow, or a CORS preflight.
    assert _target(table, "DELETE", "/v1/accounts") == ("accounts", {}, False)
    assert _target(table, "OPTIONS", "/v1/accounts/search") == ("search", {}, False)


def test_head_is_served_by_the_get_route(table: RouteTable) -> None:
    assert _target(table, "HEAD", "/v1/accounts/search") == ("search", {}, True)


def test_well_known_paths(table: RouteTable) -> None:
    assert _target(table, "GET", "/.well-known/jwks.json") == ("search", {}, True)


@pytest.mark.parametrize(
    "path",
    ["/", "/v1", "/v1/accounts/", "/v2/accounts", "/v1/accountsx", "v1/accounts", "/v1/unknown"],
)
def test_unknown_paths_match_nothing(table: RouteTable, path: str) -> None:
    assert table.match("GET", path) is None


def test_the_route_carries_the_owner_port(table: RouteTable) -> None:
    match = table.match("GET", "/v1/accounts/search")
    assert match is not None
    assert match.route.port == 8701


def test_http_functions_in_manifest_order(table: RouteTable) -> None:
    assert table.http_functions() == {"accounts": 8700, "search": 8701}


def test_specificity_prefers_the_earliest_literal() -> None:
    table = RouteTable(
        [
            GatewayRoute("GET", "/v1/{a}/fixed", "first", 1),
            GatewayRoute("GET", "/v1/fixed/{b}", "second", 2),
        ]
    )
    match = table.match("GET", "/v1/fixed/fixed")
    assert match is not None
    assert match.route.function == "second"
