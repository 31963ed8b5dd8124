"""Accounting periods, without I/O: what a close, a reopen and a dated entry may do."""

from __future__ import annotations

from datetime import date

import pytest

from shared.errors import BusinessRuleError
from shared.ledger import period_rules

TODAY = date(2026, 12, 3)


def test_an_entry_after_the_closed_period_is_open() -> None:
    period_rules.check_period_open(date(2026, 12, 1), date(2026, 11, 30), "effective_date")
    period_rules.check_period_open(date(2020, 1, 1), None, "effective_date")


@pytest.mark.parametrize("day", [date(2026, 11, 30), date(2026, 11, 1), date(2019, 5, 5)])
def test_an_entry_dated_into_the_closed_period_is_refused_naming_the_field(day: date) -> None:
    with pytest.raises(BusinessRuleError) as refused:
        period_rules.check_period_open(day, date(2026, 11, 30), "effective_date")
    assert refused.value.code == "period_closed"
    assert [(e.field, e.code) for e in refused.value.errors] == [
        ("effective_date", "period_closed")
    ]
    assert refused.value.extra["closed_through"] == "2026-11-30"


def test_closing_moves_forward_only_and_never_reaches_today() -> None:
    assert period_rules.plan_close(None, date(2026, 11, 30), TODAY) == date(2026, 11, 30)
    assert period_rules.plan_close(date(2026, 10, 31), date(2026, 11, 30), TODAY) == date(
        2026, 11, 30
    )
    for current, through, code in [
        (None, TODAY, "period_not_over"),
        (None, date(2027, 1, 1), "period_not_over"),
        (date(2026, 11, 30), date(2026, 11, 30), "period_already_closed"),
        (date(2026, 11, 30), date(2026, 10, 31), "period_already_closed"),
    ]:
        with pytest.raises(BusinessRuleError) as refused:
            period_rules.plan_close(current, through, TODAY)
        assert (refused.value.code, refused.value.errors[0].field) == (code, "through")


def test_reopening_moves_back_only() -> None:
    assert period_rules.plan_reopen(date(2026, 11, 30), date(2026, 10, 31)) == date(2026, 10, 31)
    assert period_rules.plan_reopen(date(2026, 11, 30), None) is None
    for current, through, code in [
        (None, None, "period_not_closed"),
        (date(2026, 11, 30), date(2026, 11, 30), "period_not_reopened"),
        (date(2026, 11, 30), date(2026, 12, 1), "period_not_reopened"),
    ]:
        with pytest.raises(BusinessRuleError) as refused:
            period_rules.plan_reopen(current, through)
        assert refused.value.code == code
