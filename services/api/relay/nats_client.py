"""The relay's NATS connection: a first attempt that fails fast and says why, then reconnects.

Also the relay's voice: its messages go to stderr, one line each (one JSON log record each when
the process logs JSON), with errors that have a reason.
"""

from __future__ import annotations

import logging
import re

import nats
import nats.errors
from nats.aio.client import Client as NATS

from services.api import logs

CONNECT_TIMEOUT_SECONDS = 3
_USERINFO = re.compile(r"(^|//|,)[^/@,]*@")


def redact_url(url: str) -> str:
    """The server URL(s) without user, password or token, fit for a message or a log."""
    return _USERINFO.sub(r"\1***@", url)


class NatsUnreachable(Exception):
    """The first connection attempt failed; the message says why."""


log = logging.getLogger("benefit_ledger.relay")


def say(message: str, level: int = logging.INFO) -> None:
    """One line to stderr, flushed at once: the relay runs under systemd and cron."""
    logs.say(log, message, level)


def reason(error: BaseException) -> str:
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
        cause = f" ({reason(causes[-1])})" if causes and causes[-1] is not error else ""
        raise NatsUnreachable(reason(error) + cause) from error
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
        say(f"relay: NATS: {reason(error)}", logging.WARNING)

    async def disconnected() -> None:
        if link and not link[0].is_closed:  # closing on purpose calls this too
            say("relay: disconnected from NATS; reconnecting", logging.WARNING)

    async def reconnected() -> None:
        say("relay: reconnected to NATS")

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
