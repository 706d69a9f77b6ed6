"""The webhook delivery worker (runs beside the API in `serve`).

Per endpoint, events go out in sequence order, head of line: the endpoint's cursor moves past an
event only when the receiver acknowledged it with a 2xx, or when its retries are exhausted (the
attempt is then recorded as failed and stays redeliverable by hand). The cursor is written in the
same transaction as the attempt, so a worker killed at any point resumes where the database
says, and at worst sends the one event in flight again (at least once, never skipped).

Several workers, in one process or many, share the work through a lease per endpoint: a worker
claims an endpoint with a conditional UPDATE, renews the lease before every send (the lease
outlives the send timeout), and every write it makes is fenced on still holding it. Endpoints are
served concurrently, one task each, so a slow or failing receiver holds back only itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import random
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import anyio
import httpx
import psycopg

from services.api.settings import Settings
from services.api.webhooks import store
from services.api.webhooks.signing import signed_headers
from services.api.webhooks.ssrf import Target, UrlRefused, check_url
from services.api.webhooks.store import Attempt, Endpoint, LeaseLostError, WebhookKey
from services.ledger.codec import format_timestamp
from services.ledger.db import Connection, Database
from services.projections.feed import as_json

log = logging.getLogger("benefit_ledger.webhooks")
T = TypeVar("T")

# the wait before each attempt, from the previous one: at once, 5 s, 5 min, 30 min, 2 h, 5 h,
# 10 h, 14 h, 20 h, 24 h (about three days in all)
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (
    0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0,
)  # fmt: skip
MAX_TIMEOUT = 30.0
MAX_RETRY_AFTER = 86400.0  # a receiver may not park its endpoint for longer than a day
PAGE_SIZE = 100
DUE_BATCH = 1000


@dataclass(frozen=True)
class Outcome:
    """What one send gave: a status code and/or an error, and a 429's Retry-After in seconds."""

    status_code: int | None
    error: str | None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


@dataclass
class Claim:
    """An endpoint this worker holds the lease of, and the attempts made while holding it."""

    endpoint: Endpoint
    attempts: int = 0


def utc_now() -> datetime:
    return datetime.now(UTC)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A Retry-After header (delay in seconds, or an HTTP date) as seconds from `now`."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _check_settings(retry_delays: Sequence[float], timeout: float, lease: float) -> None:
    if not retry_delays or any(delay < 0 for delay in retry_delays):
        raise ValueError("retry_delays needs at least one delay, none negative")
    if not 0 < timeout <= MAX_TIMEOUT:
        raise ValueError(f"timeout must be above 0 and at most {MAX_TIMEOUT} seconds")
    if lease <= timeout:
        raise ValueError("lease_seconds must exceed the timeout: a send may not outlive a lease")


def _pinned(target: Target) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The request aimed at the checked address itself, so the name is not resolved again
    (DNS rebinding); Host and TLS SNI (hence certificate checks) still use the name."""
    url = httpx.URL(target.url)
    pinned = url.copy_with(host=str(target.addresses[0]))
    extensions: dict[str, Any] = {}
    if target.scheme == "https":
        extensions["sni_hostname"] = url.raw_host.decode("ascii")
    return pinned, {"host": url.netloc.decode("ascii")}, extensions


class WebhookWorker:
    """Delivers derived events to webhooks; `run` until stopped, or `run_once` in tests.

    `retry_delays[i]` is the wait before attempt i + 1 after a failed attempt i (the first
    attempt goes at once); after the last one the event is given up. `jitter` spreads retries
    by that fraction either way so endpoints that failed together do not retry together.
    `allow_private` None reads the setting at every attempt.
    """

    def __init__(
        self,
        database: Database,
        *,
        worker_id: str | None = None,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        timeout: float = 15.0,
        poll_interval: float = 0.5,
        client: httpx.AsyncClient | None = None,
        jitter: float = 0.1,
        lease_seconds: float | None = None,
        max_concurrency: int = 32,
        allow_private: bool | None = None,
    ) -> None:
        lease = lease_seconds if lease_seconds is not None else timeout + 30.0
        _check_settings(retry_delays, timeout, lease)
        self.database = database
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.retry_delays = tuple(float(delay) for delay in retry_delays)
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.jitter = jitter
        self.lease = timedelta(seconds=lease)
        self.max_concurrency = max(1, max_concurrency)
        self.allow_private = allow_private
        self._client = client
        self._owns_client = client is None
        self._connection: Connection | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._active: dict[WebhookKey, asyncio.Task[int]] = {}

    # --- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> WebhookWorker:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the worker's connection and the HTTP client it made (not one it was given)."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await anyio.to_thread.run_sync(connection.close, limiter=self._db_limiter())
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

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
        due = await self._db(lambda c: store.due_webhooks(c, utc_now(), DUE_BATCH))
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
        due = await self._db(lambda c: store.due_webhooks(c, utc_now(), free + len(self._active)))
        for key in [key for key in due if key not in self._active][:free]:
            task = asyncio.create_task(self._serve(key))
            self._active[key] = task
            task.add_done_callback(functools.partial(self._finished, key))

    def _finished(self, key: WebhookKey, task: asyncio.Task[int]) -> None:
        self._active.pop(key, None)

    # --- the database ---------------------------------------------------------------------------

    def _db_limiter(self) -> anyio.CapacityLimiter:
        """One thread at a time on the worker's one connection; waiting tasks hold no thread."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        return self._limiter

    async def _db(self, work: Callable[[Connection], T]) -> T:
        def call() -> T:
            if self._connection is None:
                self._connection = self.database.connect()
            try:
                return work(self._connection)
            except (psycopg.OperationalError, psycopg.InterfaceError, sqlite3.OperationalError):
                broken, self._connection = self._connection, None
                with contextlib.suppress(Exception):
                    broken.close()
                raise

        # A cancelled await must not leave the thread running on the connection while the
        # caller's clean-up (releasing the lease) uses it: the release could commit first and
        # the in-flight renewal re-take the lease after it. So the call is shielded and, on
        # cancellation, waited out before the cancellation goes on.
        running = asyncio.ensure_future(anyio.to_thread.run_sync(call, limiter=self._db_limiter()))
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await running
            raise

    # --- one endpoint ---------------------------------------------------------------------------

    async def _serve(self, key: WebhookKey) -> int:
        """Claim the endpoint, send its queued redeliveries and then its due events in order,
        and let go of it. Errors stay with this endpoint (logged); it is tried again later."""
        webhook_id = key.webhook_id
        now = utc_now()
        try:
            endpoint = await self._db(
                lambda c: store.claim(c, key, self.worker_id, now, now + self.lease)
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
            log.warning("webhook %s: lease lost, another worker goes on", webhook_id)
        except Exception:
            log.exception("webhook %s: delivery failed; it is tried again later", webhook_id)
        finally:
            await self._release(key)
        return claim.attempts

    async def _release(self, key: WebhookKey) -> None:
        """Give the lease back (only if it is ours), so another worker need not wait it out."""
        try:
            await self._db(lambda c: store.release(c, key, self.worker_id))
        except Exception:
            log.exception("webhook %s: the lease could not be released; it expires", key.webhook_id)

    async def _drain(self, claim: Claim) -> None:
        """Deliver the events after the cursor in order while the head is due; skip the
        endpoint's unwanted types. Stops at the first attempt that has to wait for a retry."""
        endpoint = claim.endpoint
        saved = endpoint.cursor
        while endpoint.status == store.ACTIVE and endpoint.next_attempt_at <= self._now_text():
            items = await self._db(
                lambda c: store.events_after(c, endpoint.tenant, endpoint.cursor, PAGE_SIZE)
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
            await self._write(lambda c: store.save_cursor(c, endpoint, self.worker_id))

    async def _deliver_head(self, claim: Claim, item: dict[str, Any]) -> bool:
        """One attempt at the head event and its consequence; True when the cursor moved on."""
        endpoint = claim.endpoint
        number = endpoint.attempt + 1
        outcome = await self._send(claim, item)
        now = utc_now()
        if outcome.ok:
            endpoint.cursor, endpoint.attempt = item["sequence"], 0
            result, next_at = store.SUCCEEDED, None
        elif outcome.gone:
            self._disable(endpoint, now)
            endpoint.attempt = number
            result, next_at = store.FAILED, None
        elif number >= len(self.retry_delays):
            endpoint.cursor, endpoint.attempt = item["sequence"], 0
            result, next_at = store.FAILED, None
        else:
            endpoint.attempt = number
            result, next_at = store.RETRYING, now + timedelta(seconds=self._delay(number, outcome))
        endpoint.next_attempt_at = format_timestamp(next_at or now)
        await self._record(claim, item, number, False, outcome, result, next_at, now)
        return result == store.SUCCEEDED or (result == store.FAILED and not outcome.gone)

    async def _redeliveries(self, claim: Claim) -> None:
        """Manual redeliveries: one attempt each, whatever the head's backoff."""
        endpoint = claim.endpoint
        for sequence in await self._db(lambda c: store.queued_redeliveries(c, endpoint.key)):
            if endpoint.status != store.ACTIVE:
                return
            await self._redeliver(claim, sequence)

    async def _redeliver(self, claim: Claim, sequence: int) -> None:
        """Send one queued event again; a redelivery of the head itself (not yet done) only
        makes it due now, so the order holds."""
        endpoint = claim.endpoint
        item = await self._db(lambda c: store.event_at(c, endpoint.tenant, sequence))
        if item is None or sequence > endpoint.cursor:
            if item is not None:
                endpoint.next_attempt_at = self._now_text()
                await self._write(lambda c: store.save_cursor(c, endpoint, self.worker_id))
            await self._db(lambda c: store.drop_redelivery(c, endpoint.key, sequence))
            return
        outcome = await self._send(claim, item)
        now = utc_now()
        if outcome.gone:
            self._disable(endpoint, now)
        result = store.SUCCEEDED if outcome.ok else store.FAILED
        await self._record(claim, item, 0, True, outcome, result, None, now)

    def _disable(self, endpoint: Endpoint, now: datetime) -> None:
        endpoint.status = store.DISABLED
        endpoint.status_reason = f"the receiver answered 410 Gone at {format_timestamp(now)}"
        log.warning("webhook %s disabled: %s", endpoint.webhook_id, endpoint.status_reason)

    def _delay(self, failed_attempts: int, outcome: Outcome) -> float:
        """A 429's Retry-After as asked; otherwise the schedule, with jitter."""
        if outcome.retry_after is not None:
            return outcome.retry_after
        spread = random.uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else 1.0
        return self.retry_delays[failed_attempts] * spread

    def _now_text(self) -> str:
        return format_timestamp(utc_now())

    async def _write(self, work: Callable[[Connection], bool]) -> None:
        if not await self._db(work):
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
        await self._write(lambda c: store.record(c, claim.endpoint, self.worker_id, attempt))

    # --- HTTP -----------------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # no proxies from the environment: the request must go to the address we checked
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        return self._client

    def _private_allowed(self) -> bool:
        if self.allow_private is not None:
            return self.allow_private
        return Settings().allow_private_webhooks

    async def _send(self, claim: Claim, item: dict[str, Any]) -> Outcome:
        """One signed POST of the event (after renewing the lease and checking the address)."""
        endpoint = claim.endpoint
        until = utc_now() + self.lease
        await self._write(lambda c: store.renew(c, endpoint.key, self.worker_id, until))
        claim.attempts += 1
        allowed = self._private_allowed()
        try:
            target = await anyio.to_thread.run_sync(
                lambda: check_url(endpoint.url, allow_private=allowed)
            )
        except UrlRefused as refused:
            return Outcome(None, f"refused: {refused}")
        body = json.dumps(as_json(item), separators=(",", ":")).encode()
        headers = signed_headers(endpoint.secret, item["id"], int(time.time()), body)
        return await self._post(target, headers, body)

    async def _post(self, target: Target, headers: dict[str, str], body: bytes) -> Outcome:
        """POST within the timeout, all of it (connect, send, the status line); the body of the
        answer is not read, so a receiver cannot stall or flood the worker with one."""
        url, host, extensions = _pinned(target)
        try:
            async with (
                asyncio.timeout(self.timeout),
                self._http().stream(
                    "POST",
                    url,
                    content=body,
                    headers={**headers, **host},
                    extensions=extensions,
                    timeout=self.timeout,
                ) as response,
            ):
                status = response.status_code
                wait = response.headers.get("retry-after") if status == 429 else None
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(None, f"no answer within {self.timeout:g} s")
        except httpx.HTTPError as failure:
            return Outcome(None, f"{type(failure).__name__}: {failure}".rstrip(": "))
        problem = None if 200 <= status < 300 else f"HTTP {status}"
        return Outcome(status, problem, retry_after_seconds(wait, utc_now()))
