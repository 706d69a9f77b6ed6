"""Upgrading a database made by the previous release (schema 2, before migrations were recorded).

The fixture (tests/fixtures/schema_v2.json, made by tests/fixtures/make_schema_v2.py from that
release) is loaded into the schema-2 tables exactly as that release created them, then the
current release migrates it: nothing is lost, nothing is emitted twice (the tick's marks came
over), keys still work, new events continue the tenants' positions and feeds, and the webhooks'
plaintext secrets are encrypted at the first start and still sign what their receivers verify.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.api.app import create_app
from services.api.settings import Settings
from services.api.webhooks.signing import signed_headers, verify
from services.ledger.db import Connection, Database
from services.ledger.errors import InfrastructureError
from services.ledger.migrations import LATEST, MIGRATIONS, applied_versions, migrate
from services.ledger.schema import SCHEMA_V2
from services.projections.runner import recalculate
from services.projections.tick import tick
from tests.conftest import fresh_postgres_database

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "schema_v2.json").read_text())
TABLES: dict[str, Any] = FIXTURE["tables"]


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    server: str = request.getfixturevalue("postgres_server_url")
    with fresh_postgres_database(server, "benefit_ledger_migrate") as url:
        yield url


def _made_by_the_previous_release(url: str) -> Database:
    database = Database(url)
    connection = database.connect()
    try:
        with connection.transaction():
            for statement in SCHEMA_V2:
                connection.execute(statement)
            for table, content in TABLES.items():
                connection.insert_rows(table, content["columns"], content["rows"])
    finally:
        connection.close()
    return database


def _count(connection: Connection, table: str) -> int:
    return int(connection.execute(f"SELECT COUNT(*) FROM {table}")[0][0])


def _tables(connection: Connection) -> set[str]:
    sql = (
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        if connection.dialect == "postgres"
        else "SELECT name FROM sqlite_master WHERE type = 'table'"
    )
    return {str(row[0]) for row in connection.execute(sql)}


async def test_a_database_of_the_previous_release_upgrades_without_loss_or_repeats(
    empty_url: str,
) -> None:
    database = _made_by_the_previous_release(empty_url)
    database.migrate()
    database.migrate()  # a second start finds nothing to do
    connection = database.connect()
    try:
        assert applied_versions(connection) == [m.version for m in MIGRATIONS]
        tables = _tables(connection)
        assert {"tenant_leases", "schema_migrations"} <= tables
        assert not {"relay_leases", "schema_version"} & tables
        for table in ("ledger_events", "ledger_tags", "derived_events", "alert_marks", "webhooks"):
            assert _count(connection, table) == len(TABLES[table]["rows"]), table
        # the rollovers of 2026-10-18 were emitted by the old release: not again
        assert tick(database, date(2026, 10, 18)).emitted_total == 0
        assert _count(connection, "derived_events") == len(TABLES["derived_events"]["rows"])
        assert recalculate(connection, "agency-a")[1] == 0  # (checked, corrected)
    finally:
        connection.close()

    app = create_app(Settings(database_url=empty_url, delivery_workers=False))
    _old_secrets_are_encrypted_and_still_verify(database, app.state.webhook_secrets)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as client:
        auth = {"Authorization": f"Bearer {FIXTURE['keys']['agency-a']}"}
        balance = await client.get(
            "/v1/members/member-1/accumulations",
            params={"as_of": "2026-10-17"},
            headers=auth,
        )
        assert balance.status_code == 200, balance.text
        answer = await client.post(
            "/v1/events",
            json={
                "events": [
                    {
                        "id": "7d1c1a8e-5b0e-4a53-9d3c-3f1d2e000001",
                        "type": "visit.confirmed",
                        "data": {
                            "visit_id": "after-upgrade",
                            "member_id": "member-2",
                            "payer_id": "payer-1",
                            "service_code": "97110",
                            "service_date": "2026-10-13",
                            "units": "1",
                        },
                    }
                ]
            },
            headers=auth,
        )
        assert answer.status_code == 200, answer.text
        old_positions = [r for r in TABLES["ledger_events"]["rows"] if r[0] == "agency-a"]
        assert answer.json()["results"][0]["position"] == len(old_positions) + 1
    await app.state.context.reader.close()


def _old_secrets_are_encrypted_and_still_verify(database: Database, box: Any) -> None:
    """The first start encrypted the plaintext secrets; what the worker signs with them verifies
    with the secret each receiver was given by the old release. The old endpoints got the
    default retry schedule."""
    old = {row[1]: row[4] for row in TABLES["webhooks"]["rows"]}
    connection = database.connect()
    try:
        rows = connection.execute(
            "SELECT webhook_id, secret, previous_secret, retry_initial_seconds, "
            "retry_max_seconds, retry_max_attempts, consecutive_failures FROM webhooks"
        )
    finally:
        connection.close()
    assert {row[0] for row in rows} == set(old)
    for webhook_id, stored, previous, *retry_and_failures in rows:
        assert stored.startswith("fernet:") and old[webhook_id] not in stored
        assert previous is None and retry_and_failures == [5, 300, 20, 0]
        body = b'{"sequence":6}'
        headers = signed_headers([box.open(stored)], "evt-1", 1_700_000_000, body)
        verify(old[webhook_id], headers, body, now=1_700_000_000)


def test_the_webhook_status_is_backfilled_from_the_recorded_attempts(empty_url: str) -> None:
    connection = Database(empty_url).connect()
    try:
        migrate(connection, target=4)
        webhooks = TABLES["webhooks"]
        connection.insert_rows("webhooks", webhooks["columns"], webhooks["rows"][:1])
        tenant, webhook_id = webhooks["rows"][0][:2]
        attempts = [  # (delivery_number, sequence, attempt, attempted_at, outcome)
            (1, 6, 1, "2026-11-29T11:00:00.000000Z", "retrying"),
            (2, 6, 2, "2026-11-29T11:00:05.000000Z", "succeeded"),
            (3, 7, 1, "2026-11-29T11:01:00.000000Z", "retrying"),
            (4, 7, 2, "2026-11-29T11:01:05.000000Z", "retrying"),
        ]
        connection.executemany(
            "INSERT INTO webhook_deliveries (tenant, webhook_id, delivery_number, sequence, "
            "event_id, attempt, manual, attempted_at, status_code, error, outcome, "
            "next_attempt_at) VALUES (?, ?, ?, ?, 'evt', ?, 0, ?, NULL, NULL, ?, NULL)",
            [(tenant, webhook_id, *attempt) for attempt in attempts],
        )
        assert [m.version for m in migrate(connection, target=5)] == [5]
        [row] = connection.execute(
            "SELECT consecutive_failures, last_success_at, last_failure_at FROM webhooks "
            "WHERE tenant = ? AND webhook_id = ?",
            (tenant, webhook_id),
        )
        assert row == (2, "2026-11-29T11:00:05.000000Z", "2026-11-29T11:01:05.000000Z")
    finally:
        connection.close()


def test_a_new_database_gets_every_migration_once(empty_url: str) -> None:
    connection = Database(empty_url).connect()
    try:
        assert [m.version for m in migrate(connection)] == [m.version for m in MIGRATIONS]
        assert migrate(connection) == []
        assert applied_versions(connection)[-1] == LATEST
    finally:
        connection.close()


def test_schema_1_and_a_newer_schema_are_refused(empty_url: str) -> None:
    connection = Database(empty_url).connect()
    try:
        connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        connection.execute("INSERT INTO schema_version (version) VALUES (1)")
        with pytest.raises(InfrastructureError, match="import the events"):
            migrate(connection)
        connection.execute("UPDATE schema_version SET version = 2")
        for statement in SCHEMA_V2:
            connection.execute(statement)
        migrate(connection)
        connection.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'later', 'x')",
            (LATEST + 1,),
        )
        with pytest.raises(InfrastructureError, match="newer than this release"):
            migrate(connection)
    finally:
        connection.close()


def test_keys_of_an_earlier_schema_start_at_console_generation_0(empty_url: str) -> None:
    database = _made_by_the_previous_release(empty_url)
    connection = database.connect()
    try:
        migrate(connection, target=5)
        keys = connection.execute("SELECT key_id FROM api_keys ORDER BY key_id")
        assert keys, "the fixture has keys"
        assert [m.version for m in migrate(connection)] == [6, 7]
        rows = connection.execute("SELECT key_id, console_generation FROM api_keys ORDER BY key_id")
        assert rows == [(key_id, 0) for (key_id,) in keys]  # their console sessions: signed in
    finally:
        connection.close()
