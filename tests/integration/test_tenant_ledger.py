"""Each tenant's own ledger: positions from 1, tags, conditional appends, the ledger listing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI

from services.ledger.demo import reduction, weekly_example
from tests.integration.conftest import Tenant, make_tenant, post_events

FIRST_SUNDAY = date(2026, 10, 4)


def visit(visit_id: str, member_id: str = "member-1", day: str = "2026-10-20") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "visit.scheduled",
        "data": {
            "visit_id": visit_id,
            "member_id": member_id,
            "payer_id": "payer-1",
            "service_code": "T1019",
            "service_date": day,
            "units": "2",
        },
    }


async def conditional(
    client: httpx.AsyncClient, tenant: Tenant, events: list[dict[str, Any]], after: int, tags: Any
) -> httpx.Response:
    body = {"events": events, "condition": {"after": after, "tags": tags}}
    return await client.post("/v1/events", json=body, headers=tenant.auth())


async def test_each_tenant_counts_its_own_positions_from_one(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
):
    first = await post_events(client, tenant, weekly_example(FIRST_SUNDAY))
    assert [r["position"] for r in first.json()["results"]] == [1, 2, 3, 4, 5, 6]
    other = make_tenant(database_url)
    answer = await post_events(client, other, weekly_example(FIRST_SUNDAY))
    assert [r["position"] for r in answer.json()["results"]] == [1, 2, 3, 4, 5, 6]
    assert answer.json()["last_position"] == 6
    more = await post_events(client, tenant, [reduction()])
    assert more.json()["results"][0]["position"] == 7
    detail = await client.get(
        "/v1/members/member-1/accumulations/AUTH-100/T1019", headers=other.auth()
    )
    assert detail.json()["position"] == 6  # the other tenant's writes never show


async def test_a_condition_books_without_a_race(client: httpx.AsyncClient, tenant: Tenant):
    await post_events(client, tenant, weekly_example(FIRST_SUNDAY))
    checked = await client.get(
        "/v1/members/member-1/accumulations/AUTH-100/T1019", headers=tenant.auth()
    )
    seen = checked.json()["position"]
    booked = await conditional(client, tenant, [visit("v-a")], seen, ["member:member-1"])
    assert booked.status_code == 200, booked.text
    assert booked.json()["results"][0]["position"] == seen + 1

    # a second client decided on the same position: the member changed since, nothing stored
    count = tenant.ledger_count()
    late = await conditional(client, tenant, [visit("v-b")], seen, ["member:member-1"])
    assert late.status_code == 409, late.text
    error = late.json()["error"]
    assert error["code"] == "condition_failed"
    assert error["details"][0]["position"] == seen + 1
    assert error["details"][0]["field"] == "condition.after"
    assert tenant.ledger_count() == count

    # another member's booking does not conflict; the retry of a booked batch is a duplicate
    other = await conditional(client, tenant, [visit("v-c", "member-2")], seen, ["member:member-2"])
    assert other.status_code == 200, other.text
    again = await conditional(client, tenant, [visit("v-c", "member-2")], seen, ["member:member-2"])
    assert again.status_code == 409  # a new event id: a new booking, and the member changed
    retry = await client.post(
        "/v1/events",
        json={"events": [], "condition": {"after": seen, "tags": []}},
        headers=tenant.auth(),
    )
    assert retry.status_code == 422


async def test_a_retried_conditional_batch_is_a_duplicate(
    client: httpx.AsyncClient, tenant: Tenant
):
    await post_events(client, tenant, weekly_example(FIRST_SUNDAY))
    events = [visit("v-a")]
    first = await conditional(client, tenant, events, 6, ["member:member-1"])
    assert first.status_code == 200
    retried = await conditional(client, tenant, events, 6, ["member:member-1"])
    assert retried.status_code == 200, retried.text
    assert retried.json()["results"][0]["status"] == "duplicate"


async def test_a_condition_sees_an_earlier_batch_of_the_same_group(
    client: httpx.AsyncClient, tenant: Tenant
):
    import asyncio

    await post_events(client, tenant, weekly_example(FIRST_SUNDAY))
    answers = await asyncio.gather(
        *(conditional(client, tenant, [visit(f"v-{n}")], 6, ["member:member-1"]) for n in range(6))
    )
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409, 409, 409]


async def test_bad_conditions_answer_422_and_store_nothing(
    client: httpx.AsyncClient, tenant: Tenant
):
    await post_events(client, tenant, weekly_example(FIRST_SUNDAY))
    count = tenant.ledger_count()
    for condition in ({"after": -1}, {"after": "x"}, {"tags": ["member:m"]}, {"after": 1, "x": 1}):
        answer = await client.post(
            "/v1/events",
            json={"events": [visit("v-bad")], "condition": condition},
            headers=tenant.auth(),
        )
        assert answer.status_code == 422, (condition, answer.text)
        assert answer.json()["error"]["details"][0]["field"].startswith("condition")
    assert tenant.ledger_count() == count


async def test_the_ledger_lists_events_with_their_tags(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
):
    await post_events(client, tenant, weekly_example(FIRST_SUNDAY))
    await post_events(client, tenant, [reduction()])
    page = await client.get("/v1/ledger/events", params={"limit": 2}, headers=tenant.auth())
    assert page.status_code == 200, page.text
    body = page.json()
    assert [item["position"] for item in body["items"]] == [1, 2]
    assert body["next_after"] == 2
    assert body["position"] == 7  # the tenant's head: more events after next_after
    settings, grant = body["items"]
    assert settings["type"] == "payer.settings_changed" and settings["tags"] == ["payer:payer-1"]
    assert grant["tags"] == [
        "authorization:AUTH-100",
        "authorization_id:line-1",
        "member:member-1",
        "payer:payer-1",
    ]
    assert grant["data"]["units"] == "10"
    rest = await client.get(
        "/v1/ledger/events",
        params={"after": 2, "type": "authorization.amended", "member_id": "member-1"},
        headers=tenant.auth(),
    )
    (amended,) = rest.json()["items"]
    assert amended["position"] == 7
    # an amendment names only its line; it concerns what the grant concerned
    assert set(grant["tags"]) <= set(amended["tags"])

    visits = await client.get(
        "/v1/ledger/events", params={"type": "visit.confirmed"}, headers=tenant.auth()
    )
    # the visits name no authorization: each is tagged with the one it draws from
    assert all("authorization:AUTH-100" in item["tags"] for item in visits.json()["items"])
    assert len(visits.json()["items"]) == 4

    other = make_tenant(database_url)
    empty = (await client.get("/v1/ledger/events", headers=other.auth())).json()
    assert (empty["items"], empty["position"]) == ([], 0)
    forbidden = await client.get("/v1/ledger/events", headers=tenant.auth("subscriber"))
    assert forbidden.status_code == 403
    bad = await client.get("/v1/ledger/events", params={"limit": 0}, headers=tenant.auth())
    assert bad.status_code == 422


@contextmanager
def lag_bound(app: FastAPI, seconds: float) -> Iterator[None]:
    """/readyz of this app with BENEFIT_LEDGER_READY_MAX_LAG_SECONDS set to `seconds`."""
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"ready_max_lag_seconds": seconds})
    try:
        yield
    finally:
        app.state.settings = settings


async def test_readiness_reports_a_tenant_whose_projections_lag(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
):
    await post_events(client, tenant, weekly_example(FIRST_SUNDAY))
    before = (await client.get("/readyz")).json()  # other tests' tenants may lag (a refused import)
    lagging_before = before.get("tenants_lagging", 0)
    connection = tenant.database.connect()
    try:
        with connection.transaction():  # as an import leaves it until its replay
            connection.execute(
                "UPDATE projection_tracking SET position = 4 WHERE tenant = ?", (tenant.name,)
            )
        with lag_bound(app, 86400):  # a day: the lag is within it
            within = await client.get("/readyz")
        with lag_bound(app, 0):  # no lag allowed
            lagging = await client.get("/readyz")
        metrics = (await client.get("/metrics")).text
        own = await client.get("/v1/admin/status", headers=tenant.auth("admin"))
        with connection.transaction():
            connection.execute(
                "UPDATE projection_tracking SET position = 6 WHERE tenant = ?", (tenant.name,)
            )
    finally:
        connection.close()
    assert within.status_code == 200
    assert within.json()["status"] == "ready"
    assert within.json()["tenants_lagging"] == lagging_before + 1
    assert within.json()["max_lag_seconds"] == 86400
    assert lagging.status_code == 503
    assert lagging.json()["max_lag_seconds"] == 0
    assert lagging.headers["Retry-After"].isdigit()
    body = lagging.json()
    assert (body["status"], body["reason"]) == ("lagging", "projections lagging")
    assert body["tenants_lagging"] == lagging_before + 1
    assert body["lag_oldest_age_seconds"] > 0
    assert "events" not in body and "lag" not in body  # no tenant's volume without a key
    assert f"benefit_ledger_tenants_lagging {lagging_before + 1}.0" in metrics
    assert own.status_code == 200
    assert {k: own.json()[k] for k in ("tenant", "events", "projected_position", "lag")} == {
        "tenant": tenant.name,
        "events": 6,
        "projected_position": 4,
        "lag": 2,
    }
    assert own.json()["lag_oldest_age_seconds"] > 0
    caught_up = await client.get("/v1/admin/status", headers=tenant.auth("admin"))
    assert (caught_up.json()["lag"], caught_up.json()["lag_oldest_age_seconds"]) == (0, 0.0)
