"""``settle`` decides again after a lost round, however the client library reports the loss."""

from __future__ import annotations

import pytest
from google.api_core.exceptions import AlreadyExists, FailedPrecondition, InvalidArgument

from shared.errors import ConflictError, ContentionError
from shared.events.transact import settle


def _rolled_back(lost: Exception) -> InvalidArgument:
    """What the client raises when the rollback after a failed commit fails too: the
    rollback's error, with the commit's own error as its context."""
    try:
        try:
            raise lost
        except type(lost):
            raise InvalidArgument("transaction is not valid") from None
    except InvalidArgument as rollback_error:
        rollback_error.__context__ = lost
        return rollback_error


@pytest.mark.parametrize(
    "lost",
    [
        FailedPrecondition("update time does not match"),
        AlreadyExists("document exists"),
        _rolled_back(FailedPrecondition("update time does not match")),
    ],
    ids=["precondition", "already-exists", "behind-a-failed-rollback"],
)
def test_a_lost_round_is_decided_again(lost: Exception) -> None:
    rounds: list[int] = []

    def decide_and_commit() -> str:
        rounds.append(1)
        if len(rounds) == 1:
            raise lost
        return "committed"

    assert settle(None, decide_and_commit, name="test", publisher=None) == "committed"  # type: ignore[arg-type]
    assert len(rounds) == 2


def test_rounds_are_bounded_by_a_503() -> None:
    def always_lost() -> None:
        raise FailedPrecondition("update time does not match")

    with pytest.raises(ContentionError) as refused:
        settle(None, always_lost, name="test", rounds=3, busy="busy", publisher=None)  # type: ignore[arg-type]
    assert refused.value.detail == "busy"


@pytest.mark.parametrize(
    "error",
    [
        ConflictError("refund exceeds captured", code="refund_exceeds_captured"),
        InvalidArgument("a bad document"),
        RuntimeError("a bug"),
    ],
)
def test_other_errors_end_the_change_at_once(error: Exception) -> None:
    rounds: list[int] = []

    def refused() -> None:
        rounds.append(1)
        raise error

    with pytest.raises(type(error)):
        settle(None, refused, name="test", publisher=None)  # type: ignore[arg-type]
    assert rounds == [1]


def test_a_rule_refusal_caused_by_a_lost_commit_is_still_the_refusal() -> None:
    def refused() -> None:
        try:
            raise FailedPrecondition("update time does not match")
        except FailedPrecondition as exc:
            raise ConflictError("changed", code="changed") from exc

    with pytest.raises(ConflictError):
        settle(None, refused, name="test", publisher=None)  # type: ignore[arg-type]
