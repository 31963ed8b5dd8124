"""The rules of accounting periods: closing the books through a day, reopening them.

Separate from the entry rules (:mod:`shared.ledger.domain`): they decide the end of
the closed period, which the entry rules and the use cases only read. Used by
:mod:`shared.ledger.periods` (close, reopen) and by the posting paths
(:func:`check_period_open`). Pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

from datetime import date

from shared.errors import BusinessRuleError, FieldError
from shared.ledger.rejections import rule_violation


def check_period_open(effective_date: date, closed_through: date | None, field: str) -> None:
    """Refuse an entry dated into the closed period (on or before ``closed_through``)."""
    if closed_through is not None and effective_date <= closed_through:
        raise BusinessRuleError(
            f"the books are closed through {closed_through.isoformat()}: an entry dated "
            f"{effective_date.isoformat()} falls in a closed period",
            code="period_closed",
            errors=[
                FieldError(
                    field,
                    f"on or before {closed_through.isoformat()}, the end of the closed period",
                    "period_closed",
                )
            ],
            extra={"closed_through": closed_through.isoformat()},
        )


def plan_close(current: date | None, through: date, today: date) -> date:
    """The new end of the closed period when closing the books through ``through``."""
    if through >= today:
        raise rule_violation(
            "period_not_over",
            "through",
            f"only days before today ({today.isoformat()}) can be closed",
        )
    if current is not None and through <= current:
        raise rule_violation(
            "period_already_closed",
            "through",
            f"the books are already closed through {current.isoformat()}",
        )
    return through


def plan_reopen(current: date | None, through: date | None) -> date | None:
    """The new end of the closed period when reopening back to ``through`` (None: all)."""
    if current is None:
        raise rule_violation("period_not_closed", "through", "no period is closed")
    if through is not None and through >= current:
        raise rule_violation(
            "period_not_reopened",
            "through",
            f"reopening moves the end of the closed period back from {current.isoformat()}",
        )
    return through
