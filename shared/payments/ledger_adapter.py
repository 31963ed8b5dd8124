"""The payments :class:`~shared.payments.ledger_port.LedgerPort` over the ledger's use cases.

Which accounts a payment moves (per tenant and currency; created on first use, see
``README.md`` in this package for the whole mapping):

* ``payments:clearing:{CUR}`` (asset): what the payment provider holds for the
  tenant - debited by a capture, credited by a refund. Every payment of the tenant
  touches it, so it spreads its balance over shards (a hot account, see shared/ledger/README.md).
* ``payments:payee:{hash of payee_ref}:{CUR}`` (revenue): the payee's takings, net
  of tax. The payee reference may hold characters an account code cannot, so the
  code carries a hash and the account's metadata the reference itself.
* ``payments:tax:{jurisdiction}:{CUR}`` (liability): tax payable to one
  jurisdiction, for payments that carry a tax calculation.
* ``payments:withheld:{jurisdiction}:{CUR}`` (asset): what buyers withheld from the
  tenant's invoices and paid to one jurisdiction's tax office on its behalf (Spain's
  IRPF): the buyer pays the invoice's payable amount, and the tenant recovers the
  withheld part from the tax office.

The payer is not an account: the payer's money never sits in the tenant's books (it
goes from the payment method, at the provider, into clearing); ``payer_ref`` is in
every entry's metadata.

Postings, all with ids fixed by the payment (so a redelivered event posts nothing twice):

* authorize: a pending entry ``{payment}-hold``: debit clearing what the buyer pays
  and each withheld account what the buyer withheld, credit the payee's revenue the
  net and each tax-payable account its tax;
* capture: the hold is posted (in full, or per line in proportion for a partial
  capture; the rest is released);
* cancel, a refused capture, an expired authorization: the hold is voided;
* refund: ``{payment}-{refund}`` credits clearing and every withheld account and
  debits revenue and every tax-payable account, the tax and the withheld amounts
  split with :func:`shared.tax.apportion.proportional_tax` over what was captured,
  cumulatively: refunds of the whole captured amount reverse each exactly.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from shared.errors import AppError, BusinessRuleError, ConflictError
from shared.identity.actor import Actor
from shared.instance import per_instance_over
from shared.ledger import (
    AccountType,
    CreateAccountRequest,
    Entry,
    EntryStatus,
    LedgerService,
    PostEntryRequest,
    PostPendingRequest,
    Side,
    VoidPendingRequest,
    parse_request,
)
from shared.ledger.instance import ledger_service
from shared.money import format_amount, from_minor_units
from shared.payments.domain import Payment, Refund, RefundStatus
from shared.payments.tax_link import withheld_by_jurisdiction
from shared.tax.apportion import proportional_tax
from shared.tax.service import get_calculation

PROCESSOR_ACTOR = Actor.system("payments.processor")
CLEARING_SHARDS = 8
TAX_PAYABLE_SHARDS = 4
_PLAIN_CODE_PART = re.compile(r"^[A-Za-z0-9._-]{1,24}$")


def clearing_code(currency: str) -> str:
    return f"payments:clearing:{currency}"


def payee_code(payee_ref: str, currency: str) -> str:
    digest = hashlib.sha256(payee_ref.encode()).hexdigest()[:20]
    return f"payments:payee:{digest}:{currency}"


def tax_payable_code(jurisdiction: str, currency: str) -> str:
    """Jurisdiction codes such as ``DE`` or ``US-CA`` are kept; others are hashed."""
    part = (
        jurisdiction
        if _PLAIN_CODE_PART.match(jurisdiction)
        else "h" + hashlib.sha256(jurisdiction.encode()).hexdigest()[:20]
    )
    return f"payments:tax:{part}:{currency}"


def withheld_code(jurisdiction: str, currency: str) -> str:
    """Like :func:`tax_payable_code`: plain jurisdiction codes are kept, others hashed."""
    return tax_payable_code(jurisdiction, currency).replace("payments:tax:", "payments:withheld:")


def _money(amount: Decimal, currency: str) -> str:
    return format_amount(amount, currency)


def _line(account_id: str, side: Side, amount: Decimal, currency: str) -> dict[str, str]:
    return {
        "account_id": account_id,
        "side": side.value,
        "amount": _money(amount, currency),
        "currency": currency,
    }


class LedgerPaymentsAdapter:
    """:class:`~shared.payments.ledger_port.LedgerPort` backed by a :class:`LedgerService`.

    Thread-safe; keeps a per-instance map from account code to account id (accounts
    are never deleted, so an id once known stays right).
    """

    def __init__(self, ledger: LedgerService) -> None:
        self.ledger = ledger
        self._account_ids: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    # -- accounts -----------------------------------------------------------------------

    def account_id(
        self,
        tenant_id: str,
        code: str,
        *,
        name: str,
        type: AccountType,
        currency: str,
        shards: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """The id of the tenant's account ``code``, creating the account on first use."""
        key = (tenant_id, code)
        with self._lock:
            known = self._account_ids.get(key)
        if known is not None:
            return known
        account_id = self._lookup(tenant_id, code)
        if account_id is None:
            request = parse_request(
                CreateAccountRequest,
                {
                    "code": code,
                    "name": name[:200],
                    "type": type.value,
                    "currency": currency,
                    "balance_shards": shards,
                    "metadata": dict(metadata or {}),
                },
            )
            try:
                account_id = self.ledger.create_account(
                    tenant_id, request, actor=PROCESSOR_ACTOR
                ).id
            except ConflictError as exc:
                # Another delivery created it first: use theirs.
                if exc.code != "account_code_taken":
                    raise
                account_id = self._lookup(tenant_id, code)
                if account_id is None:
                    raise
        with self._lock:
            self._account_ids[key] = account_id
        return account_id

    def _lookup(self, tenant_id: str, code: str) -> str | None:
        snapshot = self.ledger.paths.account_code(tenant_id, code).get()
        if not snapshot.exists:
            return None
        return str((snapshot.to_dict() or {})["account_id"])

    def clearing_account(self, tenant_id: str, currency: str) -> str:
        return self.account_id(
            tenant_id,
            clearing_code(currency),
            name=f"Payment provider clearing ({currency})",
            type=AccountType.ASSET,
            currency=currency,
            shards=CLEARING_SHARDS,
        )

    def payee_account(self, tenant_id: str, payee_ref: str, currency: str) -> str:
        return self.account_id(
            tenant_id,
            payee_code(payee_ref, currency),
            name=f"Revenue of {payee_ref} ({currency})",
            type=AccountType.REVENUE,
            currency=currency,
            metadata={"payee_ref": payee_ref},
        )

    def tax_payable_account(self, tenant_id: str, jurisdiction: str, currency: str) -> str:
        return self.account_id(
            tenant_id,
            tax_payable_code(jurisdiction, currency),
            name=f"Tax payable to {jurisdiction} ({currency})",
            type=AccountType.LIABILITY,
            currency=currency,
            shards=TAX_PAYABLE_SHARDS,
            metadata={"jurisdiction": jurisdiction},
        )

    def withheld_account(self, tenant_id: str, jurisdiction: str, currency: str) -> str:
        return self.account_id(
            tenant_id,
            withheld_code(jurisdiction, currency),
            name=f"Tax withheld by payers, recoverable from {jurisdiction} ({currency})",
            type=AccountType.ASSET,
            currency=currency,
            shards=TAX_PAYABLE_SHARDS,
            metadata={"jurisdiction": jurisdiction},
        )

    # -- the port -----------------------------------------------------------------------

    def place_hold(
        self, payment: Payment, *, hold_id: str, amount: Decimal, expires_at: datetime
    ) -> str:
        tenant, currency = payment.tenant_id, payment.currency
        taxes, withheld = self._hold_figures(payment, amount)
        lines = [_line(self.clearing_account(tenant, currency), Side.DEBIT, amount, currency)]
        for jurisdiction, part in withheld.items():
            if part > 0:
                account = self.withheld_account(tenant, jurisdiction, currency)
                lines.append(_line(account, Side.DEBIT, part, currency))
        net = amount + sum(withheld.values(), Decimal(0)) - sum(taxes.values(), Decimal(0))
        if net > 0:
            payee = self.payee_account(tenant, payment.payee_ref, currency)
            lines.append(_line(payee, Side.CREDIT, net, currency))
        for jurisdiction, tax in taxes.items():
            if tax > 0:
                account = self.tax_payable_account(tenant, jurisdiction, currency)
                lines.append(_line(account, Side.CREDIT, tax, currency))
        request = parse_request(
            PostEntryRequest,
            {
                "entry_id": hold_id,
                "description": f"Authorization of payment {payment.id}",
                "metadata": self._metadata(payment),
                "currency": currency,
                "lines": lines,
                "pending": True,
                "expires_at": expires_at,
            },
        )
        return self._post(tenant, request)

    def capture_hold(self, payment: Payment, *, hold_id: str, amount: Decimal) -> str:
        tenant = payment.tenant_id
        hold = self.ledger.get_entry(tenant, hold_id)
        if hold.status is EntryStatus.POSTED and hold.posting_entry_id:
            return hold.posting_entry_id
        request = PostPendingRequest(
            line_amounts=self._capture_line_amounts(payment, hold, amount),
            description=f"Capture of payment {payment.id}",
        )
        try:
            posting = self.ledger.post_pending(
                tenant, hold_id, request, actor=PROCESSOR_ACTOR
            ).posting
        except ConflictError as exc:
            if exc.code != "hold_already_posted":
                raise
            # A concurrent delivery posted it: that posting is this capture's.
            posting = None
        posting_id = (
            posting.id if posting else self.ledger.get_entry(tenant, hold_id).posting_entry_id
        )
        if posting_id is None:
            raise RuntimeError(f"hold {hold_id} was posted without a posting entry")
        return posting_id

    def void_hold(self, payment: Payment, *, hold_id: str, reason: str) -> str:
        tenant = payment.tenant_id
        try:
            hold = self.ledger.get_entry(tenant, hold_id)
        except AppError as exc:
            if exc.status == 404:
                return hold_id  # never placed: nothing is reserved
            raise
        if hold.status in (EntryStatus.VOIDED, EntryStatus.EXPIRED):
            return hold_id
        if hold.status is EntryStatus.POSTED:
            raise BusinessRuleError(
                f"hold {hold_id} is already posted and cannot be voided",
                code="hold_already_posted",
            )
        try:
            self.ledger.void_pending(
                tenant,
                hold_id,
                VoidPendingRequest(reason=reason[:500]),
                actor=PROCESSOR_ACTOR,
            )
        except AppError as exc:
            # Voided meanwhile, or past its expiry (then only the expiry job may release
            # it, and will): either way nothing stays reserved for this payment.
            if exc.code not in ("hold_already_voided", "hold_already_expired", "hold_expired"):
                raise
        return hold_id

    def post_refund(self, payment: Payment, refund: Refund, *, entry_id: str) -> str:
        tenant, currency = payment.tenant_id, payment.currency
        if self._exists(tenant, entry_id):
            return entry_id
        if payment.ledger_capture_entry_id is None:
            raise BusinessRuleError(
                f"payment {payment.id} has no capture to refund", code="payment_not_captured"
            )
        posting = self.ledger.get_entry(tenant, payment.ledger_capture_entry_id)
        clearing = self.clearing_account(tenant, currency)
        payee = self.payee_account(tenant, payment.payee_ref, currency)
        captured_taxes = {
            line.account_id: from_minor_units(line.amount_minor, currency)
            for line in posting.lines
            if line.side is Side.CREDIT and line.account_id != payee
        }
        captured_withheld = {
            line.account_id: from_minor_units(line.amount_minor, currency)
            for line in posting.lines
            if line.side is Side.DEBIT and line.account_id != clearing
        }
        taxes = refund_taxes(payment, refund, captured_taxes)
        withheld = refund_taxes(payment, refund, captured_withheld)
        lines = [_line(clearing, Side.CREDIT, refund.amount, currency)]
        for account_id, part in withheld.items():
            if part > 0:
                lines.append(_line(account_id, Side.CREDIT, part, currency))
        net = refund.amount + sum(withheld.values(), Decimal(0)) - sum(taxes.values(), Decimal(0))
        if net > 0:
            lines.append(_line(payee, Side.DEBIT, net, currency))
        for account_id, tax in taxes.items():
            if tax > 0:
                lines.append(_line(account_id, Side.DEBIT, tax, currency))
        request = parse_request(
            PostEntryRequest,
            {
                "entry_id": entry_id,
                "description": f"Refund {refund.id} of payment {payment.id}",
                "metadata": {**self._metadata(payment), "refund_id": refund.id},
                "currency": currency,
                "lines": lines,
            },
        )
        return self._post(tenant, request)

    # -- internals ----------------------------------------------------------------------

    def _hold_figures(
        self, payment: Payment, amount: Decimal
    ) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        """Tax and withheld amounts per jurisdiction for a hold of ``amount``.

        All of them for the whole payment; in proportion when only part is authorized.
        """
        if payment.tax_calculation_id is None:
            return {}, {}
        calculation = get_calculation(self.ledger.db, payment.tenant_id, payment.tax_calculation_id)
        taxes = {j: t for j, t in calculation.jurisdiction_totals.items() if t > 0}
        withheld = withheld_by_jurisdiction(calculation)
        if amount == payment.amount:
            return taxes, withheld

        def share(parts: dict[str, Decimal]) -> dict[str, Decimal]:
            if not parts:
                return {}
            return proportional_tax(parts, amount, payment.amount, currency=payment.currency)

        return share(taxes), share(withheld)

    def _capture_line_amounts(
        self, payment: Payment, hold: Entry, amount: Decimal
    ) -> list[str] | None:
        """Per hold line, what a capture of ``amount`` posts: tax in proportion, net the rest.

        None when ``amount`` is the whole hold (posted as it stands).
        """
        currency = payment.currency
        held = {
            i: from_minor_units(line.amount_minor, currency) for i, line in enumerate(hold.lines)
        }
        clearing = self.clearing_account(payment.tenant_id, currency)
        payee = self.payee_account(payment.tenant_id, payment.payee_ref, currency)
        total = sum(
            (held[i] for i, line in enumerate(hold.lines) if line.account_id == clearing),
            Decimal(0),
        )
        if amount == total:
            return None

        def share(side: Side, other: str) -> dict[str, Decimal]:
            parts = {
                str(i): held[i]
                for i, line in enumerate(hold.lines)
                if line.side is side and line.account_id != other
            }
            return proportional_tax(parts, amount, total, currency=currency) if parts else {}

        taxes = share(Side.CREDIT, payee)
        withheld = share(Side.DEBIT, clearing)
        net = amount + sum(withheld.values(), Decimal(0)) - sum(taxes.values(), Decimal(0))
        amounts = []
        for i, line in enumerate(hold.lines):
            if line.account_id == clearing:
                amounts.append(amount)
            elif str(i) in taxes:
                amounts.append(taxes[str(i)])
            elif str(i) in withheld:
                amounts.append(withheld[str(i)])
            else:
                amounts.append(net)
        return [_money(a, currency) for a in amounts]

    def _metadata(self, payment: Payment) -> dict[str, str]:
        metadata = {
            "payment_id": payment.id,
            "payer_ref": payment.payer_ref,
            "payee_ref": payment.payee_ref,
        }
        if payment.tax_calculation_id:
            metadata["tax_calculation_id"] = payment.tax_calculation_id
        return metadata

    def _exists(self, tenant_id: str, entry_id: str) -> bool:
        return bool(self.ledger.paths.entry(tenant_id, entry_id).get().exists)

    def _post(self, tenant_id: str, request: PostEntryRequest) -> str:
        assert request.entry_id is not None
        try:
            return self.ledger.post_entry(tenant_id, request, actor=PROCESSOR_ACTOR).id
        except ConflictError as exc:
            # The id is this payment's own: an entry under it was posted by an earlier
            # delivery (possibly from inputs that have moved since), and it stands.
            if exc.code != "entry_id_conflict":
                raise
            return request.entry_id


def refund_taxes(
    payment: Payment, refund: Refund, captured_taxes: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """The tax a refund reverses per tax account: its cumulative share of what was captured.

    Refunds count in the order they were requested (failed ones excluded), so each
    refund's share is fixed whatever order the processor completes them in, and the
    shares of refunds covering the whole captured amount sum to the captured tax.
    """
    taxes = {k: v for k, v in captured_taxes.items() if v > 0}
    if not taxes:
        return {}
    before = Decimal(0)
    for earlier in payment.refunds:
        if earlier.id == refund.id:
            break
        if earlier.status is not RefundStatus.FAILED:
            before += earlier.amount
    return proportional_tax(
        taxes,
        refund.amount,
        payment.captured_amount,
        currency=payment.currency,
        already_refunded=before,
    )


@per_instance_over(ledger_service)
def payments_ledger(ledger: LedgerService) -> LedgerPaymentsAdapter:
    """The instance's adapter over the instance's ledger service."""
    return LedgerPaymentsAdapter(ledger)
