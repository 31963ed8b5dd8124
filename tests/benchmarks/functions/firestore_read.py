"""A Firestore-backed route: reads one document through the shared client."""

from typing import Any

from shared.clients import firestore_client
from shared.http import RequestContext, Router

router = Router("bench_firestore")


@router.get("/v1/bench/doc", auth="public")
def read_doc(ctx: RequestContext) -> dict[str, Any]:
    """Reads one document (missing is fine: the round trip is what counts)."""
    snapshot = firestore_client().collection("bench").document("probe").get()
    return {"exists": snapshot.exists}


handle = router.handler
