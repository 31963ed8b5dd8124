"""The rules of ledger accounts: what a create request makes, what an update may change.

Separate from the entry rules (:mod:`shared.ledger.domain`): an account's rules read
the account and its balances, never a journal entry. Used by the accounts use cases
(:mod:`shared.ledger.accounts`). Pure: no I/O, no clock, no randomness; the codes are
listed in :mod:`shared.ledger.domain`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.errors import BusinessRuleError, FieldError
from shared.ledger.amounts import known_currency
from shared.ledger.model import Account, AccountStatus, BalanceTotals, money_json
from shared.ledger.rejections import invalid
from shared.ledger.requests import CreateAccountRequest, UpdateAccountRequest

DEFAULT_SHARDS = 4


def new_account(request: CreateAccountRequest, *, account_id: str, now: datetime) -> Account:
    """The account a create request describes, or the rule it breaks."""
    currency = known_currency(request.currency, "currency")
    shards = request.balance_shards
    if request.balance_constraint is not None:
        if shards is not None and shards > 1:
            raise invalid(
                "balance_shards",
                "an account with a balance constraint keeps one balance document: every "
                "posting must read its whole balance, so shards would add no concurrency",
                "constrained_account_sharded",
            )
        shards = 1
    return Account(
        id=account_id,
        code=request.code,
        name=request.name,
        type=request.type,
        currency=currency,
        status=AccountStatus.ACTIVE,
        balance_constraint=request.balance_constraint,
        balance_shards=shards or DEFAULT_SHARDS,
        metadata=dict(request.metadata),
        created_at=now,
        updated_at=now,
    )


# Closed is final: a closed account's history stays, nothing new reaches it.
_ACCOUNT_TRANSITIONS: dict[AccountStatus, frozenset[AccountStatus]] = {
    AccountStatus.ACTIVE: frozenset({AccountStatus.FROZEN, AccountStatus.CLOSED}),
    AccountStatus.FROZEN: frozenset({AccountStatus.ACTIVE, AccountStatus.CLOSED}),
    AccountStatus.CLOSED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    account: Account
    changes: dict[str, dict[str, Any]]  # field -> {"from": old, "to": new}

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def update_account(
    account: Account,
    request: UpdateAccountRequest,
    totals: BalanceTotals,
    *,
    has_postings: bool,
    now: datetime,
) -> AccountUpdate:
    """Apply an update under the account rules.

    ``totals`` are the account's current balances and ``has_postings`` whether any
    entry (posted or pending, in any state) has a line on it.
    """
    requested = request.model_dump(exclude_none=True)
    if not requested:
        raise invalid("body", "name at least one field to change", "empty_update")
    if account.status is AccountStatus.CLOSED:
        raise BusinessRuleError(
            f"account {account.id} is closed; a closed account cannot change",
            code="account_closed",
            errors=[FieldError("status", "the account is closed", "account_closed")],
        )
    changes: dict[str, dict[str, Any]] = {}
    values: dict[str, Any] = {}

    def change(name: str, old: Any, new: Any) -> None:
        if old != new:
            changes[name] = {"from": _plain(old), "to": _plain(new)}
            values[name] = new

    if request.name is not None:
        change("name", account.name, request.name)
    if request.metadata is not None:
        change("metadata", account.metadata, dict(request.metadata))
    for name in ("type", "currency"):
        new_value = getattr(request, name)
        if new_value is None:
            continue
        if name == "currency":
            new_value = known_currency(new_value, "currency")
        if new_value != getattr(account, name) and has_postings:
            raise BusinessRuleError(
                f"the {name} of account {account.id} cannot change once it has been posted to",
                code="account_immutable_field",
                errors=[FieldError(name, "immutable once posted to", "account_immutable_field")],
            )
        change(name, getattr(account, name), new_value)
    if request.balance_shards is not None:
        if account.balance_constraint is not None and request.balance_shards > 1:
            raise invalid(
                "balance_shards",
                "an account with a balance constraint keeps one balance document",
                "constrained_account_sharded",
            )
        change("balance_shards", account.balance_shards, request.balance_shards)
    if request.status is not None and request.status is not account.status:
        if request.status not in _ACCOUNT_TRANSITIONS[account.status]:
            raise BusinessRuleError(
                f"account status cannot go from {account.status} to {request.status}",
                code="invalid_status_transition",
                errors=[
                    FieldError("status", "transition not allowed", "invalid_status_transition")
                ],
            )
        settled = totals.debits_posted == totals.credits_posted and not (
            totals.debits_pending or totals.credits_pending
        )
        if request.status is AccountStatus.CLOSED and not settled:
            currency = account.currency
            raise BusinessRuleError(
                "only an account with zero posted and zero pending balances can be closed",
                code="account_balance_not_zero",
                errors=[FieldError("status", "balance is not zero", "account_balance_not_zero")],
                extra={
                    "balances": {
                        name: money_json(value, currency)
                        for name, value in totals.as_fields().items()
                    }
                },
            )
        change("status", account.status, request.status)
    if not changes:
        return AccountUpdate(account, {})
    updated = account.with_changes(**values, updated_at=now, version=account.version + 1)
    return AccountUpdate(updated, changes)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value
