"""The ledger's account use cases: create, read, list, update, and the trial balance."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from shared.errors import ConflictError, FieldError
from shared.events.transact import read_retried, transact
from shared.identity.actor import Actor
from shared.ledger import account_rules
from shared.ledger.core import LedgerCore, cursor_mismatch, page_limit
from shared.ledger.model import (
    ACCOUNT_ID_PREFIX,
    Account,
    AccountStatus,
    AccountType,
    AccountWithBalances,
    Balances,
    CurrencyTrialBalance,
    TrialBalance,
    TrialBalanceRow,
    new_id,
)
from shared.ledger.repository import account_from_document, account_to_document
from shared.ledger.requests import (
    ACCOUNTS_CURSOR,
    AccountsPosition,
    CreateAccountRequest,
    UpdateAccountRequest,
)
from shared.ledger.store import ACCOUNTS_ORDER
from shared.pagination import DEFAULT_PAGE_SIZE, Page, keyset_page


class AccountUseCases(LedgerCore):
    def create_account(
        self,
        tenant_id: str,
        request: CreateAccountRequest,
        *,
        actor: Actor,
        correlation_id: str | None = None,
    ) -> Account:
        """Create an account; its code is unique in the tenant (409 ``account_code_taken``)."""
        recorded = actor.to_audit()
        account = account_rules.new_account(
            request, account_id=new_id(ACCOUNT_ID_PREFIX), now=self._now()
        )
        account_ref = self.paths.account(tenant_id, account.id)
        code_ref = self.paths.account_code(tenant_id, account.code)

        def attempt(transaction: Any) -> Account:
            code = code_ref.get(transaction=transaction)
            if code.exists:
                if (code.to_dict() or {}).get("account_id") == account.id:
                    return self.store.read_account(tenant_id, account.id, transaction)
                raise ConflictError(
                    f"account code {account.code!r} is already used in this tenant",
                    code="account_code_taken",
                    errors=[FieldError("code", "already used", "account_code_taken")],
                )
            transaction.create(account_ref, account_to_document(account))
            transaction.create(
                code_ref, {"account_id": account.id, "created_at": account.created_at}
            )
            self._stage(
                transaction,
                tenant_id,
                "ledger.account_created",
                subject=f"accounts/{account.id}",
                data={"account": account.to_json()},
                actor=recorded,
                action="ledger.account.created",
                resource=("ledger_account", account.id),
                details={"code": account.code, "currency": account.currency},
                correlation_id=correlation_id,
            )
            return account

        return transact(
            self.db,
            attempt,
            name="create_account",
            publisher=self._publisher,
            retry=self.settings.retry,
            attempts=self.settings.transaction_attempts,
        )

    def get_account(self, tenant_id: str, account_id: str) -> AccountWithBalances:
        """The account with its posted, pending and available balances (404 if absent)."""
        account = self.store.read_account(tenant_id, account_id, None)
        totals = self.store.read_totals(tenant_id, [account])[account.id]
        return AccountWithBalances(account, Balances(account.currency, account.normal_side, totals))

    def list_accounts(
        self,
        tenant_id: str,
        *,
        type: AccountType | None = None,
        status: AccountStatus | None = None,
        currency: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[Account]:
        """Accounts in creation order (ids are time-ordered), optionally filtered."""
        limit = page_limit(limit)
        filters = {
            "type": type.value if type else None,
            "status": status.value if status else None,
            "currency": currency,
        }
        return keyset_page(
            self.store.accounts_query(tenant_id, filters),
            order=ACCOUNTS_ORDER,
            position=AccountsPosition,
            scope=ACCOUNTS_CURSOR,
            cursor=cursor,
            limit=limit,
            bound={"filters": filters},
            mismatch=cursor_mismatch,
            to_item=lambda s: account_from_document(s.id, s.to_dict() or {}),
            start_after=lambda p: (self.paths.account(tenant_id, p.after),),
            position_of=lambda account: AccountsPosition(after=account.id, filters=filters),
        )

    def update_account(
        self,
        tenant_id: str,
        account_id: str,
        request: UpdateAccountRequest,
        *,
        actor: Actor,
        correlation_id: str | None = None,
    ) -> AccountWithBalances:
        """Rename, freeze, unfreeze, close (only at zero), or retype an unused account."""
        from google.cloud import firestore as fs

        recorded = actor.to_audit()

        def attempt(transaction: Any) -> AccountWithBalances:
            account = self.store.read_account(tenant_id, account_id, transaction)
            totals = self.store.read_totals(tenant_id, [account], transaction)[account.id]
            retyped = (request.type not in (None, account.type)) or (
                request.currency not in (None, account.currency)
            )
            used = retyped and self.store.has_entries(tenant_id, account_id, transaction)
            update = account_rules.update_account(
                account, request, totals, has_postings=used, now=self._now()
            )
            result = AccountWithBalances(
                update.account,
                Balances(update.account.currency, update.account.normal_side, totals),
            )
            if not update.changed:
                return result
            transaction.set(
                self.paths.account(tenant_id, account_id), account_to_document(update.account)
            )
            if set(update.changes) - {"name", "metadata"}:
                # Postings validate against cached accounts of the version they read.
                transaction.set(
                    self.paths.accounts_version(tenant_id),
                    {"version": fs.Increment(1), "updated_at": update.account.updated_at},
                    merge=True,
                )
            self._stage(
                transaction,
                tenant_id,
                "ledger.account_updated",
                subject=f"accounts/{account_id}",
                data={"account": update.account.to_json(), "changes": update.changes},
                actor=recorded,
                action="ledger.account.updated",
                resource=("ledger_account", account_id),
                details={"changes": update.changes},
                correlation_id=correlation_id,
            )
            return result

        return transact(
            self.db,
            attempt,
            name="update_account",
            publisher=self._publisher,
            retry=self.settings.retry,
            attempts=self.settings.transaction_attempts,
        )

    def with_balances(
        self, tenant_id: str, accounts: Sequence[Account]
    ) -> list[AccountWithBalances]:
        """The accounts with their balances, read in one batch."""
        totals = self.store.read_totals(tenant_id, list(accounts))
        return [
            AccountWithBalances(a, Balances(a.currency, a.normal_side, totals[a.id]))
            for a in accounts
        ]

    def trial_balance(self, tenant_id: str) -> TrialBalance:
        """Posted balances of every account, per currency, read at one instant.

        Each currency's debit column equals its credit column (``net`` is zero)
        whenever the ledger is sound; all reads share one snapshot, so concurrent
        postings never make a trial balance disagree with itself.
        """
        accounts, totals = read_retried(
            lambda: self.store.accounts_with_totals(tenant_id),
            retry=self.settings.retry,
            name="ledger.trial_balance",
        )
        rows: dict[str, list[TrialBalanceRow]] = defaultdict(list)
        for account in sorted(accounts, key=lambda a: a.code):
            t = totals[account.id]
            net = t.debits_posted - t.credits_posted
            rows[account.currency].append(
                TrialBalanceRow(
                    account.id,
                    account.code,
                    account.name,
                    account.type,
                    account.status,
                    debit_balance=max(net, 0),
                    credit_balance=max(-net, 0),
                )
            )
        currencies = [CurrencyTrialBalance(c, rows[c]) for c in sorted(rows)]
        return TrialBalance(self._now(), currencies)
