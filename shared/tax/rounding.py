"""Rounding a group of unrounded amounts once, and handing the total back to its members."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Protocol

from shared.money import MoneyError, quantum


class RoundingMode(Protocol):
    """A rounding mode by its :mod:`decimal` name: :class:`shared.money.Rounding` or
    :class:`shared.tax.model.TaxRounding` (which adds truncation)."""

    @property
    def decimal_mode(self) -> str: ...


def round_amount(amount: Decimal, currency: str, rounding: RoundingMode) -> Decimal:
    """``amount`` rounded to the currency's minor unit in the given mode."""
    try:
        return amount.quantize(quantum(currency), rounding=rounding.decimal_mode)
    except InvalidOperation as exc:  # pragma: no cover - only for absurd magnitudes
        raise MoneyError(f"cannot round {amount} in {currency}") from exc


def allocate(
    unrounded: Sequence[Decimal], total: Decimal, currency: str, rounding: RoundingMode
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
    shares = [round_amount(amount, currency, rounding) for amount in unrounded]
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


def apportion(weights: Sequence[int], seats: int) -> list[int]:
    """Split ``seats`` whole units over non-negative ``weights`` by highest averages.

    Webster / Sainte-Laguë: member j's k-th unit (k = 0, 1, ...) claims with priority
    ``w_j / (k + 1/2)``, and the ``seats`` highest claims win (ties to the later
    member). Unlike rounding each share and handing out the difference, this is
    *house monotone*: one more seat never takes a unit from any member. A refund's
    tax shares are differences of two apportionments (cumulative refunds), so
    monotonicity is what keeps every share of every refund non-negative. When each
    exact quota ``w_j * seats / sum(w)`` is whole, the shares are exactly those quotas.
    """
    from fractions import Fraction

    if any(w < 0 for w in weights) or seats < 0:
        raise ValueError("weights and seats must not be negative")
    total = sum(weights)
    if total == 0:
        if seats:
            raise ValueError("cannot apportion seats over zero weights")
        return [0] * len(weights)
    shares = [w * seats // total for w in weights]

    def next_claim(j: int) -> tuple[Fraction, int]:
        return Fraction(2 * weights[j], 2 * shares[j] + 1), j

    def last_claim(j: int) -> tuple[Fraction, int]:
        return Fraction(2 * weights[j], 2 * shares[j] - 1), j

    members = range(len(weights))
    while sum(shares) < seats:
        shares[max(next_claim(j) for j in members)[1]] += 1
    while True:
        holding = [j for j in members if shares[j] > 0]
        if not holding:
            return shares
        weakest = min(last_claim(j) for j in holding)
        strongest = max(next_claim(j) for j in members)
        if strongest <= weakest:
            return shares
        shares[weakest[1]] -= 1
        shares[strongest[1]] += 1
