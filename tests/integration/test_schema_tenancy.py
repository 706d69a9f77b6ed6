"""Every table can be distributed by tenant: its primary key and unique indexes begin with it.

The exceptions are cluster-wide reference tables, named here with the reason (and in
docs/architecture.md): a new table that forgets the tenant fails this test.
"""

from __future__ import annotations

from services.ledger.db import Connection, Database

REFERENCE_TABLES = {
    "api_keys": "looked up by the key's hash before the tenant is known",
    "schema_migrations": "the migrations applied to the whole database",
}


def _keys_postgres(connection: Connection) -> dict[str, list[list[str]]]:
    rows = connection.execute(
        "SELECT c.relname, i.indexrelid::regclass::text, "
        "array_to_string(array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o) "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.n ORDER BY k.o), ',') "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace s ON s.oid = c.relnamespace "
        "WHERE s.nspname = 'public' AND (i.indisunique OR i.indisprimary)"
    )
    keys: dict[str, list[list[str]]] = {}
    for table, _, columns in rows:
        keys.setdefault(table, []).append(columns.split(","))
    return keys


def _keys_sqlite(connection: Connection) -> dict[str, list[list[str]]]:
    keys: dict[str, list[list[str]]] = {}
    tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    for (table,) in tables:
        for _, index, unique, origin, _ in connection.execute(f"PRAGMA index_list('{table}')"):
            if unique or origin == "pk":
                info = connection.execute(f"PRAGMA index_info('{index}')")
                keys.setdefault(table, []).append([row[2] for row in info])
        primary = [
            row[1]
            for row in sorted(
                connection.execute(f"PRAGMA table_info('{table}')"), key=lambda r: r[5]
            )
            if row[5]
        ]
        if primary and primary not in keys.get(table, []):
            keys.setdefault(table, []).append(primary)
    return keys


def test_every_key_begins_with_the_tenant(database_url: str):
    database = Database(database_url)
    database.migrate()
    connection = database.connect()
    try:
        if connection.dialect == "postgres":
            keys = _keys_postgres(connection)
        else:
            keys = _keys_sqlite(connection)
    finally:
        connection.close()
    assert "ledger_events" in keys and "derived_events" in keys
    wrong = {
        table: columns
        for table, indexes in keys.items()
        if table not in REFERENCE_TABLES
        for columns in indexes
        if columns[0] != "tenant"
    }
    assert wrong == {}, f"keys that do not begin with the tenant: {wrong}"
