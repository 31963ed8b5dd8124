"""Every permission a function's route demands exists in the matrix (else nobody holds it)."""

from __future__ import annotations

import pytest

from shared.identity import ALL_PERMISSIONS
from shared.topology import load_manifest
from tests.support.http import load_function

HTTP_FUNCTIONS = [fn.name for fn in load_manifest().functions if fn.kind == "http"]


@pytest.mark.parametrize("name", HTTP_FUNCTIONS)
def test_route_permissions_are_known(name: str) -> None:
    router = load_function(name).router
    unknown = {
        f"{route.method} {route.path}: {route.permission}"
        for route in router.routes
        if route.permission is not None and route.permission not in ALL_PERMISSIONS
    }
    assert not unknown, f"permissions missing from shared/identity: {sorted(unknown)}"
