"""The authenticated no-op through the whole shared stack: token verified, then the
caller's access state checked through the instance's cache (the router's default)."""

from bench_auth import build_router

router = build_router("bench_auth", authenticator=None)

handle = router.handler
