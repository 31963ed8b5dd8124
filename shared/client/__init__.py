"""A typed Python client of the Tributum HTTP API (synchronous, over httpx).

    from shared.client import Tributum

    with Tributum("http://127.0.0.1:8080") as client:
        client.log_in("ada@example.com", "violet kayak ledger 42")
        for account in client.iter_accounts(type="asset"):
            ...

Every operation of the API is one method (``_operations.OPERATIONS`` lists them; a
test keeps it equal to the gateway's OpenAPI document). Only httpx beyond the
standard library: nothing here imports the server's modules.
"""

from shared.client._client import Tributum
from shared.client._errors import (
    ApiError,
    AuthenticationError,
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TributumError,
    ValidationError,
)
from shared.client._operations import OPERATIONS, Operation
from shared.client._pagination import Page
from shared.client._webhook_signatures import WebhookVerificationError, verify_webhook

__all__ = [
    "OPERATIONS",
    "ApiError",
    "AuthenticationError",
    "Conflict",
    "FieldError",
    "NotFound",
    "Operation",
    "Page",
    "PermissionDenied",
    "RateLimited",
    "ServerError",
    "Tributum",
    "TributumError",
    "ValidationError",
    "WebhookVerificationError",
    "verify_webhook",
]
