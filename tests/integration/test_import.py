"""Bulk import: the same rules and rows as the API, chunk by chunk, resumable by event id."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import httpx
import pytest

from services.api.importer import MAX_BATCH_EVENTS, import_events
from services.ledger.db import Database
from services.ledger.demo import reduction, weekly_example
from services.ledger.errors import LedgerError
from tests.conftest import new_tenant
from tests.integration.conftest import Tenant, post_events

FIRST_SUNDAY = date(2026, 10, 4)


def lines(events: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(event) + "\n" for event in events]


def many_visits(count: int, member_id: str = "member-1") -> list[dict[str, Any]]:
    return [
        {
            "id": str(uuid.uuid4()),
            "type": "visit.scheduled",
            "data": {
                "visit_id": f"v-{n}",
                "member_id": member_id,
                "payer_id": "payer-1",
                "service_code": "T1019",
                "service_date": "2026-10-06",
                "units": "1",
            },
        }
        for n in range(count)
    ]


def rows(database: Database, tenant: str) -> dict[str, Any]:
    connection = database.connect()
    try:
        return {
            "events": connection.execute(
                "SELECT position, event_id, type, data, tags FROM ledger_events "
                "WHERE tenant = ? ORDER BY position",
                (tenant,),
            ),
            "keys": connection.execute(
                "SELECT member_id, authorization_number, service_code, body "
                "FROM accumulation_views WHERE tenant = ? ORDER BY 1, 2, 3",
                (tenant,),
            ),
            "visits": connection.execute(
                "SELECT visit_id, body FROM visit_views WHERE tenant = ? ORDER BY 1", (tenant,)
            ),
            "tracking": connection.execute(
                "SELECT position FROM projection_tracking WHERE tenant = ?", (tenant,)
            ),
        }
    finally:
        connection.close()


async def test_an_import_stores_what_the_api_stores(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
):
    events = [*weekly_example(FIRST_SUNDAY), reduction()]
    await post_events(client, tenant, events)
    database = Database(database_url)
    imported = new_tenant()
    result = import_events(database, imported, lines(events))
    assert (result.recorded, result.duplicates, result.members) == (7, 0, {"member-1"})
    through_api, through_import = rows(database, tenant.name), rows(database, imported)
    assert [r[1:] for r in through_import["events"]] == [r[1:] for r in through_api["events"]]
    assert through_import["keys"] == through_api["keys"]
    assert through_import["visits"] == through_api["visits"]
    assert through_import["tracking"] == [(7,)]


def test_an_import_runs_again_as_duplicates(database_url: str):
    database = Database(database_url)
    tenant = new_tenant()
    events = lines([*weekly_example(FIRST_SUNDAY), *many_visits(MAX_BATCH_EVENTS + 5)])
    first = import_events(database, tenant, events)
    assert first.recorded == len(events)
    before = rows(database, tenant)
    again = import_events(database, tenant, events)
    assert (again.recorded, again.duplicates) == (0, len(events))
    assert rows(database, tenant) == before


def test_a_refused_line_names_its_line_and_the_rerun_resumes(database_url: str):
    database = Database(database_url)
    tenant = new_tenant()
    good = weekly_example(FIRST_SUNDAY) + many_visits(MAX_BATCH_EVENTS)
    bad = dict(many_visits(1, "member-1")[0], id=str(uuid.uuid4()))
    bad["data"] = {**bad["data"], "visit_id": "v-late", "units": "-1"}
    text = [*lines(good), "\n", *lines([bad])]
    with pytest.raises(LedgerError) as refused:
        import_events(database, tenant, text)
    problem = refused.value.details[0]
    assert problem.field.startswith(f"line {len(good) + 2}: data.units")
    assert len(rows(database, tenant)["events"]) == MAX_BATCH_EVENTS  # the first chunk stayed
    fixed = [*text[:-1], *lines([{**bad, "data": {**bad["data"], "units": "1"}}])]
    resumed = import_events(database, tenant, fixed)
    assert (resumed.recorded, resumed.duplicates) == (len(good) + 1 - MAX_BATCH_EVENTS, 1000)
    assert rows(database, tenant)["tracking"] == [(len(good) + 1,)]


def test_malformed_json_names_its_line(database_url: str):
    database = Database(database_url)
    with pytest.raises(LedgerError) as refused:
        import_events(database, new_tenant(), [*lines(weekly_example(FIRST_SUNDAY)), "{oops\n"])
    assert "line 7" in refused.value.message
