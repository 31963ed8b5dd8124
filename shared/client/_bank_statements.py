"""Bank statements: import, the reports, manual matching and reconciliation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from shared.client._core import ClientCore
from shared.client._pagination import JSONObject, Page, iterate


class BankStatementMethods(ClientCore):
    def import_bank_statement(self, body: Mapping[str, Any]) -> JSONObject:
        """A statement file (``account_id``, ``format``, ``content``, ``csv`` mapping);
        its lines are matched in the background. The same file again raises a 409."""
        return self._object("import_bank_statement", body=body)

    def list_bank_statements(self, *, limit: int | None = None, cursor: str | None = None) -> Page:
        return self._page("list_bank_statements", query={"limit": limit, "cursor": cursor})

    def iter_bank_statements(self, *, page_size: int | None = None) -> Iterator[JSONObject]:
        return iterate(lambda cursor: self.list_bank_statements(limit=page_size, cursor=cursor))

    def get_bank_statement(self, statement_id: str) -> JSONObject:
        """Status (``importing``, ``matching``, ``matched``, ``reconciled``) and counts."""
        return self._object("get_bank_statement", path={"statement_id": statement_id})

    def list_bank_statement_lines(
        self,
        statement_id: str,
        *,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        return self._page(
            "list_bank_statement_lines",
            path={"statement_id": statement_id},
            query={"status": status, "limit": limit, "cursor": cursor},
        )

    def iter_bank_statement_lines(
        self, statement_id: str, *, status: str | None = None, page_size: int | None = None
    ) -> Iterator[JSONObject]:
        return iterate(
            lambda cursor: self.list_bank_statement_lines(
                statement_id, status=status, limit=page_size, cursor=cursor
            )
        )

    def list_unmatched_bank_entries(
        self, statement_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        """The account's entries in the statement's period that no line holds (a page
        may be shorter than ``limit``; follow ``next_cursor``)."""
        return self._page(
            "list_unmatched_bank_entries",
            path={"statement_id": statement_id},
            query={"limit": limit, "cursor": cursor},
        )

    def iter_unmatched_bank_entries(
        self, statement_id: str, *, page_size: int | None = None
    ) -> Iterator[JSONObject]:
        return iterate(
            lambda cursor: self.list_unmatched_bank_entries(
                statement_id, limit=page_size, cursor=cursor
            )
        )

    def match_bank_statement_line(
        self, statement_id: str, line_id: str, body: Mapping[str, Sequence[str]]
    ) -> JSONObject:
        """``{"entry_ids": [...]}``: entries whose net effect is the line's amount."""
        return self._object(
            "match_bank_statement_line",
            path={"statement_id": statement_id, "line_id": line_id},
            body=body,
        )

    def unmatch_bank_statement_line(self, statement_id: str, line_id: str) -> JSONObject:
        return self._object(
            "unmatch_bank_statement_line",
            path={"statement_id": statement_id, "line_id": line_id},
        )

    def reconcile_bank_statement(self, statement_id: str) -> JSONObject:
        """Only once every line is matched (else a 409 naming how many are not)."""
        return self._object("reconcile_bank_statement", path={"statement_id": statement_id})
