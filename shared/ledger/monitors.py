"""Balance monitors, the rules: a condition on an account's balance, and when it is crossed.

A monitor watches one account's ``posted`` or ``available`` balance (signed per the
account's normal side, as the API shows it) against a threshold with ``gt``, ``gte``,
``lt`` or ``lte``. It remembers whether its condition held at the last evaluation; an
evaluation that finds the opposite is a crossing: ``triggered`` when the condition
starts to hold, ``cleared`` when it stops. Evaluations are ordered by the time the
balance was read, so an evaluation of an older balance never overrides a newer one.

Pure: no I/O, no clock. ``monitoring.py`` stores monitors and evaluates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from shared.errors import ValidationError
from shared.ledger.model import Balances, money_json
from shared.money import MoneyError, parse_amount, to_minor_units

MONITOR_ID_PREFIX = "mon"
MAX_MONITORS_PER_ACCOUNT = 10
TRIGGERED_TYPE = "ledger.balance_monitor_triggered"
CLEARED_TYPE = "ledger.balance_monitor_cleared"

Crossing = Literal["triggered", "cleared"]


class MonitoredBalance(StrEnum):
    POSTED = "posted"
    AVAILABLE = "available"


class Operator(StrEnum):
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"


@dataclass(frozen=True, slots=True)
class MonitorCondition:
    balance: MonitoredBalance
    operator: Operator
    amount_minor: int

    def holds(self, balances: Balances) -> bool:
        value = balances.posted if self.balance is MonitoredBalance.POSTED else balances.available
        threshold = self.amount_minor
        if self.operator is Operator.GT:
            return value > threshold
        if self.operator is Operator.GTE:
            return value >= threshold
        if self.operator is Operator.LT:
            return value < threshold
        return value <= threshold

    def to_json(self, currency: str) -> dict[str, Any]:
        return {
            "balance": self.balance.value,
            "operator": self.operator.value,
            "amount": money_json(self.amount_minor, currency),
        }


def parse_condition(*, balance: str, operator: str, amount: str, currency: str) -> MonitorCondition:
    """The condition of a new monitor; the amount in the account's currency, exactly."""
    try:
        parsed = parse_amount(amount, currency, allow_negative=True)
    except MoneyError as exc:
        raise ValidationError.for_field("condition.amount", str(exc), "invalid_amount") from None
    return MonitorCondition(
        MonitoredBalance(balance), Operator(operator), to_minor_units(parsed, currency)
    )


def check_room(existing: int) -> None:
    """An account holds at most :data:`MAX_MONITORS_PER_ACCOUNT` monitors."""
    if existing >= MAX_MONITORS_PER_ACCOUNT:
        raise ValidationError.for_field(
            "account_id",
            f"the account already has {MAX_MONITORS_PER_ACCOUNT} monitors, the most it may",
            "too_many_monitors",
        )


def crossing(previously_met: bool, met: bool) -> Crossing | None:
    if met == previously_met:
        return None
    return "triggered" if met else "cleared"


@dataclass(frozen=True, slots=True)
class BalanceMonitor:
    id: str
    account_id: str
    currency: str
    condition: MonitorCondition
    description: str | None
    met: bool
    # The read time of the balance the state comes from: evaluations of older reads
    # are ignored.
    evaluated_at: datetime
    last_crossed_at: datetime | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "currency": self.currency,
            "condition": self.condition.to_json(self.currency),
            "description": self.description,
            "met": self.met,
            "evaluated_at": self.evaluated_at.isoformat(),
            "last_crossed_at": self.last_crossed_at.isoformat() if self.last_crossed_at else None,
            "created_at": self.created_at.isoformat(),
        }


def evaluate(
    monitor: BalanceMonitor, balances: Balances, read_at: datetime
) -> tuple[BalanceMonitor, Crossing | None] | None:
    """The monitor after seeing ``balances`` read at ``read_at``; None if that is older."""
    if read_at <= monitor.evaluated_at:
        return None
    met = monitor.condition.holds(balances)
    crossed = crossing(monitor.met, met)
    updated = BalanceMonitor(
        id=monitor.id,
        account_id=monitor.account_id,
        currency=monitor.currency,
        condition=monitor.condition,
        description=monitor.description,
        met=met,
        evaluated_at=read_at,
        last_crossed_at=read_at if crossed else monitor.last_crossed_at,
        created_at=monitor.created_at,
    )
    return updated, crossed


def crossing_event_data(
    monitor: BalanceMonitor, balances: Balances, crossed: Crossing
) -> dict[str, Any]:
    """The data of a ``ledger.balance_monitor_*`` event: the monitor and the balance seen."""
    return {
        "crossing": crossed,
        "monitor": monitor.to_json(),
        "balances": balances.to_json(),
    }


def monitor_to_document(monitor: BalanceMonitor) -> dict[str, Any]:
    return {
        "account_id": monitor.account_id,
        "currency": monitor.currency,
        "balance": monitor.condition.balance.value,
        "operator": monitor.condition.operator.value,
        # A decimal string: thresholds are as wide as balances, past a Firestore integer.
        "amount_minor": str(monitor.condition.amount_minor),
        "description": monitor.description,
        "met": monitor.met,
        "evaluated_at": monitor.evaluated_at,
        "last_crossed_at": monitor.last_crossed_at,
        "created_at": monitor.created_at,
    }


def monitor_from_document(monitor_id: str, document: dict[str, Any]) -> BalanceMonitor:
    return BalanceMonitor(
        id=monitor_id,
        account_id=str(document["account_id"]),
        currency=str(document["currency"]),
        condition=MonitorCondition(
            MonitoredBalance(document["balance"]),
            Operator(document["operator"]),
            int(document["amount_minor"]),
        ),
        description=document.get("description"),
        met=bool(document["met"]),
        evaluated_at=document["evaluated_at"],
        last_crossed_at=document.get("last_crossed_at"),
        created_at=document["created_at"],
    )
