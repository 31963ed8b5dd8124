"""Use cases of webhook endpoints: create, read, change, disable, delete, rotate the secret.

Every change is one Firestore transaction run by :func:`shared.events.transact.transact`
that also stages its audit event in the outbox; it is published after the commit. The
delivery log and resends are in :mod:`shared.webhooks.delivery_log`, what both share in
:mod:`shared.webhooks.changes`.
An endpoint's URL is checked before anything is written, so an unsafe URL is a 422
on ``url`` and changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.errors import BusinessRuleError, FieldError, ValidationError
from shared.events.transact import transact
from shared.identity.actor import Actor
from shared.logger import get_logger
from shared.moments import fixed_or_now
from shared.webhooks.changes import endpoint_not_found, stage_audit
from shared.webhooks.model import (
    CreatedEndpoint,
    Endpoint,
    RotatedSecret,
    SigningSecret,
)
from shared.webhooks.requests import CreateEndpointRequest, UpdateEndpointRequest
from shared.webhooks.rules import (
    MAX_ENDPOINTS_PER_TENANT,
    SECRET_OVERLAP,
    new_endpoint_id,
    normalized_patterns,
)
from shared.webhooks.signing import new_secret
from shared.webhooks.store import (
    deliveries_collection,
    endpoint_ref,
    endpoint_to_document,
    read_endpoint,
    read_secrets,
    secrets_ref,
    secrets_to_document,
    tenant_endpoints,
)
from shared.webhooks.urls import UnsafeUrlError, UrlPolicy, resolve_target

if TYPE_CHECKING:
    from google.cloud import firestore

# A secret is retired from the document once its overlap is over; at most this many
# (the current one and those still overlapping) are kept after a rotation.
MAX_SECRETS = 3
_log = get_logger("shared.webhooks")


def url_policy() -> UrlPolicy:
    """The deployment's URL policy (``TRIBUTUM_WEBHOOKS__ALLOWED_PRIVATE_HOSTS``)."""
    from shared.config import get_settings

    allowed = get_settings().webhooks.allowed_private_hosts
    return UrlPolicy(allowed_private_hosts=frozenset(h.lower() for h in allowed))


def checked_url(url: str, policy: UrlPolicy) -> str:
    """``url`` if webhooks may go there, else a 422 on ``url`` naming the rule."""
    try:
        resolve_target(url, policy)
    except UnsafeUrlError as exc:
        raise ValidationError.for_field("url", exc.reason, exc.code) from None
    return url


# -- endpoints -----------------------------------------------------------------------------


def create_endpoint(
    db: firestore.Client,
    tenant_id: str,
    request: CreateEndpointRequest,
    *,
    actor: Actor,
    correlation_id: str | None = None,
    policy: UrlPolicy | None = None,
    now: datetime | None = None,
) -> CreatedEndpoint:
    """A new endpoint; the returned secret is never shown again."""
    url = checked_url(request.url, policy or url_policy())
    when = fixed_or_now(now)
    endpoint = Endpoint(
        id=new_endpoint_id(),
        tenant_id=tenant_id,
        url=url,
        event_types=normalized_patterns(request.event_types),
        description=request.description,
        enabled=request.enabled,
        created_at=when,
        created_by=actor.to_audit(),
        updated_at=when,
        disabled_at=None if request.enabled else when,
        disabled_reason=None if request.enabled else "disabled_by_user",
    )
    secret = new_secret()
    # Sealed once, before the transaction: a retried attempt does not call KMS again.
    sealed = secrets_to_document(
        [SigningSecret(secret, when)], tenant_id=tenant_id, endpoint_id=endpoint.id
    )

    def decide(transaction: Any) -> None:
        if len(tenant_endpoints(db, tenant_id, transaction)) >= MAX_ENDPOINTS_PER_TENANT:
            raise BusinessRuleError(
                f"a tenant has at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints; "
                "delete one first",
                code="too_many_webhook_endpoints",
                errors=[FieldError("url", "no room for another endpoint", "too_many_endpoints")],
            )
        transaction.create(endpoint_ref(db, tenant_id, endpoint.id), endpoint_to_document(endpoint))
        transaction.create(secrets_ref(db, tenant_id, endpoint.id), sealed)
        stage_audit(transaction, db, "webhook_endpoint.created", endpoint, actor, correlation_id)

    transact(db, decide, name="webhooks.create_endpoint")
    _log.info("webhooks.endpoint_created", endpoint_id=endpoint.id)
    return CreatedEndpoint(endpoint, secret)


def list_endpoints(db: firestore.Client, tenant_id: str) -> list[Endpoint]:
    return tenant_endpoints(db, tenant_id)


def get_endpoint(db: firestore.Client, tenant_id: str, endpoint_id: str) -> Endpoint:
    endpoint = read_endpoint(db, tenant_id, endpoint_id)
    if endpoint is None:
        raise endpoint_not_found(endpoint_id)
    return endpoint


def _with_enabled(endpoint: Endpoint, enabled: bool, when: datetime, reason: str) -> Endpoint:
    if enabled == endpoint.enabled:
        return endpoint
    if enabled:
        # A fresh start: the failures that disabled it are history.
        return replace(
            endpoint, enabled=True, disabled_at=None, disabled_reason=None, consecutive_failures=0
        )
    return replace(endpoint, enabled=False, disabled_at=when, disabled_reason=reason)


def update_endpoint(
    db: firestore.Client,
    tenant_id: str,
    endpoint_id: str,
    request: UpdateEndpointRequest,
    *,
    actor: Actor,
    correlation_id: str | None = None,
    policy: UrlPolicy | None = None,
    now: datetime | None = None,
) -> Endpoint:
    """Change the fields the request names; a new URL is checked before anything is read."""
    given = request.model_fields_set
    if "url" in given:
        assert request.url is not None
        checked_url(request.url, policy or url_policy())
    when = fixed_or_now(now)

    def decide(transaction: Any) -> Endpoint:
        current = read_endpoint(db, tenant_id, endpoint_id, transaction)
        if current is None:
            raise endpoint_not_found(endpoint_id)
        changes: dict[str, Any] = {}
        if "url" in given and request.url != current.url:
            changes["url"] = request.url
        if "event_types" in given:
            assert request.event_types is not None
            patterns = normalized_patterns(request.event_types)
            if patterns != current.event_types:
                changes["event_types"] = patterns
        if "description" in given and request.description != current.description:
            changes["description"] = request.description
        updated = replace(current, **changes)
        if "enabled" in given:
            assert request.enabled is not None
            updated = _with_enabled(updated, request.enabled, when, "disabled_by_user")
        if updated == current:
            return current
        updated = replace(updated, updated_at=when)
        transaction.set(endpoint_ref(db, tenant_id, endpoint_id), endpoint_to_document(updated))
        changed = sorted({*changes, *(["enabled"] if updated.enabled != current.enabled else [])})
        stage_audit(
            transaction,
            db,
            "webhook_endpoint.updated",
            updated,
            actor,
            correlation_id,
            {"changed": changed},
        )
        return updated

    return transact(db, decide, name="webhooks.update_endpoint")


def disable_endpoint(
    db: firestore.Client,
    tenant_id: str,
    endpoint_id: str,
    *,
    actor: Actor,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> Endpoint:
    """Stop deliveries to an endpoint (retries in flight are cancelled). Idempotent."""
    return update_endpoint(
        db,
        tenant_id,
        endpoint_id,
        UpdateEndpointRequest(enabled=False),
        actor=actor,
        correlation_id=correlation_id,
        now=now,
    )


def delete_endpoint(
    db: firestore.Client,
    tenant_id: str,
    endpoint_id: str,
    *,
    actor: Actor,
    correlation_id: str | None = None,
) -> None:
    """Delete an endpoint, its secrets and its delivery log."""

    def decide(transaction: Any) -> None:
        current = read_endpoint(db, tenant_id, endpoint_id, transaction)
        if current is None:
            raise endpoint_not_found(endpoint_id)
        transaction.delete(endpoint_ref(db, tenant_id, endpoint_id))
        transaction.delete(secrets_ref(db, tenant_id, endpoint_id))
        stage_audit(transaction, db, "webhook_endpoint.deleted", current, actor, correlation_id)

    transact(db, decide, name="webhooks.delete_endpoint")
    try:
        # The log goes after the endpoint: retries in flight then find no endpoint and
        # stop. Whatever this leaves behind, the TTL deletes.
        db.recursive_delete(deliveries_collection(db, tenant_id, endpoint_id))
    except Exception as exc:
        _log.warning("webhooks.delivery_log_left_to_ttl", error=type(exc).__name__)


def rotate_secret(
    db: firestore.Client,
    tenant_id: str,
    endpoint_id: str,
    *,
    actor: Actor,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> RotatedSecret:
    """A new signing secret, shown once; the previous ones keep signing for the overlap."""
    when = fixed_or_now(now)
    overlap_until = when + SECRET_OVERLAP
    secret = new_secret()

    def decide(transaction: Any) -> Endpoint:
        current = read_endpoint(db, tenant_id, endpoint_id, transaction)
        if current is None:
            raise endpoint_not_found(endpoint_id)
        previous = read_secrets(db, tenant_id, endpoint_id, transaction)
        retiring = [
            SigningSecret(
                s.value,
                s.created_at,
                overlap_until if s.expires_at is None else min(s.expires_at, overlap_until),
            )
            for s in previous
            if s.signs_at(when)
        ]
        kept = [SigningSecret(secret, when), *retiring][:MAX_SECRETS]
        transaction.set(
            secrets_ref(db, tenant_id, endpoint_id),
            secrets_to_document(kept, tenant_id=tenant_id, endpoint_id=endpoint_id),
        )
        updated = replace(current, secret_rotated_at=when, updated_at=when)
        transaction.set(endpoint_ref(db, tenant_id, endpoint_id), endpoint_to_document(updated))
        stage_audit(
            transaction,
            db,
            "webhook_endpoint.secret_rotated",
            updated,
            actor,
            correlation_id,
            {"previous_secret_expires_at": overlap_until.isoformat()},
        )
        return updated

    endpoint = transact(db, decide, name="webhooks.rotate_secret")
    return RotatedSecret(endpoint, secret, overlap_until)
