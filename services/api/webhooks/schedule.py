"""What an attempt does to an endpoint: the cursor, the retry, pausing, disabling, the status.

An attempt at an endpoint's head event (the first wanted one after its cursor) either moves the
cursor on (acknowledged with a 2xx) or keeps the head: it is tried again after the endpoint's
backoff (backoff.py; a 429's Retry-After instead, when given), or, once `max_attempts` attempts
at it failed in a row, the endpoint is paused there. A 410 Gone disables it. Either way the head
stays where it is, so resuming the endpoint (`PATCH ... {"status": "active"}`) sends that very
event first and then the ones queued behind it, in order: nothing is skipped or lost.

Every attempt, automatic or manual, counts in the endpoint's delivery status: the time of the
last success and failure, and the failures since the last success.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.api.webhooks import store
from services.api.webhooks.backoff import JITTER_FRACTION, backoff_seconds
from services.api.webhooks.delivery import Outcome
from services.api.webhooks.store import Endpoint
from services.ledger.codec import format_timestamp

log = logging.getLogger("benefit_ledger.webhooks")


def disable(endpoint: Endpoint, now: datetime) -> None:
    """The receiver answered 410 Gone: no more deliveries until the endpoint is resumed."""
    endpoint.status = store.DISABLED
    endpoint.status_reason = f"the receiver answered 410 Gone at {format_timestamp(now)}"
    log.warning("webhook %s disabled: %s", endpoint.webhook_id, endpoint.status_reason)


def pause(endpoint: Endpoint, sequence: int, outcome: Outcome, now: datetime) -> None:
    """The head's retries are exhausted: stop here, keeping the head, until resumed."""
    endpoint.status = store.PAUSED
    endpoint.status_reason = (
        f"{endpoint.retry.max_attempts} attempts at sequence {sequence} failed, the last at "
        f"{format_timestamp(now)} ({outcome.error or 'no answer'}); "
        "set the status to active to resume from it"
    )
    log.warning("webhook %s paused: %s", endpoint.webhook_id, endpoint.status_reason)


def note_outcome(endpoint: Endpoint, outcome: Outcome, now: datetime) -> None:
    """Count the attempt in the endpoint's delivery status."""
    if outcome.ok:
        endpoint.consecutive_failures = 0
        endpoint.last_success_at = format_timestamp(now)
    else:
        endpoint.consecutive_failures += 1
        endpoint.last_failure_at = format_timestamp(now)


@dataclass
class RetrySchedule:
    """Draws the jitter of each retry (`rng`, seeded in tests) and applies attempts to endpoints.
    `scale` multiplies every backoff (not a Retry-After): tests run schedules in fractions of a
    second."""

    jitter_fraction: float = JITTER_FRACTION
    scale: float = 1.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, endpoint: Endpoint, failed_attempts: int, outcome: Outcome) -> float:
        """A 429's Retry-After as asked; otherwise the endpoint's backoff, with jitter."""
        if outcome.retry_after is not None:
            return outcome.retry_after
        unit = self.rng.random()
        return backoff_seconds(endpoint.retry, failed_attempts, unit, self.jitter_fraction) * (
            self.scale
        )

    def settle_head(
        self, endpoint: Endpoint, sequence: int, number: int, outcome: Outcome, now: datetime
    ) -> tuple[str, datetime | None]:
        """Apply attempt `number` at the head event `sequence` to the endpoint (cursor, attempt,
        next attempt, status); returns the attempt's result and when the retry is due, if any."""
        note_outcome(endpoint, outcome, now)
        next_at = None
        if outcome.ok:
            endpoint.cursor, endpoint.attempt = sequence, 0
            result = store.SUCCEEDED
        elif outcome.gone:
            disable(endpoint, now)
            endpoint.attempt, result = number, store.FAILED
        elif number >= endpoint.retry.max_attempts:
            pause(endpoint, sequence, outcome, now)
            endpoint.attempt, result = number, store.FAILED
        else:
            endpoint.attempt, result = number, store.RETRYING
            next_at = now + timedelta(seconds=self.delay(endpoint, number, outcome))
        endpoint.next_attempt_at = format_timestamp(next_at or now)
        return result, next_at
