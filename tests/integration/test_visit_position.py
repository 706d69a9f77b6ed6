"""The visit answer carries `position` like every other query answer (api.md, Queries): the last
ledger position it reflects, now or as known at a past time."""

from __future__ import annotations

import uuid
from datetime import date

import httpx

from services.ledger.demo import weekly_example
from tests.integration.conftest import Tenant, post_events

FIRST_SUNDAY = date(2026, 10, 4)


async def test_the_visit_answer_carries_the_position_it_reflects(
    client: httpx.AsyncClient, tenant: Tenant
):
    recorded = (await post_events(client, tenant, weekly_example(FIRST_SUNDAY))).json()
    assert recorded["last_position"] == 6
    first = await client.get("/v1/visits/visit-3", headers=tenant.auth("reader"))
    assert first.status_code == 200
    assert (first.json()["position"], first.json()["units"]) == (6, "12")
    accumulations = await client.get(
        "/v1/members/member-1/accumulations", headers=tenant.auth("reader")
    )
    assert accumulations.json()["position"] == first.json()["position"]

    moved = {
        "id": str(uuid.uuid4()),
        "type": "visit.rescheduled",
        "data": {"visit_id": "visit-3", "units": "9"},
    }
    later = (await post_events(client, tenant, [moved])).json()["results"][0]
    assert later["position"] == 7
    now = await client.get("/v1/visits/visit-3", headers=tenant.auth("reader"))
    assert (now.json()["position"], now.json()["units"]) == (7, "9")

    # as known before the reschedule: the visit as it was, and the position it was known at
    before = recorded["results"][-1]["recorded_at"]
    then = await client.get(
        "/v1/visits/visit-3", params={"known_at": before}, headers=tenant.auth("reader")
    )
    assert then.status_code == 200
    assert (then.json()["position"], then.json()["units"]) == (6, "12")
    at_reschedule = await client.get(
        "/v1/visits/visit-3",
        params={"known_at": later["recorded_at"]},
        headers=tenant.auth("reader"),
    )
    assert (at_reschedule.json()["position"], at_reschedule.json()["units"]) == (7, "9")


async def test_an_unknown_visit_answers_404_without_a_position(
    client: httpx.AsyncClient, tenant: Tenant
):
    await post_events(client, tenant, weekly_example(FIRST_SUNDAY))
    missing = await client.get("/v1/visits/nobody", headers=tenant.auth("reader"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert "position" not in missing.json()
