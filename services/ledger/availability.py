"""Which database failures mean "the database cannot be reached now": the one place that knows
the drivers' exceptions for it (psycopg and sqlite3 on the write side, asyncpg on the read side).

Such a failure is answered 503 `unavailable` with Retry-After (services/api/errors.py), never
500: nothing is wrong with the request, and the same request succeeds once the database is back.
The async reader turns these into `InfrastructureError` itself (services/projections/reads.py);
the synchronous side lets the driver's exception through, because its callers (the group commit,
the webhook worker's connection) tell a broken connection from its exception and reopen it.
"""

from __future__ import annotations

import sqlite3

import asyncpg
import psycopg

from services.ledger.errors import InfrastructureError

# sqlite3 says OperationalError for SQL mistakes too: only these mean the file is out of reach
# (missing directory, permissions, a writer holding the lock past the busy timeout, a full disk)
SQLITE_UNAVAILABLE = (
    "unable to open",
    "database is locked",
    "database table is locked",
    "disk i/o error",
    "readonly database",
    "database or disk is full",
)
ASYNCPG_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # refused, lost, does not exist any more
    asyncpg.InterfaceError,  # the connection was closed under the call
    asyncpg.OperatorInterventionError,  # terminated by an administrator, shutting down
    asyncpg.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.ObjectNotInPrerequisiteStateError,  # "not currently accepting connections"
    asyncpg.InvalidCatalogNameError,  # the database does not exist (dropped, or not yet made)
)


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database is unreachable or the connection dropped (retry
    later), as opposed to a mistake in the request or in the code."""
    if isinstance(error, InfrastructureError):
        return True
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError | ConnectionError):
        # psycopg's OperationalError: cannot connect, connection lost, terminated by an
        # administrator, and the retryable conflicts (deadlock, serialization, cancelled)
        return True
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return any(sign in text for sign in SQLITE_UNAVAILABLE)
    return isinstance(error, ASYNCPG_UNAVAILABLE)
