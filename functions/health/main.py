"""health: liveness (no I/O) and readiness (Firestore and Pub/Sub reachable)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shared.health import readiness
from shared.http import RequestContext, Router

router = Router("health")


class Liveness(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, dict[str, Any]]


@router.get("/v1/health/live", auth="public", response=Liveness)
def live(ctx: RequestContext) -> Liveness:
    """The process is up and serving requests."""
    return Liveness(status="alive")


@router.get("/v1/health/ready", auth="public", response=Readiness, raises=(503,))
def ready(ctx: RequestContext) -> dict[str, Any]:
    """Firestore and Pub/Sub answer; 503 naming what failed otherwise."""
    return readiness()


handle = router.handler
