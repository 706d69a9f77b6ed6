"""An endpoint's retry policy and the wait it gives before each retry: pure (no clock, no I/O).

Exponential backoff with jitter, capped, as Standard Webhooks advises: the n-th retry (after n
failed attempts in a row at the same event) waits `initial_seconds * 2**(n - 1)`, at most
`max_seconds`, and then up to `JITTER_FRACTION` of that less, so endpoints that failed together
do not all retry together and the cap is never exceeded. After `max_attempts` failed attempts
the endpoint is paused (services/api/webhooks/schedule.py); nothing is given up.

With the defaults (5 s, 300 s, 20 attempts) the retries come after about 5, 10, 20, 40, 80, 160
and then every 300 seconds: a receiver that is down for a deploy gets its events within seconds
of coming back, and one that stays down is paused after about 70 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.webhooks import (
    DEFAULT_INITIAL_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_SECONDS,
    INITIAL_SECONDS_LIMIT,
    MAX_ATTEMPTS_LIMIT,
    MAX_SECONDS_LIMIT,
)

JITTER_FRACTION = 0.2
MAX_DOUBLINGS = 32  # 2**32 times the smallest initial wait is past any cap


@dataclass(frozen=True)
class RetryPolicy:
    """When an endpoint's head event is tried again, and how often before pausing."""

    initial_seconds: int
    max_seconds: int
    max_attempts: int

    def __post_init__(self) -> None:
        assert 1 <= self.initial_seconds <= INITIAL_SECONDS_LIMIT, self
        assert self.initial_seconds <= self.max_seconds <= MAX_SECONDS_LIMIT, self
        assert 1 <= self.max_attempts <= MAX_ATTEMPTS_LIMIT, self


DEFAULT_RETRY = RetryPolicy(DEFAULT_INITIAL_SECONDS, DEFAULT_MAX_SECONDS, DEFAULT_MAX_ATTEMPTS)


def capped_seconds(policy: RetryPolicy, failed_attempts: int) -> int:
    """The wait before the next attempt after `failed_attempts` (>= 1) failures, before jitter."""
    assert failed_attempts >= 1, failed_attempts
    doublings = min(failed_attempts - 1, MAX_DOUBLINGS)
    wait: int = policy.initial_seconds << doublings
    return min(policy.max_seconds, wait)


def backoff_seconds(
    policy: RetryPolicy,
    failed_attempts: int,
    jitter_unit: float,
    jitter_fraction: float = JITTER_FRACTION,
) -> float:
    """The jittered wait: `jitter_unit` in [0, 1) (a random draw, given so this stays pure) takes
    up to `jitter_fraction` off the capped wait; the result lies in [(1 - fraction) * w, w]."""
    assert 0.0 <= jitter_unit < 1.0, jitter_unit
    assert 0.0 <= jitter_fraction < 1.0, jitter_fraction
    wait = capped_seconds(policy, failed_attempts)
    seconds = wait * (1.0 - jitter_fraction * jitter_unit)
    assert (1.0 - jitter_fraction) * wait <= seconds <= wait
    return seconds
