"""The webhook delivery worker (runs beside the API in `serve`).

Per endpoint, events go out in sequence order, head of line: the endpoint's cursor moves past an
event only when the receiver acknowledged it with a 2xx. A failing head is retried on the
endpoint's own schedule, and when its retries are exhausted the endpoint is paused there (events
queue behind it) until it is resumed. The cursor is written in the same transaction as the
attempt, so a worker killed at any point resumes where the database says, and at worst sends the
one event in flight again (at least once, never skipped).

Several workers, in one process or many, share the work through a lease per endpoint: a worker
claims an endpoint with a conditional UPDATE, renews the lease before every send (the lease
outlives the send timeout), and every write it makes is fenced on still holding it. Endpoints are
served concurrently, one task each, so a slow or failing receiver holds back only itself.

Every send is signed with the secrets in force at that moment (read with the lease renewal, so
a rotation applies from the next send), decrypted only in memory (`secret_box`).

One attempt over HTTP is `delivery`'s, when to try again `schedule`'s, and the worker's one
database connection, used from threads, `threaded`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from services.api.metrics import Metrics
from services.api.webhooks import store, worker_store
from services.api.webhooks.backoff import JITTER_FRACTION
from services.api.webhooks.delivery import MAX_TIMEOUT, Outcome, Sender, utc_now
from services.api.webhooks.schedule import RetrySchedule, disable, note_outcome
from services.api.webhooks.secret_box import SecretBox
from services.api.webhooks.store import Endpoint, WebhookKey
from services.api.webhooks.threaded import ThreadedConnection
from services.api.webhooks.worker_store import Attempt, LeaseLostError
from services.ledger.codec import format_timestamp
from services.ledger.db import Connection, Database

log = logging.getLogger("benefit_ledger.webhooks")

PAGE_SIZE = 100
DUE_BATCH = 1000


@dataclass
class Claim:
    """An endpoint this worker holds the lease of, and the attempts made while holding it."""

    endpoint: Endpoint
    attempts: int = 0


def _check_settings(timeout: float, lease: float, backoff_scale: float) -> None:
    if not 0 < backoff_scale <= 1:
        raise ValueError("backoff_scale must be above 0 and at most 1")
    if not 0 < timeout <= MAX_TIMEOUT:
        raise ValueError(f"timeout must be above 0 and at most {MAX_TIMEOUT} seconds")
    if lease <= timeout:
        raise ValueError("lease_seconds must exceed the timeout: a send may not outlive a lease")


class WebhookWorker:
    """Delivers derived events to webhooks; `run` until stopped, or `run_once` in tests.

    `secrets` decrypts the endpoints' signing secrets. The retry schedule is each endpoint's own;
    `jitter` (the fraction a wait may be shortened by), `rng` (seeded in tests) and
    `backoff_scale` (tests run schedules in fractions of a second) make the RetrySchedule;
    `timeout`, `client` and `allow_private` the Sender (`allow_private` None reads the setting at
    every attempt). Attempts are counted in `metrics` (the app's; by default a registry of the
    worker's own).
    """

    def __init__(
        self,
        database: Database,
        *,
        secrets: SecretBox,
        worker_id: str | None = None,
        timeout: float = 15.0,
        poll_interval: float = 0.5,
        client: httpx.AsyncClient | None = None,
        jitter: float = JITTER_FRACTION,
        rng: random.Random | None = None,
        backoff_scale: float = 1.0,
        lease_seconds: float | None = None,
        max_concurrency: int = 32,
        allow_private: bool | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        lease = lease_seconds if lease_seconds is not None else timeout + 30.0
        _check_settings(timeout, lease, backoff_scale)
        self.database = database
        self.secrets = secrets
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.schedule = RetrySchedule(jitter, backoff_scale, rng or random.Random())
        self.sender = Sender(timeout, client=client, allow_private=allow_private)
        self.poll_interval = poll_interval
        self.lease = timedelta(seconds=lease)
        self.max_concurrency = max(1, max_concurrency)
        self.metrics = metrics or Metrics()
        self._db = ThreadedConnection(database)
        self._active: dict[WebhookKey, asyncio.Task[int]] = {}

    # --- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> WebhookWorker:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the worker's connection and the HTTP client it made (not one it was given)."""
        await self._db.aclose()
        await self.sender.aclose()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set: every poll, start a task for each due endpoint not
        already being served (up to max_concurrency), without waiting for the others."""
        try:
            while not stop.is_set():
                try:
                    await self._start_due()
                except Exception:
                    log.exception("webhook worker pass failed; it tries again at the next poll")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)
        finally:
            tasks = list(self._active.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.aclose()

    async def run_once(self) -> int:
        """One pass: serve every endpoint due now, concurrently; returns the attempts made."""
        due = await self._db.run(lambda c: worker_store.due_webhooks(c, utc_now(), DUE_BATCH))
        gate = asyncio.Semaphore(self.max_concurrency)

        async def serve(key: WebhookKey) -> int:
            async with gate:
                return await self._serve(key)

        counts = await asyncio.gather(*(serve(key) for key in due if key not in self._active))
        return sum(counts)

    async def _start_due(self) -> None:
        free = self.max_concurrency - len(self._active)
        if free <= 0:
            return
        due = await self._db.run(
            lambda c: worker_store.due_webhooks(c, utc_now(), free + len(self._active))
        )
        for key in [key for key in due if key not in self._active][:free]:
            task = asyncio.create_task(self._serve(key))
            self._active[key] = task
            task.add_done_callback(functools.partial(self._finished, key))

    def _finished(self, key: WebhookKey, task: asyncio.Task[int]) -> None:
        self._active.pop(key, None)

    # --- one endpoint ---------------------------------------------------------------------------

    async def _serve(self, key: WebhookKey) -> int:
        """Claim the endpoint, send its queued redeliveries and then its due events in order,
        and let go of it. Errors stay with this endpoint (logged); it is tried again later."""
        webhook_id = key.webhook_id
        now = utc_now()
        try:
            endpoint = await self._db.run(
                lambda c: worker_store.claim(c, key, self.worker_id, now, now + self.lease)
            )
        except BaseException as error:
            # cancelled (or failed) after the claim may have committed: do not sit on a lease
            await self._release(key)
            if not isinstance(error, Exception):
                raise
            log.exception("webhook %s: could not be claimed", webhook_id)
            return 0
        if endpoint is None:
            return 0
        claim = Claim(endpoint)
        try:
            await self._redeliveries(claim)
            await self._drain(claim)
        except LeaseLostError:
            log.warning(
                "webhook %s: lease lost (paused, deleted or taken over); this worker stops",
                webhook_id,
            )
        except Exception:
            log.exception("webhook %s: delivery failed; it is tried again later", webhook_id)
        finally:
            await self._release(key)
        return claim.attempts

    async def _release(self, key: WebhookKey) -> None:
        """Give the lease back (only if it is ours), so another worker need not wait it out."""
        try:
            await self._db.run(lambda c: worker_store.release(c, key, self.worker_id))
        except Exception:
            log.exception("webhook %s: the lease could not be released; it expires", key.webhook_id)

    async def _drain(self, claim: Claim) -> None:
        """Deliver the events after the cursor in order while the head is due; skip the
        endpoint's unwanted types. Stops at the first attempt that has to wait for a retry."""
        endpoint = claim.endpoint
        saved = endpoint.cursor
        while endpoint.status == store.ACTIVE and endpoint.next_attempt_at <= self._now_text():
            items = await self._db.run(
                lambda c: worker_store.events_after(c, endpoint.tenant, endpoint.cursor, PAGE_SIZE)
            )
            if not items:
                break
            for item in items:
                if not endpoint.wants(item["type"]):
                    endpoint.cursor = item["sequence"]
                    continue
                if not await self._deliver_head(claim, item):
                    return
                saved = endpoint.cursor
        if endpoint.cursor != saved:
            await self._write(lambda c: worker_store.save_cursor(c, endpoint, self.worker_id))

    async def _deliver_head(self, claim: Claim, item: dict[str, Any]) -> bool:
        """One attempt at the head event and its consequence; True when the cursor moved on."""
        endpoint = claim.endpoint
        number = endpoint.attempt + 1
        outcome = await self._send(claim, item)
        now = utc_now()
        result, next_at = self.schedule.settle_head(
            endpoint, item["sequence"], number, outcome, now
        )
        await self._record(claim, item, number, False, outcome, result, next_at, now)
        return result == store.SUCCEEDED

    async def _redeliveries(self, claim: Claim) -> None:
        """Manual redeliveries: one attempt each, whatever the head's backoff."""
        endpoint = claim.endpoint
        for sequence in await self._db.run(
            lambda c: worker_store.queued_redeliveries(c, endpoint.key)
        ):
            if endpoint.status != store.ACTIVE:
                return
            await self._redeliver(claim, sequence)

    async def _redeliver(self, claim: Claim, sequence: int) -> None:
        """Send one queued event again; a redelivery of the head itself (not yet done) only
        makes it due now, so the order holds."""
        endpoint = claim.endpoint
        item = await self._db.run(lambda c: worker_store.event_at(c, endpoint.tenant, sequence))
        if item is None or sequence > endpoint.cursor:
            if item is not None:
                endpoint.next_attempt_at = self._now_text()
                await self._write(lambda c: worker_store.save_cursor(c, endpoint, self.worker_id))
            await self._db.run(lambda c: worker_store.drop_redelivery(c, endpoint.key, sequence))
            return
        outcome = await self._send(claim, item)
        now = utc_now()
        note_outcome(endpoint, outcome, now)
        if outcome.gone:
            disable(endpoint, now)
        result = store.SUCCEEDED if outcome.ok else store.FAILED
        await self._record(claim, item, 0, True, outcome, result, None, now)

    def _now_text(self) -> str:
        return format_timestamp(utc_now())

    async def _write(self, work: Callable[[Connection], bool]) -> None:
        if not await self._db.run(work):
            raise LeaseLostError("the lease is no longer ours")

    async def _record(
        self,
        claim: Claim,
        item: dict[str, Any],
        number: int,
        manual: bool,
        outcome: Outcome,
        result: str,
        next_at: datetime | None,
        now: datetime,
    ) -> None:
        attempt = Attempt(
            sequence=item["sequence"],
            event_id=item["id"],
            attempt=number,
            manual=manual,
            attempted_at=format_timestamp(now),
            status_code=outcome.status_code,
            error=outcome.error,
            outcome=result,
            next_attempt_at=format_timestamp(next_at) if next_at else None,
        )
        await self._write(lambda c: worker_store.record(c, claim.endpoint, self.worker_id, attempt))
        self.metrics.count_webhook_attempt(result, outcome.status_code)

    async def _send(self, claim: Claim, item: dict[str, Any]) -> Outcome:
        """One signed POST of the event, after renewing the lease (which outlives the send) and
        reading the secrets in force."""
        endpoint = claim.endpoint
        now = utc_now()
        until = now + self.lease
        stored = await self._db.run(
            lambda c: worker_store.renew(c, endpoint.key, self.worker_id, until)
        )
        if stored is None:
            raise LeaseLostError("the lease is no longer ours")
        endpoint.secrets = stored
        signing = [self.secrets.open(sealed) for sealed in stored.in_force(now)]
        claim.attempts += 1
        return await self.sender.send(endpoint, item, signing)
