"""The same no-op answer through the whole shared HTTP stack."""

from pydantic import BaseModel

from shared.http import RequestContext, Router

router = Router("bench")


class Ok(BaseModel):
    ok: bool


@router.get("/v1/bench/noop", auth="public", response=Ok)
def noop(ctx: RequestContext) -> Ok:
    """Does nothing: measures the router, validation, envelope, headers and access log."""
    return Ok(ok=True)


handle = router.handler
