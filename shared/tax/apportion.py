"""A partial refund's tax per jurisdiction: pure maths over Decimals, exact to the minor unit.

Payments uses :func:`proportional_tax` to split a refund's tax over the
jurisdictions of the stored calculation (see ``shared.payments.ledger_adapter``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, localcontext

from shared.money import MoneyError, Rounding, from_minor_units, round_to_currency, to_minor_units
from shared.tax.model import DECIMAL_CONTEXT, invalid
from shared.tax.rounding import allocate, apportion


def proportional_tax(
    calc_totals: Mapping[str, Decimal],
    refunded_amount: Decimal,
    gross_total: Decimal,
    *,
    currency: str,
    rounding: Rounding = Rounding.HALF_UP,
    already_refunded: Decimal = Decimal(0),
) -> dict[str, Decimal]:
    """The tax inside a refund of ``refunded_amount`` out of ``gross_total``, per jurisdiction.

    The refund's tax is ``total tax * refunded / gross``, rounded once in the
    currency; it is split over the jurisdictions in proportion to their tax
    with :func:`shared.tax.allocate`, so the parts sum to it exactly.

    Successive partial refunds pass what was refunded before as
    ``already_refunded``: the answer is then the allocation of the cumulative
    refund minus that of the earlier ones, so refunding the whole gross in any
    number of steps returns each jurisdiction's tax exactly, never a minor
    unit more or less.
    """
    for name, amount in (
        ("refunded_amount", refunded_amount),
        ("gross_total", gross_total),
        ("already_refunded", already_refunded),
    ):
        _check_exact(name, amount, currency)
    if gross_total <= 0:
        raise invalid("gross_total", "a refund needs a positive gross total", "invalid_amount")
    if refunded_amount < 0:
        raise invalid("refunded_amount", "a refund amount is not negative", "negative_amount")
    if already_refunded < 0:
        raise invalid("already_refunded", "must not be negative", "negative_amount")
    if already_refunded + refunded_amount > gross_total:
        raise invalid(
            "refunded_amount",
            f"refunds of {already_refunded + refunded_amount} would exceed the gross {gross_total}",
            "refund_exceeds_gross",
        )
    for code, amount in calc_totals.items():
        _check_exact(f"calc_totals.{code}", amount, currency)
    before = _allocated_share(calc_totals, already_refunded, gross_total, currency, rounding)
    through = _allocated_share(
        calc_totals, already_refunded + refunded_amount, gross_total, currency, rounding
    )
    return {code: through[code] - before[code] for code in calc_totals}


def _allocated_share(
    totals: Mapping[str, Decimal],
    refunded: Decimal,
    gross: Decimal,
    currency: str,
    rounding: Rounding,
) -> dict[str, Decimal]:
    codes = list(totals)
    if not codes:
        return {}
    with localcontext(DECIMAL_CONTEXT):
        exact = [totals[code] * refunded / gross for code in codes]
        total = round_to_currency(sum(exact, Decimal(0)), currency, rounding)
        weights = [to_minor_units(totals[code], currency) for code in codes]
        sign = -1 if any(w < 0 for w in weights) else 1
        if all(sign * w >= 0 for w in weights):
            # Apportioned by highest averages, not allocate(): a later cumulative share
            # must never be below an earlier one, or a small refund would reverse
            # negative tax in one jurisdiction (and more in another).
            units = apportion([sign * w for w in weights], sign * to_minor_units(total, currency))
            shares = [from_minor_units(sign * u, currency) for u in units]
        else:
            shares = allocate(exact, total, currency, rounding)
    return dict(zip(codes, shares, strict=True))


def _check_exact(field: str, amount: Decimal, currency: str) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise invalid(field, "must be a finite Decimal", "invalid_amount")
    try:
        to_minor_units(amount, currency)
    except MoneyError as exc:
        raise invalid(field, str(exc), "too_many_decimals") from None
