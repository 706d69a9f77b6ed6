"""`benefit-ledger relay`: derived events to NATS JetStream, with a durable checkpoint.

Subjects are `<prefix>.<tenant>.<type>`, prefix `benefit-ledger` unless the environment variable
BENEFIT_LEDGER_RELAY_SUBJECT_PREFIX says otherwise (e.g. two environments on one NATS account).
The type keeps its dots, so a consumer filters on `benefit-ledger.<tenant>.balance.changed` or
`benefit-ledger.*.>`. A subject token may not hold `.`, `*`, `>` or whitespace, so the tenant's
token is the tenant with every character outside [A-Za-z0-9_-] replaced by `_`. Two tenants can
then share a token (`acme.eu` and `acme_eu` both become `acme_eu`); the payload carries the
real `tenant`, and a consumer of such a tenant must check it.

Delivery is at least once, in sequence order per tenant. Each publish waits for JetStream's ack
before the next one goes out, so a failed publish is never overtaken by a later event, and the
tenant's checkpoint advances after every acknowledged batch. A crash re-sends at most the last
batch: its `Nats-Msg-Id` header (the derived event's id) lets the stream's duplicate window drop
the copies. A consumer that must be exact beyond that window dedupes on `id`.

One relay per name (= stream) publishes at a time: it holds a lease row in the database, renewed
with every checkpoint. Another relay with the same name stands by until the lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamInfo

from services.ledger.codec import format_timestamp
from services.ledger.db import Connection, Database
from services.projections.feed import as_json, read_events

DEFAULT_PREFIX = "benefit-ledger"
PREFIX_ENV = "BENEFIT_LEDGER_RELAY_SUBJECT_PREFIX"
BATCH_SIZE = 100
# longer than any restart of a crashed relay, so the re-sent tail is recognised as duplicates
DUPLICATE_WINDOW_SECONDS = 600.0
MIN_SAFE_WINDOW_SECONDS = 120.0
LEASE_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 3
PUBLISH_TIMEOUT_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 5.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_USERINFO = re.compile(r"(^|//|,)[^/@,]*@")


# --- subjects and messages ---------------------------------------------------------------------


def subject_token(text: str) -> str:
    """`text` as one subject token: a `.` would split it, `*`/`>` widen it, spaces end it."""
    return _UNSAFE.sub("_", text) or "_"


def subject_for(prefix: str, tenant: str, event_type: str) -> str:
    """`<prefix>.<tenant token>.<type>`, the type's dots kept so consumers can filter on them."""
    kind = ".".join(subject_token(part) for part in event_type.split("."))
    return f"{prefix}.{subject_token(tenant)}.{kind}"


def message_body(tenant: str, item: dict[str, Any]) -> bytes:
    """The derived event as JSON plus its real tenant (the subject's token may be lossy)."""
    return json.dumps({**as_json(item), "tenant": tenant}, separators=(",", ":")).encode()


def redact_url(url: str) -> str:
    """The server URL(s) without user, password or token, fit for a message or a log."""
    return _USERINFO.sub(r"\1***@", url)


# --- lease and checkpoints ---------------------------------------------------------------------


class LeaseHeld(Exception):
    """Another relay with the same name is publishing; this one must not interleave with it."""

    def __init__(self, name: str, holder: str, expires_at: str) -> None:
        super().__init__(f"another relay holds the lease of {name}: {holder}")
        self.holder = holder
        self.expires_at = expires_at


class LeaseLost(Exception):
    """This relay stalled past its lease and another took over: stop before racing it."""


def default_holder() -> str:
    """Host, pid and a nonce: readable in `relay_leases`, unique even across restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


_TAKE_LEASE = """INSERT INTO relay_leases (name, holder, expires_at) VALUES (?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
    WHERE relay_leases.holder = excluded.holder OR relay_leases.expires_at < ?"""

_ADVANCE = """INSERT INTO relay_checkpoints (tenant, name, sequence) VALUES (?, ?, ?)
    ON CONFLICT (tenant, name) DO UPDATE SET sequence = excluded.sequence
    WHERE relay_checkpoints.sequence < excluded.sequence"""


@dataclass
class Lease:
    """The right to publish as relay `name`, a row in `relay_leases` valid until it expires.

    Every checkpoint write renews it in the same transaction and fails once someone else holds
    it, so a relay that stalled past its lease stops instead of publishing beside its successor.
    """

    name: str
    holder: str = field(default_factory=default_holder)
    seconds: float = LEASE_SECONDS

    def _expiry(self, now: datetime, fraction: float = 1.0) -> str:
        return format_timestamp(now + timedelta(seconds=self.seconds * fraction))

    def current(self, connection: Connection) -> tuple[str, str] | None:
        """(holder, expires_at) of the lease row, None if nobody ever took it."""
        rows = connection.execute(
            "SELECT holder, expires_at FROM relay_leases WHERE name = ?", (self.name,)
        )
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def acquire(self, connection: Connection) -> None:
        """Take or renew the lease; raise LeaseHeld while another live relay holds it."""
        now = datetime.now(UTC)
        current = self.current(connection)
        if current and current[0] == self.holder and current[1] > self._expiry(now, 0.5):
            return  # still comfortably ours: no write on every idle poll
        with connection.transaction():
            connection.execute(
                _TAKE_LEASE, (self.name, self.holder, self._expiry(now), format_timestamp(now))
            )
            current = self.current(connection)
        if current is None or current[0] != self.holder:
            holder, expires_at = current or ("nobody", "-")
            raise LeaseHeld(self.name, holder, expires_at)

    def fence(self, connection: Connection) -> None:
        """Inside a transaction: renew the lease, or raise LeaseLost if another relay took it."""
        connection.execute(
            "UPDATE relay_leases SET expires_at = ? WHERE name = ? AND holder = ?",
            (self._expiry(datetime.now(UTC)), self.name, self.holder),
        )
        current = self.current(connection)
        if current is None or current[0] != self.holder:
            raise LeaseLost(f"relay {self.name}: the lease passed to {current and current[0]}")

    def release(self, connection: Connection) -> None:
        """Give the lease up, so a successor need not wait for it to expire."""
        connection.execute(
            "DELETE FROM relay_leases WHERE name = ? AND holder = ?", (self.name, self.holder)
        )


def checkpoints(connection: Connection, name: str) -> dict[str, int]:
    """Per tenant, the last sequence relay `name` saw acknowledged."""
    rows = connection.execute(
        "SELECT tenant, sequence FROM relay_checkpoints WHERE name = ?", (name,)
    )
    return {str(tenant): int(sequence) for tenant, sequence in rows}


def save_checkpoint(connection: Connection, lease: Lease, tenant: str, sequence: int) -> None:
    """Record the tenant's events up to `sequence` as acknowledged; it never moves backwards."""
    with connection.transaction():
        lease.fence(connection)
        connection.execute(_ADVANCE, (tenant, lease.name, sequence))


def pending_tenants(
    connection: Connection, name: str, only: Sequence[str] | None = None
) -> list[tuple[str, int]]:
    """(tenant, checkpoint) of every tenant with events past its checkpoint, in one query."""
    done = checkpoints(connection, name)
    rows = connection.execute("SELECT tenant, MAX(sequence) FROM derived_events GROUP BY tenant")
    wanted = set(only) if only is not None else None
    return [
        (str(tenant), done.get(tenant, 0))
        for tenant, last in rows
        if int(last) > done.get(tenant, 0) and (wanted is None or tenant in wanted)
    ]


# --- the stream and one pass -------------------------------------------------------------------


class StreamMismatch(Exception):
    """The relay's subjects would go to no stream or to another one: every publish would fail."""


async def ensure_stream(
    js: JetStreamContext, name: str, prefix: str = DEFAULT_PREFIX
) -> StreamInfo:
    """The stream `name`, created for `<prefix>.>` if missing; an existing one is used as it is."""
    try:
        info = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        info = await js.add_stream(
            name=name,
            subjects=[f"{prefix}.>"],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )
    try:
        owner: str | None = await js.find_stream_name_by_subject(f"{prefix}.relay-check")
    except nats.js.errors.NotFoundError:
        owner = None
    if owner != name:
        raise StreamMismatch(f"subjects {prefix}.> go to {owner or 'no stream'}, not to {name}")
    return info


@dataclass
class RelayStats:
    """What a pass did: events acknowledged, of them duplicates JetStream dropped, tenants."""

    published: int = 0
    duplicates: int = 0
    tenants: int = 0


@dataclass
class _Pass:
    connection: Connection
    js: JetStreamContext
    lease: Lease
    prefix: str
    batch_size: int
    stop: asyncio.Event | None
    stats: RelayStats

    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    async def publish(self, tenant: str, item: dict[str, Any]) -> None:
        """Publish one event and wait for its ack: the next may only go out after this one."""
        ack = await self.js.publish(
            subject_for(self.prefix, tenant, item["type"]),
            message_body(tenant, item),
            timeout=PUBLISH_TIMEOUT_SECONDS,
            stream=self.lease.name,
            headers={"Nats-Msg-Id": item["id"]},
        )
        self.stats.published += 1
        self.stats.duplicates += 1 if ack.duplicate else 0

    async def tenant(self, tenant: str, after: int) -> None:
        """The tenant's events after `after`, in order, checkpointing each acknowledged batch."""
        self.stats.tenants += 1
        while not self.stopping():
            items = read_events(self.connection, tenant, after, self.batch_size)
            for item in items:
                await self.publish(tenant, item)
            if items:
                after = int(items[-1]["sequence"])
                save_checkpoint(self.connection, self.lease, tenant, after)
            if len(items) < self.batch_size:
                return


async def relay_pass(
    connection: Connection,
    js: JetStreamContext,
    *,
    name: str,
    prefix: str = DEFAULT_PREFIX,
    lease: Lease | None = None,
    tenants: Sequence[str] | None = None,
    batch_size: int = BATCH_SIZE,
    stop: asyncio.Event | None = None,
    stats: RelayStats | None = None,
) -> int:
    """Publish every tenant's derived events past its checkpoint to stream `name`.

    Returns how many JetStream acknowledged (re-sent duplicates included, see `stats`). `name`
    is the stream and also names the relay's checkpoints and lease, so relays feeding different
    streams keep separate positions. Raises LeaseHeld while another relay of that name runs,
    LeaseLost if one took over mid-pass. Without `lease` the pass takes one of its own and gives
    it back at the end. `tenants` limits the pass to some tenants (tests, backfills); `stop` ends
    it after the current batch.
    """
    held = lease or Lease(name)
    if held.name != name:
        raise ValueError(f"the lease is for relay {held.name}, not {name}")
    held.acquire(connection)
    run = _Pass(connection, js, held, prefix, batch_size, stop, stats or RelayStats())
    before = run.stats.published
    try:
        for tenant, after in pending_tenants(connection, name, tenants):
            if run.stopping():
                break
            await run.tenant(tenant, after)
    finally:
        if lease is None:
            held.release(connection)
    return run.stats.published - before


# --- the command -------------------------------------------------------------------------------


class NatsUnreachable(Exception):
    """The first connection attempt failed; the message says why."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _reason(error: BaseException) -> str:
    """A message for any error: some NATS and asyncio errors have an empty str()."""
    if isinstance(error, TimeoutError) and not str(error):
        return "timed out"
    return str(error) or type(error).__name__


async def _probe(servers: list[str]) -> None:
    """A quick try (two attempts per server); raise NatsUnreachable with the telling reason.

    nats-py ends a failed attempt with "no servers available"; the cause (refused, timed out,
    authorization violation) only reaches the error callback, so it is kept from there.
    """
    causes: list[Exception] = []

    async def keep(error: Exception) -> None:
        causes.append(error)

    try:
        probe = await nats.connect(
            servers,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            allow_reconnect=False,
            max_reconnect_attempts=1,  # nats-py's default, 60 tries 2 s apart, looks like a hang
            reconnect_time_wait=0.2,
            error_cb=keep,
        )
    except (OSError, nats.errors.Error, ValueError) as error:
        cause = f" ({_reason(causes[-1])})" if causes and causes[-1] is not error else ""
        raise NatsUnreachable(_reason(error) + cause) from error
    await probe.close()


async def connect_nats(url: str) -> NATS:
    """A connection that reconnects forever once up, after a first attempt that fails fast.

    With reconnects allowed nats-py retries the first connect too, turning "connection refused"
    into a silent hang; one attempt without them says at once whether the server is there.
    `url` may list several servers, comma-separated.
    """
    servers = [part.strip() for part in url.split(",") if part.strip()]
    await _probe(servers)
    link: list[NATS] = []

    async def report(error: Exception) -> None:
        _say(f"relay: NATS: {_reason(error)}")

    async def disconnected() -> None:
        if link and not link[0].is_closed:  # closing on purpose calls this too
            _say("relay: disconnected from NATS; reconnecting")

    async def reconnected() -> None:
        _say("relay: reconnected to NATS")

    nc = await nats.connect(
        servers,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        error_cb=report,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
    )
    link.append(nc)
    return nc


@dataclass(frozen=True)
class RelayOptions:
    stream: str
    prefix: str
    once: bool
    poll_interval: float


def _stop_on_signals() -> asyncio.Event:
    """SIGINT/SIGTERM end the loop after the current batch (checkpointed), not mid-batch."""
    stop = asyncio.Event()

    def stopping() -> None:
        if not stop.is_set():
            _say("relay: stopping after the current batch")
        stop.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stopping)
    return stop


def _describe(info: StreamInfo, options: RelayOptions) -> None:
    window = info.config.duplicate_window or 0
    _say(
        f"relay: {options.prefix}.<tenant>.<type> to stream {options.stream} "
        f"(duplicate window {window:g} s)"
    )
    if window < MIN_SAFE_WINDOW_SECONDS:
        _say(
            f"relay: warning: a duplicate window under {MIN_SAFE_WINDOW_SECONDS:g} s may store "
            "the events re-sent after a crash twice"
        )


def _progress(stream: str, stats: RelayStats) -> str:
    dropped = f"; {stats.duplicates} were duplicates JetStream dropped" if stats.duplicates else ""
    return (
        f"relay: published {stats.published} event(s) of {stats.tenants} tenant(s) "
        f"to {stream}{dropped}"
    )


async def _attempt(
    connection: Connection,
    js: JetStreamContext,
    lease: Lease,
    stop: asyncio.Event,
    options: RelayOptions,
) -> tuple[RelayStats, Exception | None]:
    """One pass; a NATS failure or a lease conflict is returned, to be retried or reported."""
    stats = RelayStats()
    try:
        await relay_pass(
            connection,
            js,
            name=options.stream,
            prefix=options.prefix,
            lease=lease,
            stop=stop,
            stats=stats,
        )
    except (LeaseHeld, LeaseLost, nats.errors.Error, TimeoutError) as error:
        return stats, error
    return stats, None


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once on SIGINT/SIGTERM."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _loop(
    connection: Connection,
    js: JetStreamContext,
    lease: Lease,
    stop: asyncio.Event,
    options: RelayOptions,
) -> int:
    """Pass after pass until stopped; a failed pass is retried with backoff (or, --once, 1).

    The same failure is reported once, not every poll: a relay standing by behind another one's
    lease would otherwise print twice a second.
    """
    failures, last_error = 0, ""
    while not stop.is_set():
        stats, error = await _attempt(connection, js, lease, stop, options)
        if stats.published or options.once:
            _say(_progress(options.stream, stats))
        failures = failures + 1 if error else 0
        if error and _reason(error) != last_error:
            _say(f"relay: {_reason(error)}" + ("" if options.once else "; retrying"))
        last_error = _reason(error) if error else ""
        if options.once:
            return 1 if error else 0
        if error or not stats.published:
            backoff = options.poll_interval * 2 ** min(failures, 6)
            await _pause(stop, min(max(backoff, options.poll_interval), MAX_BACKOFF_SECONDS))
    _say("relay: stopped")
    return 0


async def _relay(connection: Connection, nats_url: str, options: RelayOptions) -> int:
    try:
        nc = await connect_nats(nats_url)
    except NatsUnreachable as error:
        _say(f"benefit-ledger relay: cannot reach NATS at {redact_url(nats_url)}: {error}")
        return 2
    try:
        js = nc.jetstream()
        try:
            info = await ensure_stream(js, options.stream, options.prefix)
        except (nats.errors.Error, StreamMismatch, ValueError) as error:
            _say(f"benefit-ledger relay: cannot use stream {options.stream}: {_reason(error)}")
            return 2
        _describe(info, options)
        stop = _stop_on_signals()
        lease = Lease(options.stream)
        try:
            return await _loop(connection, js, lease, stop, options)
        finally:
            with contextlib.suppress(Exception):  # best effort: the lease also expires by itself
                lease.release(connection)
    finally:
        await nc.close()


def run_relay(
    database_url: str, nats_url: str, *, stream: str, once: bool, poll_interval: float
) -> int:
    """The `relay` command; its exit code for the shell (and systemd, cron) to act on.

    0: done (--once) or stopped by SIGINT/SIGTERM; 1: a --once pass failed or another relay holds
    the lease; 2: NATS or the stream cannot be used.
    """
    database = Database(database_url)
    database.migrate()
    connection = database.connect()
    prefix = os.environ.get(PREFIX_ENV) or DEFAULT_PREFIX
    options = RelayOptions(stream, prefix, once, poll_interval)
    try:
        return asyncio.run(_relay(connection, nats_url, options))
    finally:
        connection.close()
