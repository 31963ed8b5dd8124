"""Signed webhooks (Standard Webhooks) from a tenant's payment and ledger events.

The public face: endpoint management, the delivery log and resends (the ``webhooks``
function), :func:`fan_out` (``webhook_dispatch``) and :func:`attempt_delivery`
(``webhook_deliver``). See ``README.md``.
"""

from shared.webhooks.delivery import (
    DeliveryReport,
    DeliveryRetryError,
    attempt_delivery,
    raise_for_retry,
)
from shared.webhooks.delivery_log import (
    get_delivery,
    list_deliveries,
    resend_delivery,
    resend_since,
)
from shared.webhooks.dispatch import FanOut, fan_out
from shared.webhooks.messages import DeliveryMessage, delivery_message
from shared.webhooks.model import (
    CreatedEndpoint,
    Delivery,
    DeliveryDetail,
    Endpoint,
    ResendSummary,
    RotatedSecret,
)
from shared.webhooks.requests import (
    CreateEndpointRequest,
    DeliveryQuery,
    ResendSinceRequest,
    UpdateEndpointRequest,
)
from shared.webhooks.rules import (
    CATALOG_SCHEMA_VERSIONS,
    DELIVERIES_TOPIC,
    DELIVERY_REQUESTED_TYPE,
    ENDPOINT_ID_PATTERN,
    EVENT_CATALOG,
    WEBHOOK_ID_PATTERN,
)
from shared.webhooks.service import (
    create_endpoint,
    delete_endpoint,
    disable_endpoint,
    get_endpoint,
    list_endpoints,
    rotate_secret,
    update_endpoint,
    url_policy,
)
from shared.webhooks.transport import Transport

__all__ = [
    "CATALOG_SCHEMA_VERSIONS",
    "DELIVERIES_TOPIC",
    "DELIVERY_REQUESTED_TYPE",
    "ENDPOINT_ID_PATTERN",
    "EVENT_CATALOG",
    "WEBHOOK_ID_PATTERN",
    "CreateEndpointRequest",
    "CreatedEndpoint",
    "Delivery",
    "DeliveryDetail",
    "DeliveryMessage",
    "DeliveryQuery",
    "DeliveryReport",
    "DeliveryRetryError",
    "Endpoint",
    "FanOut",
    "ResendSinceRequest",
    "ResendSummary",
    "RotatedSecret",
    "Transport",
    "UpdateEndpointRequest",
    "attempt_delivery",
    "create_endpoint",
    "delete_endpoint",
    "delivery_message",
    "disable_endpoint",
    "fan_out",
    "get_delivery",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "raise_for_retry",
    "resend_delivery",
    "resend_since",
    "rotate_secret",
    "update_endpoint",
    "url_policy",
]
