"""The `benefit-ledger relay` command: passes in a loop, with backoff, signals and exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import StreamInfo

from services.api.relay.nats_client import NatsUnreachable, connect_nats, reason, redact_url, say
from services.api.relay.publisher import (
    DEFAULT_PREFIX,
    PREFIX_ENV,
    RelayStats,
    StreamMismatch,
    ensure_stream,
    relay_pass,
)
from services.ledger.db import Connection, Database
from services.ledger.leases import LeaseLost, default_holder, release_all

MIN_SAFE_WINDOW_SECONDS = 120.0
MAX_BACKOFF_SECONDS = 5.0


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
            say("relay: stopping after the current batch")
        stop.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stopping)
    return stop


def _describe(info: StreamInfo, options: RelayOptions) -> None:
    window = info.config.duplicate_window or 0
    say(
        f"relay: {options.prefix}.<tenant>.<type> to stream {options.stream} "
        f"(duplicate window {window:g} s)"
    )
    if window < MIN_SAFE_WINDOW_SECONDS:
        say(
            f"relay: warning: a duplicate window under {MIN_SAFE_WINDOW_SECONDS:g} s may store "
            "the events re-sent after a crash twice",
            logging.WARNING,
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
    holder: str,
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
            holder=holder,
            stop=stop,
            stats=stats,
        )
    except (LeaseLost, nats.errors.Error, TimeoutError) as error:
        return stats, error
    return stats, None


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once on SIGINT/SIGTERM."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _loop(
    connection: Connection,
    js: JetStreamContext,
    holder: str,
    stop: asyncio.Event,
    options: RelayOptions,
) -> int:
    """Pass after pass until stopped; a failed pass is retried with backoff (or, --once, 1).

    The same failure is reported once, not every poll: a relay whose NATS is down would
    otherwise print twice a second.
    """
    failures, last_error = 0, ""
    while not stop.is_set():
        stats, error = await _attempt(connection, js, holder, stop, options)
        if stats.published or options.once:
            say(_progress(options.stream, stats))
        failures = failures + 1 if error else 0
        if error and reason(error) != last_error:
            retrying = "" if options.once else "; retrying"
            say(f"relay: {reason(error)}{retrying}", logging.WARNING)
        last_error = reason(error) if error else ""
        if options.once:
            return 1 if error else 0
        if error or not stats.published:
            backoff = options.poll_interval * 2 ** min(failures, 6)
            await _pause(stop, min(max(backoff, options.poll_interval), MAX_BACKOFF_SECONDS))
    say("relay: stopped")
    return 0


async def _relay(connection: Connection, nats_url: str, options: RelayOptions) -> int:
    try:
        nc = await connect_nats(nats_url)
    except NatsUnreachable as error:
        say(
            f"benefit-ledger relay: cannot reach NATS at {redact_url(nats_url)}: {error}",
            logging.ERROR,
        )
        return 2
    try:
        js = nc.jetstream()
        try:
            info = await ensure_stream(js, options.stream, options.prefix)
        except (nats.errors.Error, StreamMismatch, ValueError) as error:
            say(
                f"benefit-ledger relay: cannot use stream {options.stream}: {reason(error)}",
                logging.ERROR,
            )
            return 2
        _describe(info, options)
        stop = _stop_on_signals()
        holder = default_holder()
        try:
            return await _loop(connection, js, holder, stop, options)
        finally:
            with contextlib.suppress(Exception):  # best effort: the leases also expire
                release_all(connection, options.stream, holder)
    finally:
        await nc.close()


def run_relay(
    database_url: str, nats_url: str, *, stream: str, once: bool, poll_interval: float
) -> int:
    """The `relay` command; its exit code for the shell (and systemd, cron) to act on.

    0: done (--once) or stopped by SIGINT/SIGTERM; 1: a --once pass failed; 2: NATS or the
    stream cannot be used.
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
