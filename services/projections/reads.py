"""Async reads: asyncpg on PostgreSQL, sqlite3 in worker threads on SQLite. SQL uses `?`."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any, Protocol

import anyio
import asyncpg

from services.ledger.db import Database, Row

_PLACEHOLDER = re.compile(r"\?")


class Reader(Protocol):
    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def close(self) -> None: ...


def _numbered(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class SqliteReader:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        def run() -> list[Row]:
            return self.database.thread_connection().execute(sql, params)

        return await anyio.to_thread.run_sync(run)

    async def close(self) -> None:
        return None


class PostgresReader:
    """A lazily created asyncpg pool (lazily, so it binds to the loop that first uses it)."""

    def __init__(self, url: str, pool_size: int) -> None:
        self.url = url
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.url, min_size=1, max_size=self.pool_size
                    )
        return self._pool

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        pool = await self._get_pool()
        records = await pool.fetch(_numbered(sql), *params)
        return [tuple(record) for record in records]

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def make_reader(database: Database, pool_size: int) -> Reader:
    if database.dialect == "postgres":
        return PostgresReader(database.url, pool_size)
    return SqliteReader(database)
