"""Least privilege for token keys: one function signs, every function that checks holds only
the public keys. The real manifest is checked, since a deploy would not catch this."""

from __future__ import annotations

from shared.auth.runtime import SIGNING_KEYS_SECRET, VERIFICATION_KEYS_SECRET
from shared.topology import Function, load_manifest

MANIFEST = load_manifest()


def _checks_tokens(function: Function) -> bool:
    return any(route.auth == "token" for route in function.routes)


def test_only_the_auth_function_holds_the_private_signing_keys() -> None:
    holders = {f.name for f in MANIFEST.functions if SIGNING_KEYS_SECRET in f.secrets}
    assert holders == {"auth"}


def test_every_function_that_checks_tokens_holds_the_verification_keys() -> None:
    checking = {f.name for f in MANIFEST.functions if _checks_tokens(f)}
    holding = {f.name for f in MANIFEST.functions if VERIFICATION_KEYS_SECRET in f.secrets}
    assert checking == holding
    assert {"accounts", "journal", "payments", "tax", "users", "audit"} <= checking


def test_functions_holding_secrets_can_read_them_from_secret_manager() -> None:
    for function in MANIFEST.functions:
        if function.secrets:
            assert "google-cloud-secret-manager" in function.requirements, function.name


def test_the_manifest_says_how_each_key_secret_is_made_locally() -> None:
    local = {secret.name: secret.local for secret in MANIFEST.secrets}
    assert local[SIGNING_KEYS_SECRET] == "ec_p256_private_key"
    assert local[VERIFICATION_KEYS_SECRET] == "derived_from_signing_keys"
