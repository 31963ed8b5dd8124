"""The client: every operation of the API as one method."""

from __future__ import annotations

from shared.client._bank_statements import BankStatementMethods
from shared.client._identity import IdentityMethods
from shared.client._ledger import LedgerMethods
from shared.client._payments import PaymentMethods
from shared.client._platform import PlatformMethods
from shared.client._tax import TaxMethods
from shared.client._webhook_endpoints import WebhookMethods


class Tributum(
    IdentityMethods,
    LedgerMethods,
    PaymentMethods,
    TaxMethods,
    WebhookMethods,
    BankStatementMethods,
    PlatformMethods,
):
    """A synchronous client of the Tributum HTTP API.

    ``Tributum(base_url, api_key=...)`` sends an API key as a bearer token;
    ``Tributum(base_url)`` then :meth:`log_in` keeps a token pair and refreshes it.
    Methods take path parameters, a request body as a mapping (amounts as strings or
    ``Decimal``) and filters as keywords; they return the answer's ``data``, a
    :class:`Page` for lists, or None. A refusal raises the :class:`ApiError`
    subclass of its status. Money-moving POSTs send a fresh ``Idempotency-Key``
    unless given ``idempotency_key=``.
    """

    def __enter__(self) -> Tributum:
        return self
