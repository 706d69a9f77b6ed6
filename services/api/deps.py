"""Request dependencies: the service context, the caller's identity and role checks."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import anyio
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from services.api.metrics import Metrics
from services.ledger.codec import format_timestamp
from services.ledger.db import Database
from services.ledger.errors import (
    ForbiddenError,
    InvalidRequestError,
    Problem,
    UnauthenticatedError,
)
from services.ledger.group_commit import Ledger
from services.ledger.keys import (
    Principal,
    hash_key,
    mark_used,
    parse_stream_token,
    stream_token_valid,
)
from services.ledger.validation import date_problem
from services.projections.core.facts import local_date
from services.projections.queries import tenant_time_zone
from services.projections.reads import Reader

log = logging.getLogger("benefit_ledger.keys")


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


KEY_USE_SECONDS = 60.0  # a key's last_used_at is written at most this often per process


@dataclass
class Context:
    """What every request shares: the database, the writer, the async reader and metrics."""

    database: Database
    ledger: Ledger
    reader: Reader
    metrics: Metrics = field(default_factory=Metrics)
    notifier: FeedNotifier = field(default_factory=FeedNotifier)
    # key id -> when this process last wrote its last_used_at (monotonic)
    key_uses: dict[str, float] = field(default_factory=dict)
    _writes: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.ledger.listeners.append(self.notifier.notify)

    def key_used(self, key_id: str, now: datetime) -> None:
        """Note the key's use in the database, at most once a minute, without delaying the
        request (a failed write is logged: it never fails the request)."""
        last = self.key_uses.get(key_id)
        if last is not None and time.monotonic() - last < KEY_USE_SECONDS:
            return
        if len(self.key_uses) >= 10_000:
            self.key_uses.clear()
        self.key_uses[key_id] = time.monotonic()

        def write() -> None:
            connection = self.database.thread_connection()
            with connection.transaction(write=True):
                mark_used(connection, key_id, now)

        async def run() -> None:
            try:
                await anyio.to_thread.run_sync(write)
            except Exception:
                log.warning("could not note the use of API key %s", key_id, exc_info=True)

        task = asyncio.create_task(run())
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)


def context(request: Request) -> Context:
    found: Context = request.app.state.context
    return found


KEY_COLUMNS = "tenant, roles, key_id, expires_at, revoked_at"

# These document the credentials in the OpenAPI document (the security schemes of the operations
# that need a key); they never refuse a request themselves: principal() and stream_principal()
# read and check them.
BEARER = HTTPBearer(
    scheme_name="ApiKey",
    bearerFormat="API key",
    description="`Authorization: Bearer <api key>`. A key belongs to one tenant and carries "
    "roles (writer, reader, subscriber, supervisor, admin). Missing, unknown, expired or "
    "revoked: 401; a role missing: 403.",
    auto_error=False,
)
STREAM_TOKEN = APIKeyQuery(
    name="token",
    scheme_name="StreamToken",
    description="For a browser's EventSource, which cannot send headers: a short-lived token "
    "from POST /v1/feeds/stream-tokens, with the roles of the key that asked for it.",
    auto_error=False,
)


def _caller(ctx: Context, row: Sequence[Any]) -> Principal:
    """The caller of a key row that is neither revoked nor expired (else 401)."""
    tenant, roles, key_id, expires_at, revoked_at = row[:5]
    now = utc_now()
    if revoked_at is not None:
        raise UnauthenticatedError(f"this API key was revoked at {revoked_at}")
    if expires_at is not None and expires_at <= format_timestamp(now):
        raise UnauthenticatedError(f"this API key expired at {expires_at}")
    ctx.key_used(key_id, now)
    return Principal(tenant, frozenset(roles.split(",")), key_id)


async def principal(
    request: Request,
    ctx: Context = Depends(context),
    _documented: HTTPAuthorizationCredentials | None = Depends(BEARER),
) -> Principal:
    """The caller of a key that exists, is not revoked and has not expired: asked of the
    database on every request, so a revocation holds at once in every process."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise UnauthenticatedError("send Authorization: Bearer <api key>")
    rows = await ctx.reader.fetch(
        f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?", (hash_key(key.strip()),)
    )
    if not rows:
        raise UnauthenticatedError("unknown API key")
    caller = _caller(ctx, rows[0])
    request.state.tenant = caller.tenant  # for the access log line
    return caller


async def stream_principal(
    request: Request,
    ctx: Context = Depends(context),
    _bearer: HTTPAuthorizationCredentials | None = Depends(BEARER),
    _token: str | None = Depends(STREAM_TOKEN),
) -> Principal:
    """The key of the Authorization header, or else of a stream token in `?token=` (for a
    browser's EventSource, which cannot send headers; POST /v1/feeds/stream-tokens)."""
    token = request.query_params.get("token")
    if token is None or request.headers.get("authorization"):
        return await principal(request, ctx)
    parsed = parse_stream_token(token)
    if parsed is None:
        raise UnauthenticatedError("the stream token is malformed")
    key_id, expires, signature = parsed
    if expires <= time.time():
        raise UnauthenticatedError("the stream token expired: ask for a new one")
    rows = await ctx.reader.fetch(
        f"SELECT {KEY_COLUMNS}, key_hash FROM api_keys WHERE key_id = ?", (key_id,)
    )
    if not rows or not stream_token_valid(rows[0][5], key_id, expires, signature):
        raise UnauthenticatedError("the stream token is not valid")
    caller = _caller(ctx, rows[0])
    request.state.tenant = caller.tenant
    return caller


def require(
    role: str, identify: Callable[..., Awaitable[Principal]] = principal
) -> Callable[..., Awaitable[Principal]]:
    # the role is the security requirement's scope: the OpenAPI document names it per operation
    async def check(caller: Principal = Security(identify, scopes=[role])) -> Principal:
        if not caller.has(role):
            raise ForbiddenError(f"this needs the {role} role")
        return caller

    return check


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_date(name: str, value: str | None) -> date:
    """A date parameter (YYYY-MM-DD, within the ledger's years); today in UTC when absent."""
    if value is None:
        return utc_now().date()
    try:
        day = date.fromisoformat(value)
    except ValueError as error:
        raise InvalidRequestError(
            f"{name} must be a date YYYY-MM-DD", [Problem(None, name, str(error))]
        ) from error
    problem = date_problem(name, day)
    if problem is not None:
        raise InvalidRequestError(f"{name} is outside the dates the ledger holds", [problem])
    return day


def parse_as_of(value: str | None) -> date:
    return parse_date("as_of", value)


async def tenant_as_of(ctx: Context, tenant: str, value: str | None) -> date:
    """An `as_of` parameter; when absent, the tenant's today: the date in its time zone
    (`tenant.settings_changed`, UTC by default; accumulation.md section 3)."""
    if value is not None:
        return parse_as_of(value)
    return local_date(utc_now(), await tenant_time_zone(ctx.reader, tenant))


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
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    problem = date_problem("known_at", moment.replace(tzinfo=None).date())
    if problem is None:  # and in range once in UTC, where the ledger compares it
        try:
            problem = date_problem("known_at", moment.astimezone(UTC).date())
        except OverflowError:
            problem = Problem(None, "known_at", "outside the years the ledger holds")
    if problem is not None:
        raise InvalidRequestError("known_at is outside the moments the ledger holds", [problem])
    return moment
