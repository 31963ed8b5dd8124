"""health: liveness (no I/O) and readiness (Firestore and Pub/Sub reachable)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from shared.health import readiness
from shared.http import RequestContext, Router

router = Router("health")


class Liveness(BaseModel):
    status: str


class Readiness(BaseModel):
    # Public: ready or not, nothing about which dependency or how (the log has that).
    status: Literal["ok"] = Field(description="every dependency answered")


@router.get("/v1/health/live", auth="public", response=Liveness)
def live(ctx: RequestContext) -> Liveness:
    """The process is up and serving requests."""
    return Liveness(status="alive")


@router.get("/v1/health/ready", auth="public", response=Readiness, raises=(503,))
def ready(ctx: RequestContext) -> dict[str, str]:
    """Every dependency answers; a 503 ``not_ready`` otherwise, naming none of them."""
    return readiness()


handle = router.handler
