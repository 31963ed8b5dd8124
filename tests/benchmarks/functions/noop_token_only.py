"""The same authenticated no-op with the token verified but no access-state check."""

from bench_auth import TokenOnlyAuthenticator, build_router

router = build_router("bench_token_only", authenticator=TokenOnlyAuthenticator())

handle = router.handler
