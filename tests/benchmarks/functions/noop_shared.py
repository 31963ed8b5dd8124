"""The same no-op answer, and a validated POST, through the whole shared HTTP stack."""

from bench_models import Ok, Posted, PostEntry, posted

from shared.http import RequestContext, Router

router = Router("bench")


@router.get("/v1/bench/noop", auth="public", response=Ok)
def noop(ctx: RequestContext) -> Ok:
    """Does nothing: measures the router, validation, envelope, headers and access log."""
    return Ok(ok=True)


@router.post("/v1/bench/entries", auth="public", body=PostEntry, response=Posted, status=201)
def post_entry(ctx: RequestContext) -> Posted:
    """Validates a journal-entry-shaped body and answers a summary of it."""
    body: PostEntry = ctx.body
    return posted(body)


handle = router.handler
