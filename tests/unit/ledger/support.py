"""Builders for the ledger's pure-rule tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from shared.errors import AppError
from shared.ledger.model import (
    Account,
    AccountStatus,
    AccountType,
    BalanceConstraint,
    Entry,
    EntryKind,
    EntryStatus,
    Line,
    Side,
)
from shared.ledger.requests import LineIn, PostEntryRequest, parse_request

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def account(
    account_id: str,
    *,
    type: AccountType = AccountType.ASSET,
    currency: str = "EUR",
    status: AccountStatus = AccountStatus.ACTIVE,
    constraint: BalanceConstraint | None = None,
    shards: int = 1,
) -> Account:
    return Account(
        id=account_id,
        code=account_id.upper(),
        name=f"Account {account_id}",
        type=type,
        currency=currency,
        status=status,
        balance_constraint=constraint,
        balance_shards=shards,
        metadata={},
        created_at=NOW,
        updated_at=NOW,
    )


def lines(*specs: tuple[str, str, str] | tuple[str, str, str, str]) -> list[LineIn]:
    """``("acc", "debit", "1.00")`` or with a currency as fourth item."""
    built = []
    for spec in specs:
        data: dict[str, Any] = {"account_id": spec[0], "side": spec[1], "amount": spec[2]}
        if len(spec) == 4:
            data["currency"] = spec[3]
        built.append(parse_request(LineIn, data))
    return built


def entry_request(**fields: Any) -> PostEntryRequest:
    return parse_request(PostEntryRequest, fields)


def hold(
    entry_id: str = "hold-1",
    *,
    amounts: tuple[tuple[str, Side, int], ...] = (
        ("a", Side.DEBIT, 1000),
        ("b", Side.CREDIT, 1000),
    ),
    status: EntryStatus = EntryStatus.PENDING,
    expires_at: datetime | None = None,
    currency: str = "EUR",
) -> Entry:
    return Entry(
        id=entry_id,
        kind=EntryKind.PENDING,
        status=status,
        effective_date=date(2025, 3, 1),
        description="hold",
        metadata={},
        lines=tuple(Line(a, side, minor, currency) for a, side, minor in amounts),
        created_at=NOW,
        created_by={"system": "test"},
        expires_at=expires_at,
    )


def posted_entry(
    entry_id: str = "ent-1", *, kind: EntryKind = EntryKind.STANDARD, **changes: Any
) -> Entry:
    return Entry(
        id=entry_id,
        kind=kind,
        status=EntryStatus.POSTED,
        effective_date=date(2025, 3, 1),
        description="posted",
        metadata={},
        lines=(Line("a", Side.DEBIT, 500, "EUR"), Line("b", Side.CREDIT, 500, "EUR")),
        created_at=NOW,
        created_by={"system": "test"},
        **changes,
    )


def assert_rejected(
    excinfo: pytest.ExceptionInfo[AppError], error_class: type[AppError], code: str, field: str
) -> None:
    """The error's class, its code, and the code and dotted field of its first field error."""
    error = excinfo.value
    assert type(error) is error_class, f"{type(error).__name__} is not {error_class.__name__}"
    assert error.code == code
    assert error.errors, "a rejection names the field it is about"
    assert error.errors[0].field == field
    assert error.errors[0].code == code
