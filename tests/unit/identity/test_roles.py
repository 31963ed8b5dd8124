"""Roles and permissions: the matrix, deny by default, granting rules, README agreement."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from shared.errors import BusinessRuleError, ForbiddenError, ValidationError
from shared.identity import (
    ALL_PERMISSIONS,
    ROLE_PERMISSIONS,
    Permission,
    Role,
    assignable_roles,
    check_role_assignment,
    has_permission,
    parse_role,
    permissions_for,
)

README = Path(__file__).resolve().parents[3] / "shared" / "identity" / "README.md"
REQUIRED_PERMISSIONS = {
    "users:read", "users:manage", "users:read_self", "accounts:read", "accounts:write",
    "journal:read", "journal:post", "journal:reverse", "payments:read", "payments:create",
    "payments:capture", "payments:refund", "tax:calculate", "tax:read", "tax:admin",
    "audit:read", "dead_letters:admin", "ledger:reconcile", "producer_keys:manage",
    "ledger:close_period", "ledger:reopen_period", "ledger:reconcile_bank",
    "webhooks:manage",
}  # fmt: skip


def _table(heading: str) -> list[list[str]]:
    """The rows of the first Markdown table after ``heading`` (header row included)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    rows: list[list[str]] = []
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r"-+", cell) for cell in cells):
                rows.append(cells)
        elif rows:
            break
    return rows


def test_the_permission_catalogue_is_the_documented_one() -> None:
    assert ALL_PERMISSIONS == REQUIRED_PERMISSIONS


def test_readme_matrix_equals_the_code() -> None:
    header, *rows = _table("## Permission matrix")
    assert header[0] == "Permission"
    roles = [Role(name) for name in header[1:]]
    assert set(roles) == set(Role)
    documented: dict[Role, set[str]] = {role: set() for role in roles}
    listed = []
    for cells in rows:
        permission = cells[0].strip("`")
        listed.append(permission)
        for role, mark in zip(roles, cells[1:], strict=True):
            assert mark in {"✓", "—"}, f"unexpected mark {mark!r} for {permission}/{role}"
            if mark == "✓":
                documented[role].add(permission)
    assert sorted(listed) == sorted(ALL_PERMISSIONS), "every permission has exactly one row"
    assert documented == {role: set(permissions_for(role)) for role in Role}


def test_readme_granting_table_equals_the_code() -> None:
    header, *rows = _table("## Granting roles")
    assert header == ["Actor", "May grant"]
    documented = {
        Role(actor): {Role(r.strip()) for r in grants.split(",")} if grants != "—" else set()
        for actor, grants in rows
    }
    assert documented == {role: set(assignable_roles(role)) for role in Role}


def test_ranks_nest_permissions() -> None:
    ordered = sorted(Role, key=lambda r: r.rank)
    for lower, higher in itertools.pairwise(ordered):
        assert ROLE_PERMISSIONS[lower] <= ROLE_PERMISSIONS[higher]
    assert ROLE_PERMISSIONS[Role.OWNER] == frozenset(Permission)


@pytest.mark.parametrize(
    ("role", "permission", "granted"),
    [
        ("viewer", "journal:read", True),
        ("viewer", "journal:post", False),
        ("viewer", "users:read", False),
        ("accountant", "journal:reverse", True),
        ("accountant", "payments:refund", False),
        ("accountant", "users:manage", False),
        ("admin", "payments:refund", True),
        ("admin", "dead_letters:admin", True),
        ("owner", "tax:admin", True),
    ],
)
def test_matrix_samples(role: str, permission: str, granted: bool) -> None:
    assert has_permission(role, permission) is granted


def test_deny_by_default() -> None:
    assert permissions_for("superuser") == frozenset()
    assert permissions_for("") == frozenset()
    assert not has_permission("owner", "ledger:delete_everything")
    assert not has_permission("OWNER", "journal:read")  # role names are exact


def test_parse_role() -> None:
    assert parse_role("accountant") is Role.ACCOUNTANT
    for bad in ("Accountant", "root", None, 3):
        with pytest.raises(ValidationError) as caught:
            parse_role(bad, field="members.0.role")
        (error,) = caught.value.errors
        assert (error.field, error.code) == ("members.0.role", "unknown_role")
        assert "owner, admin, accountant, viewer" in error.message


def test_assignable_roles() -> None:
    assert assignable_roles("owner") == set(Role)
    assert assignable_roles("admin") == {Role.ADMIN, Role.ACCOUNTANT, Role.VIEWER}
    assert assignable_roles("accountant") == frozenset()
    assert assignable_roles("viewer") == frozenset()
    assert assignable_roles("nobody") == frozenset()


def test_owner_may_grant_anything() -> None:
    for role in Role:
        check_role_assignment("owner", role, target_current_role=Role.VIEWER)
    check_role_assignment("owner", Role.ADMIN, target_current_role=Role.OWNER, owner_count=2)


def test_admin_cannot_make_an_owner() -> None:
    with pytest.raises(ForbiddenError) as caught:
        check_role_assignment("admin", Role.OWNER, target_current_role=Role.ADMIN)
    assert caught.value.code == "role_escalation"


def test_admin_cannot_change_an_owner() -> None:
    with pytest.raises(ForbiddenError) as caught:
        check_role_assignment("admin", Role.VIEWER, target_current_role=Role.OWNER, owner_count=3)
    assert caught.value.code == "role_escalation"


def test_admin_may_invite_and_promote_up_to_admin() -> None:
    check_role_assignment("admin", Role.ACCOUNTANT)  # invitation: no current role
    check_role_assignment("admin", Role.ADMIN, target_current_role=Role.VIEWER)


@pytest.mark.parametrize("actor", ["accountant", "viewer", "stranger"])
def test_without_users_manage_nothing_can_be_granted(actor: str) -> None:
    with pytest.raises(ForbiddenError) as caught:
        check_role_assignment(actor, Role.VIEWER, target_current_role=Role.VIEWER)
    assert caught.value.code == "forbidden"


def test_last_owner_cannot_be_demoted() -> None:
    with pytest.raises(BusinessRuleError) as caught:
        check_role_assignment("owner", Role.ADMIN, target_current_role=Role.OWNER, owner_count=1)
    assert caught.value.code == "last_owner"


def test_demoting_an_owner_needs_the_owner_count() -> None:
    with pytest.raises(ValueError, match="owner_count"):
        check_role_assignment("owner", Role.ADMIN, target_current_role=Role.OWNER)


def test_owner_staying_owner_needs_no_count() -> None:
    check_role_assignment("owner", Role.OWNER, target_current_role=Role.OWNER)
