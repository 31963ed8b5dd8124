"""Every operation of the API, once: the client's method name for each method and path.

The drift test compares this table with the gateway's merged OpenAPI document, so an
operation the API gains, loses or changes (its idempotency key, its authentication,
its envelope) fails the tests until the client follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Method = Literal["GET", "POST", "PATCH", "PUT", "DELETE"]


@dataclass(frozen=True)
class Operation:
    method: Method
    path: str
    # An Idempotency-Key header is declared: the client sends a fresh uuid4 unless given one.
    idempotent: bool = False
    # A bearer token is required (every operation but signup, login, refresh, health, JWKS).
    auth: bool = True
    # The answer is {"data": ..., "meta": ...}; False for documents served as they are.
    envelope: bool = True


def _op(
    method: Method, path: str, *, idempotent: bool = False, auth: bool = True, envelope: bool = True
) -> Operation:
    return Operation(method, path, idempotent=idempotent, auth=auth, envelope=envelope)


OPERATIONS: dict[str, Operation] = {
    # identity: signup, tokens, users
    "sign_up": _op("POST", "/v1/signup", idempotent=True, auth=False),
    "log_in": _op("POST", "/v1/auth/token", auth=False),
    "refresh_tokens": _op("POST", "/v1/auth/refresh", auth=False),
    "log_out": _op("POST", "/v1/auth/logout"),
    "request_password_reset": _op("POST", "/v1/auth/password-reset", auth=False),
    "confirm_password_reset": _op("POST", "/v1/auth/password-reset/confirm", auth=False),
    "verify_email": _op("POST", "/v1/auth/verify-email", auth=False),
    "resend_verification_email": _op("POST", "/v1/auth/verify-email/resend"),
    "get_signing_keys": _op("GET", "/.well-known/jwks.json", auth=False, envelope=False),
    "list_users": _op("GET", "/v1/users"),
    "add_user": _op("POST", "/v1/users", idempotent=True),
    "list_invitations": _op("GET", "/v1/users/invitations"),
    "get_invitation": _op("GET", "/v1/users/invitations/{invitation_id}"),
    "resend_invitation": _op("POST", "/v1/users/invitations/{invitation_id}/resend"),
    "revoke_invitation": _op("POST", "/v1/users/invitations/{invitation_id}/revoke"),
    "accept_invitation": _op("POST", "/v1/users/invitations/accept", auth=False),
    "get_me": _op("GET", "/v1/users/me"),
    "update_me": _op("PATCH", "/v1/users/me"),
    "change_password": _op("POST", "/v1/users/me/password"),
    "get_user": _op("GET", "/v1/users/{user_id}"),
    "change_user_role": _op("PATCH", "/v1/users/{user_id}/role"),
    "change_user_status": _op("PATCH", "/v1/users/{user_id}/status"),
    # ledger: accounts, journal, periods, statements
    "create_account": _op("POST", "/v1/accounts", idempotent=True),
    "list_accounts": _op("GET", "/v1/accounts"),
    "get_account": _op("GET", "/v1/accounts/{account_id}"),
    "update_account": _op("PATCH", "/v1/accounts/{account_id}"),
    "list_account_entries": _op("GET", "/v1/accounts/{account_id}/entries"),
    "export_account_entries": _op(
        "GET", "/v1/accounts/{account_id}/entries/export", envelope=False
    ),
    "get_account_balance": _op("GET", "/v1/accounts/{account_id}/balance"),
    "get_account_balance_history": _op("GET", "/v1/accounts/{account_id}/balance-history"),
    "create_balance_monitor": _op("POST", "/v1/accounts/{account_id}/monitors", idempotent=True),
    "list_balance_monitors": _op("GET", "/v1/accounts/{account_id}/monitors"),
    "get_balance_monitor": _op("GET", "/v1/accounts/{account_id}/monitors/{monitor_id}"),
    "delete_balance_monitor": _op("DELETE", "/v1/accounts/{account_id}/monitors/{monitor_id}"),
    "post_journal_entry": _op("POST", "/v1/journal-entries", idempotent=True),
    "post_linked_journal_entries": _op("POST", "/v1/journal-entry-batches", idempotent=True),
    "get_journal_entry": _op("GET", "/v1/journal-entries/{entry_id}"),
    "post_pending_entry": _op("POST", "/v1/journal-entries/{entry_id}/post", idempotent=True),
    "reverse_journal_entry": _op("POST", "/v1/journal-entries/{entry_id}/reverse", idempotent=True),
    "void_pending_entry": _op("POST", "/v1/journal-entries/{entry_id}/void", idempotent=True),
    "get_ledger_period": _op("GET", "/v1/ledger/period"),
    "close_ledger_period": _op("POST", "/v1/ledger/period/close"),
    "reopen_ledger_period": _op("POST", "/v1/ledger/period/reopen"),
    "reconcile_ledger": _op("POST", "/v1/ledger/reconciliations"),
    "get_latest_reconciliation": _op("GET", "/v1/ledger/reconciliations/latest"),
    "get_balance_sheet": _op("GET", "/v1/ledger/statements/balance-sheet"),
    "get_income_statement": _op("GET", "/v1/ledger/statements/income"),
    "export_balance_sheet": _op(
        "GET", "/v1/ledger/statements/balance-sheet/export", envelope=False
    ),
    "export_income_statement": _op("GET", "/v1/ledger/statements/income/export", envelope=False),
    "get_trial_balance": _op("GET", "/v1/ledger/trial-balance"),
    # payments
    "create_payment": _op("POST", "/v1/payments", idempotent=True),
    "list_payments": _op("GET", "/v1/payments"),
    "get_payment": _op("GET", "/v1/payments/{payment_id}"),
    "cancel_payment": _op("POST", "/v1/payments/{payment_id}/cancel", idempotent=True),
    "capture_payment": _op("POST", "/v1/payments/{payment_id}/capture", idempotent=True),
    "refund_payment": _op("POST", "/v1/payments/{payment_id}/refunds", idempotent=True),
    # tax
    "create_tax_calculation": _op("POST", "/v1/tax/calculations", idempotent=True),
    "list_tax_calculations": _op("GET", "/v1/tax/calculations"),
    "get_tax_calculation": _op("GET", "/v1/tax/calculations/{calculation_id}"),
    "get_tax_return": _op("GET", "/v1/tax/returns"),
    "export_tax_return": _op("GET", "/v1/tax/returns/export", envelope=False),
    "list_jurisdictions": _op("GET", "/v1/tax/jurisdictions"),
    "create_jurisdiction": _op("POST", "/v1/tax/jurisdictions"),
    "get_jurisdiction": _op("GET", "/v1/tax/jurisdictions/{code}"),
    "add_tax_category": _op("POST", "/v1/tax/jurisdictions/{code}/categories"),
    "add_tax_rate": _op("POST", "/v1/tax/jurisdictions/{code}/rates"),
    "update_tax_rate": _op("PATCH", "/v1/tax/jurisdictions/{code}/rates/{rate_id}"),
    "create_exemption_certificate": _op("POST", "/v1/tax/exemption-certificates", idempotent=True),
    "list_exemption_certificates": _op("GET", "/v1/tax/exemption-certificates"),
    "get_exemption_certificate": _op("GET", "/v1/tax/exemption-certificates/{certificate_id}"),
    # webhooks
    "create_webhook_endpoint": _op("POST", "/v1/webhooks/endpoints"),
    "list_webhook_endpoints": _op("GET", "/v1/webhooks/endpoints"),
    "get_webhook_endpoint": _op("GET", "/v1/webhooks/endpoints/{endpoint_id}"),
    "update_webhook_endpoint": _op("PATCH", "/v1/webhooks/endpoints/{endpoint_id}"),
    "delete_webhook_endpoint": _op("DELETE", "/v1/webhooks/endpoints/{endpoint_id}"),
    "disable_webhook_endpoint": _op("POST", "/v1/webhooks/endpoints/{endpoint_id}/disable"),
    "rotate_webhook_secret": _op("POST", "/v1/webhooks/endpoints/{endpoint_id}/rotate-secret"),
    "resend_webhook_events": _op("POST", "/v1/webhooks/endpoints/{endpoint_id}/resend"),
    "list_webhook_deliveries": _op("GET", "/v1/webhooks/endpoints/{endpoint_id}/deliveries"),
    "get_webhook_delivery": _op(
        "GET", "/v1/webhooks/endpoints/{endpoint_id}/deliveries/{delivery_id}"
    ),
    "resend_webhook_delivery": _op(
        "POST", "/v1/webhooks/endpoints/{endpoint_id}/deliveries/{delivery_id}/resend"
    ),
    # bank reconciliation
    "import_bank_statement": _op("POST", "/v1/bank-statements"),
    "list_bank_statements": _op("GET", "/v1/bank-statements"),
    "get_bank_statement": _op("GET", "/v1/bank-statements/{statement_id}"),
    "list_bank_statement_lines": _op("GET", "/v1/bank-statements/{statement_id}/lines"),
    "list_unmatched_bank_entries": _op(
        "GET", "/v1/bank-statements/{statement_id}/unmatched-entries"
    ),
    "match_bank_statement_line": _op(
        "POST", "/v1/bank-statements/{statement_id}/lines/{line_id}/match"
    ),
    "unmatch_bank_statement_line": _op(
        "POST", "/v1/bank-statements/{statement_id}/lines/{line_id}/unmatch"
    ),
    "reconcile_bank_statement": _op("POST", "/v1/bank-statements/{statement_id}/reconcile"),
    # operations: audit, dead letters, producer keys, health
    "list_audit_records": _op("GET", "/v1/audit"),
    "verify_audit_chain": _op("GET", "/v1/audit/verify"),
    "list_dead_letters": _op("GET", "/v1/dead-letters"),
    "get_dead_letter": _op("GET", "/v1/dead-letters/{dead_letter_id}"),
    "discard_dead_letter": _op("POST", "/v1/dead-letters/{dead_letter_id}/discard"),
    "replay_dead_letter": _op("POST", "/v1/dead-letters/{dead_letter_id}/replay"),
    "create_producer_key": _op("POST", "/v1/producer-keys"),
    "list_producer_keys": _op("GET", "/v1/producer-keys"),
    "get_producer_key": _op("GET", "/v1/producer-keys/{key_id}"),
    "revoke_producer_key": _op("POST", "/v1/producer-keys/{key_id}/revoke"),
    "rotate_producer_key": _op("POST", "/v1/producer-keys/{key_id}/rotate"),
    "check_liveness": _op("GET", "/v1/health/live", auth=False),
    "check_readiness": _op("GET", "/v1/health/ready", auth=False),
}
