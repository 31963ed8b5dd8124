"""Bank reconciliation: bank statements (CSV, CAMT.053) matched against the ledger.

The public face: import and the reports (the ``bank_statements`` function), the
automatic matching (``match_bank_statements``), manual matching and reconciliation.
See ``README.md``.
"""

from shared.bank_reconciliation.auto_match import MatchRun, finish_matching, match_statement
from shared.bank_reconciliation.manual import match_line, reconcile_statement, unmatch_line
from shared.bank_reconciliation.model import BankStatement, StatementLine
from shared.bank_reconciliation.reports import list_lines, list_statements, unmatched_entries
from shared.bank_reconciliation.requests import (
    ImportStatementRequest,
    LinePath,
    LinesQuery,
    MatchLineRequest,
    StatementImportedData,
    StatementPath,
    StatementsQuery,
    UnmatchedEntriesQuery,
)
from shared.bank_reconciliation.rules import IMPORTED_TYPE, TOPIC
from shared.bank_reconciliation.service import find_statement, get_statement, import_statement

__all__ = [
    "IMPORTED_TYPE",
    "TOPIC",
    "BankStatement",
    "ImportStatementRequest",
    "LinePath",
    "LinesQuery",
    "MatchLineRequest",
    "MatchRun",
    "StatementImportedData",
    "StatementLine",
    "StatementPath",
    "StatementsQuery",
    "UnmatchedEntriesQuery",
    "find_statement",
    "finish_matching",
    "get_statement",
    "import_statement",
    "list_lines",
    "list_statements",
    "match_line",
    "match_statement",
    "reconcile_statement",
    "unmatch_line",
    "unmatched_entries",
]
