"""Rounding a group of unrounded amounts once, and handing the total back to its members."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from shared.money import Rounding, quantum, round_to_currency


def allocate(
    unrounded: Sequence[Decimal], total: Decimal, currency: str, rounding: Rounding
) -> list[Decimal]:
    """Split ``total`` (already rounded) over members so the shares sum to it exactly.

    Each member first gets its own amount rounded with ``rounding``. The
    difference d (a whole number of minor units) between ``total`` and those
    shares is then handed out one minor unit at a time: when d > 0 to the
    members whose rounding lost the most (largest ``unrounded - share``), when
    d < 0 to those whose rounding gained the most, ties going to the earlier
    member. |d| never exceeds the number of members, so no member moves by
    more than one unit and every share stays within one minor unit of its
    unrounded amount. The rule is symmetric: negating every input negates
    every share, so a credit note mirrors its invoice.
    """
    unit = quantum(currency)
    shares = [round_to_currency(amount, currency, rounding) for amount in unrounded]
    difference = int((total - sum(shares, Decimal(0))) / unit)
    if difference == 0:
        return shares
    if abs(difference) > len(shares):
        raise ArithmeticError(f"cannot allocate {total} over {len(shares)} shares")
    residual = [amount - share for amount, share in zip(unrounded, shares, strict=True)]
    direction = 1 if difference > 0 else -1
    ranked = sorted(range(len(shares)), key=lambda i: (-direction * residual[i], i))
    for i in ranked[: abs(difference)]:
        shares[i] += direction * unit
    return shares
