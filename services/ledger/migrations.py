"""Numbered schema migrations, applied in order at start by `serve` and every command.

Each migration is a list of statements in services/ledger/schema.py (never edited once
released). `migrate` applies those a database lacks in one transaction, under an advisory lock
on PostgreSQL so that processes starting together apply them once, and records each in
`schema_migrations` (version, name, when). A new database runs them all from 2; a database of
schema 2 made before migrations were recorded (it has `schema_version` = 2) counts 2 as applied;
schema 1 (one global order of positions) is refused with the way out; a database newer than this
release is refused too, rather than written by code that does not know its tables.

A small runner, not alembic or yoyo: the schema is plain SQL over our own two-driver `Connection`
(no SQLAlchemy models for alembic to compare), the whole upgrade must be one transaction with
the advisory lock the ledger already uses, and the version table must begin like every other
reference table. Forty lines do that; a tool would add a second connection layer and config.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from services.ledger.db import Connection
from services.ledger.errors import InfrastructureError
from services.ledger.schema import (
    SCHEMA_V2,
    SCHEMA_V3,
    SCHEMA_V4,
    SCHEMA_V5,
    SCHEMA_V6,
    SCHEMA_V7,
)

MIGRATION_LOCK = 727274  # pg_advisory_xact_lock key shared by every process migrating


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS = (
    Migration(2, "positions per tenant, tags (the first recorded schema)", SCHEMA_V2),
    Migration(3, "leases per tenant; schema_migrations replaces schema_version", SCHEMA_V3),
    Migration(4, "API keys with name, expiry, revocation and last use", SCHEMA_V4),
    Migration(5, "webhooks: retry schedules, delivery status, secret rotation", SCHEMA_V5),
    Migration(6, "console sign-out ends every session of the key: a session generation", SCHEMA_V6),
    Migration(7, "a member's authorization lines found without its visits", SCHEMA_V7),
)
LATEST = MIGRATIONS[-1].version

_RECORDS = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""


def _table_exists(connection: Connection, name: str) -> bool:
    sql = (
        "SELECT to_regclass(?) IS NOT NULL"
        if connection.dialect == "postgres"
        else "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?"
    )
    return bool(connection.execute(sql, (name,))[0][0])


def applied_versions(connection: Connection) -> list[int]:
    """The versions recorded as applied, oldest first ([] for a database never migrated)."""
    if not _table_exists(connection, "schema_migrations"):
        return []
    rows = connection.execute("SELECT version FROM schema_migrations ORDER BY version")
    return [int(row[0]) for row in rows]


def _unrecorded_version(connection: Connection) -> int | None:
    """The schema of a database from before `schema_migrations` (None: an empty database)."""
    if not _table_exists(connection, "schema_version"):
        return None
    rows = connection.execute("SELECT version FROM schema_version")
    return int(rows[0][0]) if rows else None


def migrate(connection: Connection, target: int = LATEST) -> list[Migration]:
    """Apply the migrations up to `target` the database lacks; returns those applied."""
    now = datetime.now(UTC).isoformat()
    with connection.transaction(write=True):
        if connection.dialect == "postgres":
            connection.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
        done = set(applied_versions(connection))
        if not done:
            old = _unrecorded_version(connection)
            if old is not None and old < 2:
                raise InfrastructureError(
                    f"this database has schema version {old}, which numbered positions across "
                    f"all tenants; this release numbers them per tenant and cannot upgrade it "
                    "in place: start a new database and import the events "
                    "(`benefit-ledger import`)"
                )
            if old is not None:
                done = set(range(2, old + 1))  # made before the migrations were recorded
        newest = max(done, default=0)
        if newest > LATEST:
            raise InfrastructureError(
                f"this database has schema version {newest}, newer than this release knows "
                f"({LATEST}): run the release that upgraded it, or a later one"
            )
        connection.execute(_RECORDS)
        connection.executemany(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?) "
            "ON CONFLICT (version) DO NOTHING",
            [(m.version, m.name, "before-migrations") for m in MIGRATIONS if m.version in done],
        )
        applied = [m for m in MIGRATIONS if m.version not in done and m.version <= target]
        for migration in applied:
            for statement in migration.statements:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, now),
            )
    return applied
