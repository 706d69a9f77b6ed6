"""Async reads: asyncpg on PostgreSQL, sqlite3 in worker threads on SQLite. SQL uses `?`.

A read that cannot reach the database (refused, lost, terminated, no pooled connection within
the acquire timeout) raises `InfrastructureError`: answered 503, and the next read tries again.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

import anyio
import asyncpg

from services.ledger.availability import database_unavailable
from services.ledger.db import CONNECT_TIMEOUT_S, Database, Row
from services.ledger.errors import InfrastructureError

_PLACEHOLDER = re.compile(r"\?")
ACQUIRE_TIMEOUT_S = 5.0  # default wait for a pooled connection (Settings overrides it)
# a pooled connection found dead when used (InternalClientError: the server's goodbye arrived
# while asyncpg thought the connection idle)
LOST_CONNECTION: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.AdminShutdownError,
    asyncpg.CannotConnectNowError,
)


class Reader(Protocol):
    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def close(self) -> None: ...


def _numbered(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


def _unavailable(error: BaseException) -> InfrastructureError:
    return InfrastructureError(f"the database is unavailable: {type(error).__name__}: {error}")


class SqliteReader:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        def run() -> list[Row]:
            return self.database.thread_connection().execute(sql, params)

        try:
            return await anyio.to_thread.run_sync(run)
        except sqlite3.Error as error:
            if database_unavailable(error):
                raise _unavailable(error) from error
            raise

    async def close(self) -> None:
        return None


class PostgresReader:
    """A lazily created asyncpg pool (lazily, so it binds to the loop that first uses it).

    The pool reconnects by itself: a connection the server closed is opened again at its next
    acquire, so reads succeed again as soon as the database is back, without a restart."""

    def __init__(
        self, url: str, pool_size: int, acquire_timeout_s: float = ACQUIRE_TIMEOUT_S
    ) -> None:
        self.url = url
        self.pool_size = pool_size
        self.acquire_timeout_s = acquire_timeout_s
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.url, min_size=1, max_size=self.pool_size, timeout=CONNECT_TIMEOUT_S
                    )
        return self._pool

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            try:
                return await self._fetch(sql, params)
            except LOST_CONNECTION:
                # the server closed this pooled connection while it sat idle (a restart, a
                # terminated session): the pool learns it only now. Once more, on a new one
                return await self._fetch(sql, params)
        except (OSError, TimeoutError) as error:  # refused, unreachable, no connection in time
            raise _unavailable(error) from error
        except Exception as error:
            if database_unavailable(error) or isinstance(error, LOST_CONNECTION):
                raise _unavailable(error) from error
            raise

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        pool = await self._get_pool()
        async with pool.acquire(timeout=self.acquire_timeout_s) as connection:
            try:
                records = await connection.fetch(_numbered(sql), *params)
            except LOST_CONNECTION:
                connection.terminate()  # the pool opens a new one in its place
                raise
        return [tuple(record) for record in records]

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def make_reader(
    database: Database, pool_size: int, acquire_timeout_s: float = ACQUIRE_TIMEOUT_S
) -> Reader:
    if database.dialect == "postgres":
        return PostgresReader(database.url, pool_size, acquire_timeout_s)
    return SqliteReader(database)
