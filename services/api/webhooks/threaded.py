"""The webhook worker's one database connection, used from worker threads one call at a time.

The connection is opened at the first call and reopened after one that found it broken. Calls
queue for it without holding a thread, and a call whose caller is cancelled is waited out before
the cancellation goes on, so the caller's clean-up never runs beside it on the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from typing import TypeVar

import anyio
import psycopg

from services.ledger.db import Connection, Database

T = TypeVar("T")


class ThreadedConnection:
    """`await run(work)` calls `work(connection)` in a thread; `aclose` closes the connection."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._connection: Connection | None = None
        self._limiter: anyio.CapacityLimiter | None = None

    def _db_limiter(self) -> anyio.CapacityLimiter:
        """One thread at a time on the worker's one connection; waiting tasks hold no thread."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        return self._limiter

    async def aclose(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await anyio.to_thread.run_sync(connection.close, limiter=self._db_limiter())

    async def run(self, work: Callable[[Connection], T]) -> T:
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
