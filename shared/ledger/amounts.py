"""Amounts and currencies as the ledger's rules read them: decimal strings to minor units.

Shared by the entry rules (:mod:`shared.ledger.domain`), the hold rules
(:mod:`shared.ledger.hold_rules`) and the account rules (:mod:`shared.ledger.account_rules`),
so it stands apart from each. The parsers append a :class:`~shared.errors.FieldError` to
``problems`` instead of raising, so a rule can report every bad amount of a request at
once. Pure: no I/O.
"""

from __future__ import annotations

import re
from decimal import Decimal

from shared.errors import FieldError, ValidationError
from shared.ledger.model import money_json
from shared.money import MoneyError, minor_unit, normalize_currency

# A sanity limit on one line (10 trillion EUR), stated in the API's errors. Running
# totals do not depend on it: they are stored in limbs wider than Firestore's 64-bit
# integers (see ``repository.py``), so any number of maximal lines stays exact.
MAX_LINE_MINOR_UNITS = 10**15
AMOUNT_PATTERN = re.compile(r"^-?[0-9]{1,19}(\.[0-9]{1,18})?$")


def known_currency(code: str, field: str) -> str:
    try:
        return normalize_currency(code)
    except MoneyError as exc:
        raise ValidationError(
            str(exc),
            code="unknown_currency",
            errors=[FieldError(field, str(exc), "unknown_currency")],
        ) from None


def currency_problem(code: str, field: str) -> list[FieldError]:
    try:
        normalize_currency(code)
    except MoneyError as exc:
        return [FieldError(field, str(exc), "unknown_currency")]
    return []


def parse_decimal(text: str, field: str, problems: list[FieldError]) -> Decimal | None:
    if not AMOUNT_PATTERN.match(text):
        problems.append(
            FieldError(field, 'must be a decimal string such as "12.34"', "invalid_amount")
        )
        return None
    return Decimal(text)


def parse_positive(text: str, field: str, problems: list[FieldError]) -> Decimal | None:
    amount = parse_decimal(text, field, problems)
    if amount is not None and amount <= 0:
        problems.append(FieldError(field, "must be greater than zero", "amount_not_positive"))
        return None
    return amount


def to_minor(amount: Decimal, currency: str, field: str, problems: list[FieldError]) -> int | None:
    places = minor_unit(currency)
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > places:
        problems.append(
            FieldError(
                field, f"{currency} allows at most {places} decimal places", "too_many_decimals"
            )
        )
        return None
    minor = int(amount.scaleb(places))
    if minor > MAX_LINE_MINOR_UNITS:
        problems.append(
            FieldError(
                field,
                f"at most {money_json(MAX_LINE_MINOR_UNITS, currency)} per line",
                "amount_too_large",
            )
        )
        return None
    return minor
