"""The two delivery lanes and the endpoint cool-down, without I/O (rules.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.webhooks.messages import DeliveryMessage, delivery_message
from shared.webhooks.model import Delivery
from shared.webhooks.rules import (
    DELIVERY_TIMEOUT_SECONDS,
    ENDPOINT_COOL_DOWN,
    FIRST_ATTEMPT_TIMEOUT_SECONDS,
    AttemptKind,
    DeliveryStatus,
    Lane,
    cool_down_changed,
    defers_to_slow_lane,
    is_cooling,
    lane_timeout_seconds,
    moves_to_slow_lane,
    slow_until_after,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FAST_MS = FIRST_ATTEMPT_TIMEOUT_SECONDS * 1000 / 10
SLOW_MS = FIRST_ATTEMPT_TIMEOUT_SECONDS * 1000 + 500


def test_the_fast_lane_has_the_short_deadline_and_the_slow_lane_the_full_one() -> None:
    assert lane_timeout_seconds(Lane.FAST) == FIRST_ATTEMPT_TIMEOUT_SECONDS
    assert lane_timeout_seconds(Lane.SLOW) == DELIVERY_TIMEOUT_SECONDS
    # The fast deadline must be well below the full one, or there is no fast lane.
    assert FIRST_ATTEMPT_TIMEOUT_SECONDS * 2 < DELIVERY_TIMEOUT_SECONDS


@pytest.mark.parametrize(
    ("slow_until", "cooling"),
    [
        (None, False),
        (NOW - timedelta(seconds=1), False),
        (NOW, False),
        (NOW + timedelta(seconds=1), True),
    ],
)
def test_an_endpoint_cools_until_its_slow_until(slow_until: datetime | None, cooling: bool) -> None:
    assert is_cooling(slow_until, NOW) is cooling
    # Only fast-lane messages of a cooling endpoint skip their attempt.
    assert defers_to_slow_lane(Lane.FAST, slow_until, NOW) is cooling
    assert defers_to_slow_lane(Lane.SLOW, slow_until, NOW) is False


@pytest.mark.parametrize("kind", list(AttemptKind))
@pytest.mark.parametrize("status", list(DeliveryStatus))
def test_only_a_fast_lane_timeout_still_retrying_moves_the_round(
    kind: AttemptKind, status: DeliveryStatus
) -> None:
    expected = kind is AttemptKind.TIMEOUT and status is DeliveryStatus.RETRYING
    assert moves_to_slow_lane(Lane.FAST, kind, status) is expected
    assert moves_to_slow_lane(Lane.SLOW, kind, status) is False


@pytest.mark.parametrize("lane", list(Lane))
def test_a_timeout_starts_or_extends_the_cool_down(lane: Lane) -> None:
    for current in (None, NOW - timedelta(hours=1), NOW + timedelta(minutes=1)):
        after = slow_until_after(lane, AttemptKind.TIMEOUT, 3000.0, current, NOW)
        assert after == NOW + ENDPOINT_COOL_DOWN


def test_an_answer_slower_than_the_fast_deadline_keeps_the_endpoint_cooling() -> None:
    current = NOW + timedelta(minutes=1)
    after = slow_until_after(Lane.SLOW, AttemptKind.RESPONSE, SLOW_MS, current, NOW)
    assert after == NOW + ENDPOINT_COOL_DOWN


def test_a_prompt_answer_on_the_slow_lane_ends_the_cool_down() -> None:
    current = NOW + timedelta(minutes=5)
    assert slow_until_after(Lane.SLOW, AttemptKind.RESPONSE, FAST_MS, current, NOW) is None


@pytest.mark.parametrize(
    "kind", [AttemptKind.CONNECTION_ERROR, AttemptKind.CIRCUIT_OPEN, AttemptKind.UNRESOLVABLE]
)
@pytest.mark.parametrize("lane", list(Lane))
def test_failing_at_once_leaves_the_cool_down_as_it_was(lane: Lane, kind: AttemptKind) -> None:
    for current in (None, NOW + timedelta(minutes=5)):
        assert slow_until_after(lane, kind, FAST_MS, current, NOW) == current


def test_a_prompt_answer_on_the_fast_lane_changes_nothing() -> None:
    lapsed = NOW - timedelta(minutes=1)
    after = slow_until_after(Lane.FAST, AttemptKind.RESPONSE, FAST_MS, lapsed, NOW)
    assert after == lapsed
    assert not cool_down_changed(lapsed, after, NOW)


def test_the_endpoint_record_is_written_only_on_a_change_of_state_or_a_late_extension() -> None:
    later = NOW + ENDPOINT_COOL_DOWN
    assert cool_down_changed(None, later, NOW)  # starts cooling
    assert cool_down_changed(NOW - timedelta(seconds=1), later, NOW)  # a lapsed one restarts
    assert cool_down_changed(NOW + timedelta(minutes=1), None, NOW)  # ends early
    assert not cool_down_changed(None, None, NOW)
    assert not cool_down_changed(NOW - timedelta(seconds=1), None, NOW)  # lapsed by itself
    # Concurrent timeouts at one endpoint do not all rewrite its record...
    fresh = NOW + ENDPOINT_COOL_DOWN - timedelta(seconds=5)
    assert not cool_down_changed(fresh, later, NOW)
    # ...but a cool-down with less than half left is extended.
    assert cool_down_changed(NOW + ENDPOINT_COOL_DOWN / 2 - timedelta(seconds=1), later, NOW)


def _delivery(round_number: int = 0) -> Delivery:
    return Delivery(
        id="msg_" + "a" * 32,
        tenant_id="t1",
        endpoint_id="wh" + "b" * 24,
        event_id="evt-1",
        event_type="payment.settled",
        status=DeliveryStatus.RETRYING,
        created_at=NOW,
        updated_at=NOW,
        round=round_number,
    )


def test_each_lane_of_a_round_is_its_own_message() -> None:
    fast = delivery_message(_delivery(2))
    slow = delivery_message(_delivery(2), lane=Lane.SLOW)

    assert fast.id == f"{'msg_' + 'a' * 32}-2"
    assert slow.id == f"{fast.id}-slow"
    assert DeliveryMessage.model_validate(fast.data).lane is Lane.FAST
    assert DeliveryMessage.model_validate(slow.data).lane is Lane.SLOW


def test_a_message_without_a_lane_is_a_fast_lane_message() -> None:
    data = dict(delivery_message(_delivery()).data)
    data.pop("lane")
    assert DeliveryMessage.model_validate(data).lane is Lane.FAST
