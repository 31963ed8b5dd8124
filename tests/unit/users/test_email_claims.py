"""Who holds an email address: the pure rules of the ``user_emails`` key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import ConflictError
from shared.users.email_claims import (
    KeyHolder,
    ProofClaim,
    SignupClaim,
    address_taken,
    proof_claim,
    signup_claim,
    unverified_key,
    verified_key,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UNVERIFIED = KeyHolder(user_id="squatter", tenant_id="t-squat", verified=False)
VERIFIED = KeyHolder(user_id="owner", tenant_id="t-own", verified=True)


def _refusal_field(error: ConflictError) -> set[str]:
    return {e.field for e in error.errors}


def test_a_key_without_the_verified_field_predates_verification_and_counts_as_verified() -> None:
    legacy = KeyHolder.from_document({"user_id": "u-1", "tenant_id": "t-1", "created_at": NOW})

    assert legacy == KeyHolder(user_id="u-1", tenant_id="t-1", verified=True)
    assert address_taken(legacy)


def test_keys_read_back_as_written() -> None:
    assert KeyHolder.from_document(unverified_key("u-1", "t-1", NOW)) == KeyHolder(
        user_id="u-1", tenant_id="t-1", verified=False
    )
    assert KeyHolder.from_document(verified_key("u-1", "t-1", NOW)) == KeyHolder(
        user_id="u-1", tenant_id="t-1", verified=True
    )


def test_only_a_verified_holder_takes_an_address_from_others() -> None:
    assert not address_taken(None)
    assert not address_taken(UNVERIFIED)
    assert address_taken(VERIFIED)


def test_a_signup_takes_a_free_key_and_goes_without_an_unverified_one() -> None:
    assert signup_claim(None) is SignupClaim.TAKE
    assert signup_claim(UNVERIFIED) is SignupClaim.WITHOUT_KEY


def test_a_signup_of_a_verified_address_is_the_409_naming_the_email() -> None:
    with pytest.raises(ConflictError) as refused:
        signup_claim(VERIFIED)

    assert refused.value.code == "email_unavailable"
    assert _refusal_field(refused.value) == {"email"}
    # Nothing about who or where holds it.
    assert "owner" not in str(refused.value.detail) and "t-own" not in str(refused.value.detail)


@pytest.mark.parametrize(
    ("holder", "prover", "claim"),
    [
        (None, "newcomer", ProofClaim.CREATE),
        (UNVERIFIED, "squatter", ProofClaim.CONFIRM),
        (UNVERIFIED, "newcomer", ProofClaim.TAKE_OVER),
        (VERIFIED, "owner", ProofClaim.CONFIRM),
    ],
    ids=["free", "own-unverified", "other-unverified", "own-verified"],
)
def test_a_proof_takes_the_key_unless_another_verified_user_holds_it(
    holder: KeyHolder | None, prover: str, claim: ProofClaim
) -> None:
    assert proof_claim(holder, prover) is claim


def test_a_proof_of_an_address_another_verified_user_holds_is_refused_on_the_field() -> None:
    with pytest.raises(ConflictError) as refused:
        proof_claim(VERIFIED, "squatter", field="token")

    assert refused.value.code == "email_unavailable"
    assert _refusal_field(refused.value) == {"token"}


def test_a_confirmed_key_keeps_when_it_was_first_held() -> None:
    earlier = NOW - timedelta(days=2)

    key = verified_key("u-1", "t-1", NOW, created_at=earlier)

    assert key == {
        "user_id": "u-1",
        "tenant_id": "t-1",
        "created_at": earlier,
        "verified": True,
        "verified_at": NOW,
    }
    assert unverified_key("u-1", "t-1", NOW)["verified"] is False
