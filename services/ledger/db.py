"""Synchronous database access for SQLite (stdlib sqlite3) and PostgreSQL (psycopg 3).

SQL is written once with `?` placeholders; the PostgreSQL connection rewrites them to `%s`.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from services.ledger.errors import InfrastructureError

Row = tuple[Any, ...]
SQLITE_BUSY_TIMEOUT_MS = 30_000
# FULL: a commit is on disk when it is acknowledged, power loss included (NORMAL in WAL mode may
# lose the last commits; bench/append.py measures what FULL costs)
SQLITE_SYNCHRONOUS = "FULL"
SQLITE_SYNCHRONOUS_MODES = frozenset({"FULL", "NORMAL", "EXTRA"})
SQLITE_FILE_MODE = 0o600  # the ledger holds member data: its owner only
# a PostgreSQL connection attempt waits at most this long (unless the URL sets connect_timeout),
# so an unreachable server is answered 503 in seconds rather than after the kernel gives up
CONNECT_TIMEOUT_S = 5
_PLACEHOLDER = re.compile(r"\?")


@dataclass(frozen=True)
class DatabaseUrl:
    url: str

    @property
    def dialect(self) -> str:
        if self.url.startswith("sqlite:"):
            return "sqlite"
        if self.url.startswith(("postgresql://", "postgres://")):
            return "postgres"
        raise InfrastructureError(
            f"unsupported database URL {self.url!r}: use sqlite:///PATH or postgresql://..."
        )


def sqlite_path(url: str) -> str:
    """`sqlite:///./x.db` -> `./x.db`, `sqlite:////abs/x.db` -> `/abs/x.db`."""
    rest = url.removeprefix("sqlite://")
    return rest[1:] if rest.startswith("/") else rest


class Connection:
    """One connection with `?` placeholders and explicit transactions."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw = raw
        self.dialect = dialect

    def _sql(self, sql: str) -> str:
        return _PLACEHOLDER.sub("%s", sql) if self.dialect == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self.raw.execute(self._sql(sql), tuple(params))
        if cursor.description is None:
            return []
        return [tuple(row) for row in cursor.fetchall()]

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(row) for row in rows]
        if not rows:
            return
        if self.dialect == "postgres":
            with self.raw.cursor() as cursor:
                cursor.executemany(self._sql(sql), rows)
        else:
            self.raw.executemany(sql, rows)

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Insert many rows: COPY on PostgreSQL (several times faster), executemany on SQLite."""
        rows = [tuple(row) for row in rows]
        if not rows:
            return
        names = ", ".join(columns)
        if self.dialect == "postgres":
            with (
                self.raw.cursor() as cursor,
                cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            self.raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[Connection]:
        """One transaction. `write` takes SQLite's one writer slot at once (BEGIN IMMEDIATE), so
        a writer never fails to upgrade a read lock; PostgreSQL writers lock their tenants' head
        rows instead (services/ledger/heads.py)."""
        if self.dialect == "sqlite":
            self.raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        else:
            self.raw.execute("BEGIN")
        try:
            yield self
        except BaseException:
            self.raw.rollback() if self.dialect == "postgres" else self.raw.execute("ROLLBACK")
            raise
        self.raw.commit() if self.dialect == "postgres" else self.raw.execute("COMMIT")

    def close(self) -> None:
        self.raw.close()

    def stale(self) -> bool:
        """Whether the connection cannot serve another transaction: closed, lost, or (idle on
        PostgreSQL) closed by the server, which leaves its goodbye (or EOF) readable on the
        socket: an administrator's pg_terminate_backend, a restart. Checked before an idle
        connection is used again, so the first request after an outage does not fail on it."""
        if self.dialect != "postgres":
            return False
        if self.raw.closed:
            return True
        try:
            readable, _, _ = select.select([self.raw.fileno()], [], [], 0)
        except (OSError, ValueError, psycopg.Error):
            return True
        return bool(readable)


def _with_timeout(url: str) -> str:
    """The URL with CONNECT_TIMEOUT_S, unless it sets a connect_timeout of its own."""
    if "connect_timeout" in conninfo_to_dict(url):
        return url
    return make_conninfo(url, connect_timeout=CONNECT_TIMEOUT_S)


def _create_private(path: str) -> None:
    """Create the SQLite file with SQLITE_FILE_MODE when it does not exist yet. SQLite gives the
    -wal and -shm files it creates beside it the database file's mode."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(descriptor, SQLITE_FILE_MODE)  # whatever the umask
    finally:
        os.close(descriptor)


class Database:
    """Opens connections to one database and owns its schema."""

    def __init__(self, url: str, *, sqlite_synchronous: str = SQLITE_SYNCHRONOUS) -> None:
        """`sqlite_synchronous` is for measuring (bench/append.py); the service keeps FULL."""
        assert sqlite_synchronous in SQLITE_SYNCHRONOUS_MODES, sqlite_synchronous
        self.url = url
        self.dialect = DatabaseUrl(url).dialect
        self.sqlite_synchronous = sqlite_synchronous
        self._local = threading.local()

    def connect(self) -> Connection:
        try:
            if self.dialect == "sqlite":
                return Connection(self._open_sqlite(sqlite_path(self.url)), "sqlite")
            return Connection(psycopg.connect(_with_timeout(self.url), autocommit=True), "postgres")
        except (sqlite3.Error, psycopg.Error, OSError) as error:
            raise InfrastructureError(f"cannot open the database: {error}") from error

    def _open_sqlite(self, path: str) -> sqlite3.Connection:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            _create_private(path)
        raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute(f"PRAGMA synchronous = {self.sqlite_synchronous}")
        return raw

    def thread_connection(self) -> Connection:
        """A connection owned by the calling thread, opened on first use and again after it
        was lost (a database restart must not leave the thread with a dead connection)."""
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is not None and connection.stale():
            with contextlib.suppress(Exception):
                connection.close()
            connection = None
        if connection is None:
            connection = self.connect()
            self._local.connection = connection
        return connection

    def migrate(self) -> None:
        """Bring the schema up to this release's (services/ledger/migrations.py)."""
        from services.ledger.migrations import migrate  # the migrations import Connection

        connection = self.connect()
        try:
            migrate(connection)
        finally:
            connection.close()
