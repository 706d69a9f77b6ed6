"""Request dependencies: the service context, the caller's identity and role checks."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from fastapi import Depends, Request

from services.api.metrics import Metrics
from services.ledger.db import Database
from services.ledger.errors import (
    ForbiddenError,
    InvalidRequestError,
    Problem,
    UnauthenticatedError,
)
from services.ledger.group_commit import Ledger
from services.ledger.keys import Principal, hash_key
from services.projections.reads import Reader


class FeedNotifier:
    """Wakes feed readers when derived events may have been written; `notify` is thread-safe.

    It only shortens waits: readers also look again every FEED_POLL_SECONDS, for events written
    by other processes (another `serve`, `tick` from cron).
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Future[None]] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def notify(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait(self, timeout: float) -> None:
        """Until the next notification or `timeout` seconds, whichever comes first."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)


KEY_CACHE_SECONDS = 10.0  # a found API key is trusted this long without asking the database
KEY_CACHE_SIZE = 10_000


@dataclass
class Context:
    """What every request shares: the database, the writer, the async reader and metrics."""

    database: Database
    ledger: Ledger
    reader: Reader
    metrics: Metrics = field(default_factory=Metrics)
    notifier: FeedNotifier = field(default_factory=FeedNotifier)
    # key hash -> (caller, monotonic expiry): keys are created, never edited; unknown keys are
    # always looked up, so a new key works at once
    known_keys: dict[str, tuple[Principal, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ledger.listeners.append(self.notifier.notify)


def context(request: Request) -> Context:
    found: Context = request.app.state.context
    return found


async def principal(request: Request, ctx: Context = Depends(context)) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise UnauthenticatedError("send Authorization: Bearer <api key>")
    key_hash = hash_key(key.strip())
    cached = ctx.known_keys.get(key_hash)
    if cached is not None and cached[1] > time.monotonic():
        request.state.tenant = cached[0].tenant  # for the access log line
        return cached[0]
    rows = await ctx.reader.fetch(
        "SELECT tenant, roles, key_id FROM api_keys WHERE key_hash = ?", (key_hash,)
    )
    if not rows:
        raise UnauthenticatedError("unknown API key")
    tenant, roles, key_id = rows[0]
    request.state.tenant = tenant
    found = Principal(tenant, frozenset(roles.split(",")), key_id)
    if len(ctx.known_keys) >= KEY_CACHE_SIZE:
        ctx.known_keys.clear()
    ctx.known_keys[key_hash] = (found, time.monotonic() + KEY_CACHE_SECONDS)
    return found


def require(role: str) -> Callable[..., Awaitable[Principal]]:
    async def check(caller: Principal = Depends(principal)) -> Principal:
        if not caller.has(role):
            raise ForbiddenError(f"this needs the {role} role")
        return caller

    return check


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_as_of(value: str | None) -> date:
    if value is None:
        return utc_now().date()
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise InvalidRequestError(
            "as_of must be a date YYYY-MM-DD", [Problem(None, "as_of", str(error))]
        ) from error


def parse_known_at(value: str | None) -> datetime | None:
    """A known_at timestamp (RFC 3339); without a zone it is taken as UTC."""
    if value is None:
        return None
    try:
        # a '+' in an unencoded query string arrives as a space
        text = re.sub(r" (\d{2}:?\d{2})$", r"+\1", value.strip()).replace("Z", "+00:00")
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise InvalidRequestError(
            "known_at must be an RFC 3339 timestamp", [Problem(None, "known_at", str(error))]
        ) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
