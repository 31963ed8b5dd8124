"""The errors every ledger rule raises, built one way.

Separate from the rule modules (:mod:`shared.ledger.domain`, :mod:`shared.ledger.account_rules`,
:mod:`shared.ledger.hold_rules`, :mod:`shared.ledger.period_rules`, :mod:`shared.ledger.batches`)
because all of them, and the use cases, raise these; each rejection carries a stable
``code`` and a dotted ``field``. Pure: no I/O.
"""

from __future__ import annotations

from shared.errors import BusinessRuleError, FieldError, ValidationError


def invalid(field: str, message: str, code: str) -> ValidationError:
    """A :class:`ValidationError` whose own code is the field's code (``for_field`` keeps
    the generic ``validation_error``; ledger rejections are told apart by code)."""
    return ValidationError(
        f"{field}: {message}", code=code, errors=[FieldError(field, message, code)]
    )


def rule_violation(code: str, field: str, detail: str) -> BusinessRuleError:
    return BusinessRuleError(detail, code=code, errors=[FieldError(field, detail, code)])


def raise_all(problems: list[FieldError]) -> None:
    if problems:
        first = problems[0]
        raise ValidationError(f"{first.field}: {first.message}", code=first.code, errors=problems)
