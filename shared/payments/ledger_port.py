"""The ledger port: the postings a payment's lifecycle makes in the double-entry ledger.

The payments processor calls it at fixed points (payments authorize with a hold and
capture by posting it, as shared/ledger/README.md describes two-phase entries):

* after the provider authorized: ``place_hold(payment, hold_id=, amount=, expires_at=)``,
  recorded as ``payment.ledger_hold_id``;
* after the provider captured: ``capture_hold(payment, hold_id=, amount=)``, recorded as
  ``payment.ledger_capture_entry_id`` (a partial capture releases the rest of the hold);
* on cancellation, or when a capture is refused: ``void_hold(payment, hold_id=, reason=)``;
* after the provider refunded: ``post_refund(payment, refund, entry_id=)``, recorded as
  the refund's ``ledger_entry_id``.

The implementation (over the ledger's own use cases) chooses the accounts, e.g.
from ``payment.payer_ref`` and ``payment.payee_ref``. It runs outside any payments
transaction, and every call must be **idempotent**, because a redelivered event
repeats the step after a crash:

* ``place_hold`` creates the pending entry with exactly ``hold_id`` (the ledger's
  ``entry_id``), so a repeat returns the existing hold;
* ``capture_hold`` on a hold already posted returns that posting's entry id;
* ``void_hold`` on a hold already voided or expired returns ``hold_id``;
* ``post_refund`` posts with exactly ``entry_id``, so a repeat returns it.

A rejection that no retry can change (an unknown or closed account, a balance
constraint) is raised as an :class:`~shared.errors.AppError` with a 4xx status:
the processor then fails the payment. Anything else (contention, an outage) is
raised as is and the event is redelivered.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Protocol

from shared.payments.domain import Payment, Refund


def hold_entry_id(payment_id: str) -> str:
    """The ledger entry id of a payment's hold (fixed, so placing it is idempotent)."""
    return f"{payment_id}-hold"


def refund_entry_id(payment_id: str, refund_id: str) -> str:
    """The ledger entry id of a refund's posting."""
    return f"{payment_id}-{refund_id}"


class LedgerPort(Protocol):
    def place_hold(
        self, payment: Payment, *, hold_id: str, amount: Decimal, expires_at: datetime
    ) -> str:
        """Reserve ``amount`` (what the provider authorized) from payer to payee.

        Returns the hold's entry id (``hold_id``). The hold expires at ``expires_at``.
        """
        ...

    def capture_hold(self, payment: Payment, *, hold_id: str, amount: Decimal) -> str:
        """Post ``amount`` of the hold (the rest is released); returns the posting's id."""
        ...

    def void_hold(self, payment: Payment, *, hold_id: str, reason: str) -> str:
        """Release the whole hold; returns ``hold_id``."""
        ...

    def post_refund(self, payment: Payment, refund: Refund, *, entry_id: str) -> str:
        """Post ``refund.amount`` back from payee to payer; returns the entry id."""
        ...
