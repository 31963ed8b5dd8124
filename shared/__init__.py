"""Tributum's shared library: the platform modules every function imports.

Each module owns one concern (config, errors, logging, http, events, idempotency,
auth, secrets, firestore, money) and imports its heavy dependencies lazily, so a
function pays only for what it uses on its cold start.
"""
