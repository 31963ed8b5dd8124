"""Who acts in a use case: ``{"user_id": ..., "role": ...}`` or ``{"system": name}``.

The adapters pass it, the use cases record it on what they change and in their audit
events (:func:`shared.events.audit.audit_event`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Actor = Mapping[str, Any]


def checked_actor(actor: Actor) -> dict[str, Any]:
    """The adapters pass who acts; a missing actor is a programming error, not a 4xx."""
    if not isinstance(actor, Mapping) or not (
        isinstance(actor.get("user_id"), str) or isinstance(actor.get("system"), str)
    ):
        raise TypeError('actor must be {"user_id": ..., "role": ...} or {"system": name}')
    return dict(actor)
