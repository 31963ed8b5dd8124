"""Accounts, journal entries, periods and statements."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any, Literal

from shared.client._core import ClientCore
from shared.client._pagination import JSONObject, Page, iterate

AccountType = Literal["asset", "liability", "equity", "revenue", "expense"]
AccountStatus = Literal["active", "frozen", "closed"]


class LedgerMethods(ClientCore):
    def create_account(
        self, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> JSONObject:
        """An account (``code``, ``name``, ``type``, ``currency``, ...)."""
        return self._object("create_account", body=body, idempotency_key=idempotency_key)

    def list_accounts(
        self,
        *,
        type: AccountType | None = None,
        status: AccountStatus | None = None,
        currency: str | None = None,
        with_balances: bool | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        query = {"type": type, "status": status, "currency": currency}
        return self._page(
            "list_accounts",
            query={**query, "with_balances": with_balances, "limit": limit, "cursor": cursor},
        )

    def iter_accounts(
        self,
        *,
        type: AccountType | None = None,
        status: AccountStatus | None = None,
        currency: str | None = None,
        with_balances: bool | None = None,
        page_size: int | None = None,
    ) -> Iterator[JSONObject]:
        return iterate(
            lambda cursor: self.list_accounts(
                type=type,
                status=status,
                currency=currency,
                with_balances=with_balances,
                limit=page_size,
                cursor=cursor,
            )
        )

    def get_account(self, account_id: str) -> JSONObject:
        """One account with its posted, pending and available balances."""
        return self._object("get_account", path={"account_id": account_id})

    def update_account(self, account_id: str, body: Mapping[str, Any]) -> JSONObject:
        return self._object("update_account", path={"account_id": account_id}, body=body)

    def list_account_entries(
        self,
        account_id: str,
        *,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        return self._page(
            "list_account_entries",
            path={"account_id": account_id},
            query={"date_from": date_from, "date_to": date_to, "limit": limit, "cursor": cursor},
        )

    def iter_account_entries(
        self,
        account_id: str,
        *,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        page_size: int | None = None,
    ) -> Iterator[JSONObject]:
        """Every entry that posted to the account, page after page."""
        return iterate(
            lambda cursor: self.list_account_entries(
                account_id, date_from=date_from, date_to=date_to, limit=page_size, cursor=cursor
            )
        )

    def export_account_entries(
        self,
        account_id: str,
        from_: date | str,
        to: date | str,
        *,
        format: Literal["csv", "jsonl"] | None = None,
    ) -> str:
        """The account's lines dated ``from_`` to ``to`` (inclusive) as CSV (the default)
        or JSON Lines, with a running posted balance; the text of the export."""
        return self._text(
            "export_account_entries",
            path={"account_id": account_id},
            query={"from": from_, "to": to, "format": format},
        )

    def get_account_balance(self, account_id: str, as_of: date | str) -> JSONObject:
        """The account's balances after every entry dated on or before ``as_of``."""
        return self._object(
            "get_account_balance", path={"account_id": account_id}, query={"as_of": as_of}
        )

    def get_account_balance_history(
        self, account_id: str, from_: date | str, to: date | str
    ) -> JSONObject:
        """The account's closing balance of every day from ``from_`` to ``to`` (inclusive)."""
        return self._object(
            "get_account_balance_history",
            path={"account_id": account_id},
            query={"from": from_, "to": to},
        )

    def create_balance_monitor(
        self, account_id: str, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> JSONObject:
        """Watch the account's balance; an event (and webhook) each time it crosses."""
        return self._object(
            "create_balance_monitor",
            path={"account_id": account_id},
            body=body,
            idempotency_key=idempotency_key,
        )

    def list_balance_monitors(self, account_id: str) -> list[JSONObject]:
        return self._objects("list_balance_monitors", path={"account_id": account_id})

    def get_balance_monitor(self, account_id: str, monitor_id: str) -> JSONObject:
        return self._object(
            "get_balance_monitor", path={"account_id": account_id, "monitor_id": monitor_id}
        )

    def delete_balance_monitor(self, account_id: str, monitor_id: str) -> None:
        self._nothing(
            "delete_balance_monitor", path={"account_id": account_id, "monitor_id": monitor_id}
        )

    def post_journal_entry(
        self, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> JSONObject:
        """A balanced entry (``lines`` of ``account_id``, ``side``, ``amount``), posted or
        ``pending``. Pass the same ``idempotency_key`` to retry without posting twice."""
        return self._object("post_journal_entry", body=body, idempotency_key=idempotency_key)

    def post_linked_journal_entries(
        self, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> JSONObject:
        """Several entries (``{"entries": [...]}``, each as ``post_journal_entry`` takes it)
        posted all or none; the answer has the ``batch_id`` and the entries in order."""
        return self._object(
            "post_linked_journal_entries", body=body, idempotency_key=idempotency_key
        )

    def get_journal_entry(self, entry_id: str) -> JSONObject:
        return self._object("get_journal_entry", path={"entry_id": entry_id})

    def post_pending_entry(
        self, entry_id: str, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> JSONObject:
        """Post a pending entry (a hold), in full or in part."""
        return self._object(
            "post_pending_entry",
            path={"entry_id": entry_id},
            body=body,
            idempotency_key=idempotency_key,
        )

    def reverse_journal_entry(
        self, entry_id: str, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> JSONObject:
        return self._object(
            "reverse_journal_entry",
            path={"entry_id": entry_id},
            body=body,
            idempotency_key=idempotency_key,
        )

    def void_pending_entry(
        self, entry_id: str, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> JSONObject:
        return self._object(
            "void_pending_entry",
            path={"entry_id": entry_id},
            body=body,
            idempotency_key=idempotency_key,
        )

    def get_ledger_period(self) -> JSONObject:
        return self._object("get_ledger_period")

    def close_ledger_period(self, body: Mapping[str, Any]) -> JSONObject:
        return self._object("close_ledger_period", body=body)

    def reopen_ledger_period(self, body: Mapping[str, Any]) -> JSONObject:
        return self._object("reopen_ledger_period", body=body)

    def reconcile_ledger(self) -> JSONObject:
        """Recompute the balances from the lines now; the report of what differed."""
        return self._object("reconcile_ledger")

    def get_latest_reconciliation(self) -> JSONObject:
        return self._object("get_latest_reconciliation")

    def get_balance_sheet(self, as_of: date | str) -> JSONObject:
        return self._object("get_balance_sheet", query={"as_of": as_of})

    def get_income_statement(self, from_: date | str, to: date | str) -> JSONObject:
        """The income statement from ``from_`` to ``to``, both days inclusive."""
        return self._object("get_income_statement", query={"from": from_, "to": to})

    def export_balance_sheet(self, as_of: date | str) -> str:
        """The balance sheet as of a day, as CSV text."""
        return self._text("export_balance_sheet", query={"as_of": as_of})

    def export_income_statement(self, from_: date | str, to: date | str) -> str:
        """The income statement from ``from_`` to ``to`` (inclusive), as CSV text."""
        return self._text("export_income_statement", query={"from": from_, "to": to})

    def get_trial_balance(self) -> JSONObject:
        return self._object("get_trial_balance")
