"""Baseline: a bare CloudEvent function applying each pushed event's effect (one write)."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import functions_framework
import orjson

EFFECTS = "bench_effects_bare"
_lock = threading.Lock()
_db: Any = None


def _client() -> Any:
    global _db
    with _lock:
        if _db is None:
            from google.cloud import firestore

            _db = firestore.Client()
    return _db


@functions_framework.cloud_event
def handle(cloud_event: Any) -> None:
    envelope = orjson.loads(base64.b64decode(cloud_event.data["message"]["data"]))
    _client().collection(EFFECTS).document(envelope["id"]).set(
        {"published_at": envelope["data"]["published_at"], "done_at": time.time()}
    )
