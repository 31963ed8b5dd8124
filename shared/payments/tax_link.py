"""A payment that settles a tax calculation: what must hold when it is created.

The payment's ledger postings take their tax per jurisdiction from the stored
calculation (see ``ledger_adapter.py``), so a payment may only name a calculation
whose figures it can carry: one of the same tenant, an invoice (a credit note is
money going the other way), in the payment's currency, whose gross is exactly
the payment's amount. Anything else is a 422 naming the field, before anything
is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.errors import AppError, ValidationError
from shared.money import format_amount
from shared.payments.domain import Payment
from shared.tax.model import StoredCalculation
from shared.tax.service import get_calculation

if TYPE_CHECKING:
    from google.cloud import firestore

INVOICE = "invoice"


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
    if calculation.totals.gross != payment.amount:
        raise ValidationError.for_field(
            "amount",
            f"must equal the tax calculation's gross "
            f"{format_amount(calculation.totals.gross, calculation.currency)}",
            "amount_mismatch",
        )


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
