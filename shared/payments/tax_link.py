"""A payment that settles a tax calculation: what must hold when it is created.

The payment's ledger postings take their tax per jurisdiction from the stored
calculation (see ``ledger_adapter.py``), so a payment may only name a calculation
whose figures it can carry: one of the same tenant, an invoice (a credit note is
money going the other way), in the payment's currency, whose payable amount is
exactly the payment's amount. The payable amount is the gross less what the buyer
withholds (Spain's IRPF, for example): a buyer who withholds pays the rest and hands
the withheld part to the tax office on the seller's behalf. Anything else is a 422
naming the field, before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.errors import AppError, ValidationError
from shared.money import format_amount
from shared.payments.domain import Payment
from shared.tax.model import StoredCalculation
from shared.tax.service import get_calculation

if TYPE_CHECKING:
    from google.cloud import firestore

INVOICE = "invoice"


def withheld_by_jurisdiction(calculation: StoredCalculation) -> dict[str, Decimal]:
    """What the buyer withholds per jurisdiction, from the calculation's stored result."""
    withholding: Mapping[str, Any] | None = (calculation.result or {}).get("withholding")
    withheld: dict[str, Decimal] = {}
    for row in (withholding or {}).get("breakdown", ()):
        jurisdiction = str(row["jurisdiction"])
        withheld[jurisdiction] = withheld.get(jurisdiction, Decimal(0)) + Decimal(row["amount"])
    return {j: amount for j, amount in withheld.items() if amount > 0}


def payable_amount(calculation: StoredCalculation) -> Decimal:
    """What the buyer pays: the gross less every withheld amount."""
    withheld = sum(withheld_by_jurisdiction(calculation).values(), Decimal(0))
    return calculation.totals.gross - withheld


def check_payment_against_calculation(payment: Payment, calculation: StoredCalculation) -> None:
    """The pure rules; raises :class:`ValidationError` on the field that breaks one."""
    if calculation.document_type != INVOICE:
        raise ValidationError.for_field(
            "tax_calculation_id",
            f"is a {calculation.document_type}; a payment settles an invoice",
            "not_an_invoice",
        )
    if calculation.currency != payment.currency:
        raise ValidationError.for_field(
            "currency",
            f"must be {calculation.currency}, the currency of the tax calculation",
            "currency_mismatch",
        )
    payable = payable_amount(calculation)
    if payable != payment.amount:
        gross = format_amount(calculation.totals.gross, calculation.currency)
        expected = (
            f"the tax calculation's payable amount {format_amount(payable, calculation.currency)} "
            f"(its gross {gross} less what the buyer withholds)"
            if payable != calculation.totals.gross
            else f"the tax calculation's gross {gross}"
        )
        raise ValidationError.for_field("amount", f"must equal {expected}", "amount_mismatch")


def check_tax_calculation(db: firestore.Client, tenant_id: str, payment: Payment) -> None:
    """Check the calculation a new payment names, if any (see the module docstring)."""
    if payment.tax_calculation_id is None:
        return
    try:
        calculation = get_calculation(db, tenant_id, payment.tax_calculation_id)
    except AppError as exc:
        if exc.status != 404:
            raise
        raise ValidationError.for_field(
            "tax_calculation_id",
            f"no tax calculation {payment.tax_calculation_id} in this tenant",
            "tax_calculation_not_found",
        ) from None
    check_payment_against_calculation(payment, calculation)
