"""The double-entry ledger: pure rules (``domain``), Firestore persistence and use cases.

Adapters use :class:`LedgerService` (one per instance, over the instance's Firestore
client) and the request models of :mod:`shared.ledger.requests`. Importing this
package does not import the Google client libraries; the service imports them when
a use case first runs.
"""

from shared.ledger.model import (
    Account,
    AccountStatus,
    AccountType,
    AccountWithBalances,
    BalanceConstraint,
    Balances,
    BalanceTotals,
    Discrepancy,
    Entry,
    EntryKind,
    EntryStatus,
    ExpiryRun,
    HoldTransition,
    LedgerPeriod,
    Line,
    ReconciliationReport,
    Reversal,
    Side,
    TrialBalance,
)
from shared.ledger.requests import (
    ClosePeriodRequest,
    CreateAccountRequest,
    LineIn,
    ListAccountEntriesQuery,
    ListAccountsQuery,
    PostEntryRequest,
    PostPendingRequest,
    ReopenPeriodRequest,
    ReverseEntryRequest,
    UpdateAccountRequest,
    VoidPendingRequest,
    parse_request,
)
from shared.ledger.service import LEDGER_TOPIC, LedgerService, LedgerSettings

__all__ = [
    "LEDGER_TOPIC",
    "Account",
    "AccountStatus",
    "AccountType",
    "AccountWithBalances",
    "BalanceConstraint",
    "BalanceTotals",
    "Balances",
    "ClosePeriodRequest",
    "CreateAccountRequest",
    "Discrepancy",
    "Entry",
    "EntryKind",
    "EntryStatus",
    "ExpiryRun",
    "HoldTransition",
    "LedgerPeriod",
    "LedgerService",
    "LedgerSettings",
    "Line",
    "LineIn",
    "ListAccountEntriesQuery",
    "ListAccountsQuery",
    "PostEntryRequest",
    "PostPendingRequest",
    "ReconciliationReport",
    "ReopenPeriodRequest",
    "Reversal",
    "ReverseEntryRequest",
    "Side",
    "TrialBalance",
    "UpdateAccountRequest",
    "VoidPendingRequest",
    "parse_request",
]
