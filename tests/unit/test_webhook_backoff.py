"""The retry schedule of a webhook endpoint: exponential backoff, capped, jittered; pausing when
the retries are exhausted. Pure: the jitter comes from a seeded generator, nothing sleeps."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.api.webhooks import store
from services.api.webhooks.backoff import (
    DEFAULT_RETRY,
    JITTER_FRACTION,
    RetryPolicy,
    backoff_seconds,
    capped_seconds,
)
from services.api.webhooks.delivery import Outcome
from services.api.webhooks.schedule import RetrySchedule
from services.api.webhooks.store import Endpoint, StoredSecrets

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FAILED = Outcome(503, "HTTP 503")


def test_the_default_schedule_doubles_from_5_seconds_up_to_5_minutes():
    waits = [capped_seconds(DEFAULT_RETRY, n) for n in range(1, DEFAULT_RETRY.max_attempts)]
    assert waits == [5, 10, 20, 40, 80, 160] + [300] * 13
    assert sum(waits) == 4215  # paused after about 70 minutes of failures


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (RetryPolicy(1, 4, 6), [1, 2, 4, 4, 4]),
        (RetryPolicy(30, 30, 4), [30, 30, 30]),
        (RetryPolicy(3600, 86400, 100), [3600, 7200, 14400, 28800, 57600, 86400]),
    ],
)
def test_each_policy_doubles_up_to_its_cap(policy: RetryPolicy, expected: list[int]):
    assert [capped_seconds(policy, n) for n in range(1, len(expected) + 1)] == expected
    assert capped_seconds(policy, 10_000) == policy.max_seconds  # no overflow, however many


def test_jitter_takes_up_to_a_fifth_off_and_never_exceeds_the_cap():
    rng = random.Random(20261123)
    for failed in range(1, 40):
        wait = capped_seconds(DEFAULT_RETRY, failed)
        seconds = backoff_seconds(DEFAULT_RETRY, failed, rng.random())
        assert (1 - JITTER_FRACTION) * wait <= seconds <= wait <= DEFAULT_RETRY.max_seconds
    assert backoff_seconds(DEFAULT_RETRY, 1, 0.0) == 5.0
    assert backoff_seconds(DEFAULT_RETRY, 3, 0.5) == pytest.approx(20 * 0.9)
    assert backoff_seconds(DEFAULT_RETRY, 3, 0.5, jitter_fraction=0.0) == 20.0


def test_the_same_seed_gives_the_same_schedule_and_endpoints_spread_apart():
    def schedule(seed: int) -> list[float]:
        rng = random.Random(seed)
        return [backoff_seconds(DEFAULT_RETRY, n, rng.random()) for n in range(1, 8)]

    assert schedule(7) == schedule(7)
    assert schedule(7) != schedule(8)
    firsts = {round(schedule(seed)[0], 3) for seed in range(50)}
    assert len(firsts) > 40  # endpoints that failed together do not retry together


@pytest.mark.parametrize(
    "numbers",
    [(0, 300, 20), (5, 4, 20), (3601, 86400, 20), (5, 86401, 20), (5, 300, 0), (5, 300, 101)],
)
def test_a_policy_out_of_bounds_is_a_bug(numbers: tuple[int, int, int]):
    with pytest.raises(AssertionError):
        RetryPolicy(*numbers)


def _endpoint(policy: RetryPolicy) -> Endpoint:
    moment = "2026-11-23T09:00:00.000000Z"
    return Endpoint(
        "wh_1", "t", "https://example.com", (), StoredSecrets("x"), store.ACTIVE, None, moment,
        cursor=10, attempt=0, next_attempt_at=moment, retry=policy,
    )  # fmt: skip


def test_failures_retry_on_the_schedule_then_pause_at_the_head():
    endpoint = _endpoint(RetryPolicy(2, 8, 5))
    schedule = RetrySchedule(rng=random.Random(1))
    draws = random.Random(1)
    for number in range(1, 5):
        result, next_at = schedule.settle_head(endpoint, 11, number, FAILED, NOW)
        expected = backoff_seconds(endpoint.retry, number, draws.random())
        assert result == store.RETRYING and next_at == NOW + timedelta(seconds=expected)
        assert (endpoint.cursor, endpoint.attempt, endpoint.status) == (10, number, store.ACTIVE)
    result, next_at = schedule.settle_head(endpoint, 11, 5, FAILED, NOW)
    assert (result, next_at) == (store.FAILED, None)
    assert endpoint.status == store.PAUSED and endpoint.cursor == 10  # the head is kept
    assert endpoint.status_reason is not None
    assert "5 attempts at sequence 11 failed" in endpoint.status_reason
    assert endpoint.consecutive_failures == 5
    assert endpoint.last_failure_at == "2026-11-23T10:00:00.000000Z"


def test_success_moves_the_cursor_and_resets_the_count():
    endpoint = _endpoint(DEFAULT_RETRY)
    schedule = RetrySchedule(rng=random.Random(1))
    schedule.settle_head(endpoint, 11, 1, FAILED, NOW)
    result, next_at = schedule.settle_head(endpoint, 11, 2, Outcome(204, None), NOW)
    assert (result, next_at) == (store.SUCCEEDED, None)
    assert (endpoint.cursor, endpoint.attempt, endpoint.consecutive_failures) == (11, 0, 0)
    assert endpoint.last_success_at == "2026-11-23T10:00:00.000000Z"


def test_retry_after_is_honoured_and_the_scale_shrinks_only_the_backoff():
    endpoint = _endpoint(DEFAULT_RETRY)
    schedule = RetrySchedule(jitter_fraction=0.0, scale=0.01)
    assert schedule.delay(endpoint, 1, Outcome(429, "HTTP 429", retry_after=42.0)) == 42.0
    assert schedule.delay(endpoint, 1, FAILED) == pytest.approx(0.05)


def test_gone_disables_and_keeps_the_head():
    endpoint = _endpoint(DEFAULT_RETRY)
    result, _ = RetrySchedule().settle_head(endpoint, 11, 1, Outcome(410, "HTTP 410"), NOW)
    assert (result, endpoint.status, endpoint.cursor) == (store.FAILED, store.DISABLED, 10)
