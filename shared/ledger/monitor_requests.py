"""Request and response models of balance monitors (shapes only).

Whether the threshold fits the account's currency is a rule (``monitors.parse_condition``):
its refusal names ``condition.amount`` with a stable code.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from shared.http.examples import body_examples
from shared.ledger.monitors import MONITOR_ID_PREFIX
from shared.ledger.responses import BalancesOut
from shared.text import HumanText

# A threshold may be negative (an overdraft line); the decimals are checked against the
# account's currency by the rule, with its own code.
THRESHOLD_SCHEMA: JsonDict = {"pattern": r"^-?[0-9]{1,19}(\.[0-9]{1,18})?$"}
MONITOR_ID_PATTERN = rf"^{MONITOR_ID_PREFIX}_[0-9A-Z]{{26}}$"


class MonitorConditionIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    balance: Literal["posted", "available"] = Field(
        default="posted",
        description="which balance: posted, or available (posted less pending holds against it)",
    )
    operator: Literal["gt", "gte", "lt", "lte"] = Field(
        description="the balance compared with the amount: >, >=, < or <="
    )
    amount: str = Field(
        min_length=1,
        max_length=40,
        examples=["10000.00"],
        description="the threshold in the account's currency, signed per its normal side "
        "as balances are",
        json_schema_extra=THRESHOLD_SCHEMA,
    )


class CreateMonitorRequest(BaseModel):
    """Watch the account's balance: an event when the condition starts or stops holding."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=body_examples(
            {
                "condition": {"balance": "available", "operator": "lt", "amount": "500.00"},
                "description": "Top up the float before it runs out",
            },
            {"condition": {"operator": "gte", "amount": "10000.00"}},
        ),
    )

    condition: MonitorConditionIn
    description: Annotated[HumanText, Field(max_length=500)] | None = None


class MonitorPath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(min_length=1, max_length=100)
    monitor_id: str = Field(pattern=MONITOR_ID_PATTERN)


class MonitorConditionOut(BaseModel):
    balance: Literal["posted", "available"]
    operator: Literal["gt", "gte", "lt", "lte"]
    amount: str


class BalanceMonitorOut(BaseModel):
    id: str
    account_id: str
    currency: str
    condition: MonitorConditionOut
    description: str | None
    met: bool = Field(description="whether the condition held at the last crossing (or creation)")
    evaluated_at: str = Field(description="when the balance that set `met` was read")
    last_crossed_at: str | None
    created_at: str


class BalanceMonitorCrossingOut(BaseModel):
    """The data of ``ledger.balance_monitor_triggered`` and ``..._cleared`` events."""

    crossing: Literal["triggered", "cleared"]
    monitor: BalanceMonitorOut
    balances: BalancesOut
