"""A small manifest built in code for the emulator's unit tests."""

from __future__ import annotations

from typing import Any

from shared.topology import Manifest

FAST_RETRY = {
    "max_delivery_attempts": 5,
    "minimum_backoff_seconds": 1,
    "maximum_backoff_seconds": 4,
    "ack_deadline_seconds": 90,
}


def make_manifest(*, dead_letter_consumer: bool = False) -> Manifest:
    functions: list[dict[str, Any]] = [
        {
            "name": "accounts",
            "kind": "http",
            "description": "accounts",
            "routes": [
                {"method": "GET", "path": "/v1/accounts"},
                {"method": "POST", "path": "/v1/accounts"},
                {"method": "GET", "path": "/v1/accounts/{account_id}"},
                {"method": "GET", "path": "/v1/accounts/{account_id}/balance", "auth": "public"},
            ],
        },
        {
            "name": "search",
            "kind": "http",
            "description": "search",
            "routes": [
                {"method": "GET", "path": "/v1/accounts/search"},
                {"method": "POST", "path": "/v1/accounts/{account_id}/close"},
                {"method": "GET", "path": "/.well-known/jwks.json", "auth": "public"},
            ],
        },
        {
            "name": "projector",
            "kind": "event",
            "description": "projector",
            "consumes": [
                {"topic": "ledger-events", "retry": FAST_RETRY},
                {"topic": "user-events"},
            ],
        },
    ]
    if dead_letter_consumer:
        functions.append(
            {
                "name": "dead_letters",
                "kind": "event",
                "description": "keeps dead letters",
                "consumes_dead_letters": True,
            }
        )
    return Manifest.model_validate(
        {
            "version": 1,
            "runtime": "python311",
            "topics": [
                {"name": "ledger-events", "description": "ledger"},
                {"name": "user-events", "description": "users"},
                {
                    "name": "tick-schedule",
                    "description": "ticks",
                    "schedule": {"cron": "* * * * *"},
                },
            ],
            "functions": functions,
        }
    )
