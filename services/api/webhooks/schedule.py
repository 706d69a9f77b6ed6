"""When a webhook event is tried again: the retry schedule, its jitter, and giving up.

An attempt at an endpoint's head event (the first wanted one after its cursor) either moves the
cursor on (acknowledged with a 2xx, or the last retry failed: the event is given up and stays
redeliverable by hand), or keeps the head and sets when it is tried next. A 410 Gone disables
the endpoint instead.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.api.webhooks import store
from services.api.webhooks.delivery import Outcome
from services.api.webhooks.store import Endpoint
from services.ledger.codec import format_timestamp

log = logging.getLogger("benefit_ledger.webhooks")

# the wait before each attempt, from the previous one: at once, 5 s, 5 min, 30 min, 2 h, 5 h,
# 10 h, 14 h, 20 h, 24 h (about three days in all)
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (
    0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0,
)  # fmt: skip


def disable(endpoint: Endpoint, now: datetime) -> None:
    """The receiver answered 410 Gone: no more deliveries until the endpoint is recreated."""
    endpoint.status = store.DISABLED
    endpoint.status_reason = f"the receiver answered 410 Gone at {format_timestamp(now)}"
    log.warning("webhook %s disabled: %s", endpoint.webhook_id, endpoint.status_reason)


@dataclass(frozen=True)
class RetrySchedule:
    """`delays[i]` is the wait before attempt i + 1 after a failed attempt i (the first attempt
    goes at once); after the last one the event is given up. `jitter` spreads retries by that
    fraction either way so endpoints that failed together do not retry together."""

    delays: tuple[float, ...]
    jitter: float = 0.1

    def delay(self, failed_attempts: int, outcome: Outcome) -> float:
        """A 429's Retry-After as asked; otherwise the schedule, with jitter."""
        if outcome.retry_after is not None:
            return outcome.retry_after
        spread = random.uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else 1.0
        return self.delays[failed_attempts] * spread

    def settle_head(
        self, endpoint: Endpoint, sequence: int, number: int, outcome: Outcome, now: datetime
    ) -> tuple[str, datetime | None]:
        """Apply attempt `number` at the head event `sequence` to the endpoint (cursor, attempt,
        next attempt, status); returns the attempt's result and when the retry is due, if any."""
        if outcome.ok:
            endpoint.cursor, endpoint.attempt = sequence, 0
            result, next_at = store.SUCCEEDED, None
        elif outcome.gone:
            disable(endpoint, now)
            endpoint.attempt = number
            result, next_at = store.FAILED, None
        elif number >= len(self.delays):
            endpoint.cursor, endpoint.attempt = sequence, 0
            result, next_at = store.FAILED, None
        else:
            endpoint.attempt = number
            result, next_at = store.RETRYING, now + timedelta(seconds=self.delay(number, outcome))
        endpoint.next_attempt_at = format_timestamp(next_at or now)
        return result, next_at
