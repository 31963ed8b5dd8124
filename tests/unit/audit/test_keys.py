"""The audit key set: parsing the secret, signing, rotation, the key tool."""

from __future__ import annotations

import io
import json

import pytest

from shared.audit import keys as audit_keys_module
from shared.audit.keys import AuditKeyError, AuditKeySet, new_key_set, rotated


def test_a_plain_token_is_a_set_of_one_key_with_a_derived_id() -> None:
    keys = AuditKeySet.from_secret("a" * 43 + "\n")
    assert keys.current.startswith("k") and len(keys.current) == 9
    key_id, mac = keys.sign(b"content")
    assert key_id == keys.current
    assert keys.matches(key_id, b"content", mac) is True
    assert keys.matches(key_id, b"contents", mac) is False
    assert keys.matches("k-unknown", b"content", mac) is None


def test_a_json_key_set_round_trips_and_keeps_every_key() -> None:
    keys = rotated(new_key_set())
    parsed = AuditKeySet.from_secret(keys.to_secret())
    assert parsed == keys
    assert (parsed.current, sorted(parsed.keys)) == ("k2", ["k1", "k2"])


@pytest.mark.parametrize(
    "secret",
    [
        '{"current": "k2", "keys": {"k1": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}}',
        '{"keys": {}}',
        "{not json",
        '{"current": "k1", "keys": {"k1": "c2hvcnQ"}}',
        "short",
    ],
    ids=["current_missing", "no_current", "not_json", "short_key", "short_token"],
)
def test_an_unusable_key_set_is_refused_without_echoing_it(secret: str) -> None:
    with pytest.raises(AuditKeyError) as refused:
        AuditKeySet.from_secret(secret)
    assert "c2VjcmV0" not in str(refused.value)


def test_the_key_tool_makes_and_rotates_sets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert audit_keys_module.main(["new"]) == 0
    first = capsys.readouterr().out
    assert json.loads(first)["current"] == "k1"
    monkeypatch.setattr("sys.stdin", io.StringIO(first))
    assert audit_keys_module.main(["rotate"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["current"] == "k2"
    assert second["keys"]["k1"] == json.loads(first)["keys"]["k1"]
    assert audit_keys_module.main(["nonsense"]) == 2
