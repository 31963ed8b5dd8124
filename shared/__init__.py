"""Tributum's shared library: the platform modules every function imports.

Each module owns one concern (config, errors, logging, http, events, idempotency,
auth, secrets, firestore, money) and imports its heavy dependencies lazily, so a
function pays only for what it uses on its cold start.
"""

import os as _os

if _os.environ.get("K_SERVICE"):
    # Served by the platform: Cloud Run sets K_SERVICE (and so does the local stack that
    # reproduces its contract). Validate the configuration while the instance starts, so
    # a misconfigured deployment fails to start with the variable named, instead of
    # starting and then failing its requests.
    from shared.config import get_settings as _get_settings

    _get_settings()
