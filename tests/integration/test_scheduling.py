"""Scheduling check, warnings on visits beyond the available units, and overrides."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx

from services.ledger.demo import weekly_example
from tests.integration.conftest import Tenant, post_events


def scheduled(visit_id: str, day: str, units: str, **extra: Any) -> dict[str, Any]:
    data = {
        "visit_id": visit_id,
        "member_id": "member-1",
        "payer_id": "payer-1",
        "service_code": "T1019",
        "service_date": day,
        "units": units,
        **extra,
    }
    return {"id": str(uuid.uuid4()), "type": "visit.scheduled", "data": data}


def proposal(day: str, units: str) -> dict[str, str]:
    return {
        "member_id": "member-1",
        "payer_id": "payer-1",
        "service_code": "T1019",
        "service_date": day,
        "units": units,
    }


async def test_check_counts_regular_left_and_carried_accumulation(
    client: httpx.AsyncClient, tenant: Tenant
):
    await post_events(client, tenant, weekly_example(date(2026, 10, 4)))
    # week 4: 10 authorized, 7 used -> 3 regular left; carried in from week 3: 4
    answer = await client.post(
        "/v1/scheduling/check", json=proposal("2026-10-29", "9"), headers=tenant.auth("reader")
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["authorization_number"] == "AUTH-100"
    assert body["available"] == {"regular": "3", "accumulated": "4", "total": "7"}
    assert body["allocation"] == {"regular": "3", "accumulated": "4", "shortfall": "2"}
    [warning] = body["warnings"]
    assert (warning["code"], warning["shortfall"]) == ("insufficient_units", "2")

    fits = await client.post(
        "/v1/scheduling/check", json=proposal("2026-10-29", "5"), headers=tenant.auth("reader")
    )
    assert fits.json()["warnings"] == []


async def test_visit_beyond_available_is_recorded_with_warning(
    client: httpx.AsyncClient, tenant: Tenant
):
    await post_events(client, tenant, weekly_example(date(2026, 10, 4)))
    answer = await post_events(client, tenant, [scheduled("extra", "2026-10-29", "9")])
    assert answer.status_code == 200
    [result] = answer.json()["results"]
    assert result["status"] == "recorded"
    assert result["warnings"][0]["code"] == "insufficient_units"
    assert result["warnings"][0]["shortfall"] == "2"


async def test_override_needs_supervisor(client: httpx.AsyncClient, tenant: Tenant):
    await post_events(client, tenant, weekly_example(date(2026, 10, 4)))
    before = tenant.ledger_count()
    override = {"by": "nurse-lead", "reason": "hospital discharge"}
    event = scheduled("over", "2026-10-29", "20", override=override)
    refused = await post_events(client, tenant, [event])
    assert refused.status_code == 403
    assert tenant.ledger_count() == before

    accepted = await post_events(client, tenant, [event], who="supervisor")
    assert accepted.status_code == 200
    visit = (await client.get("/v1/visits/over", headers=tenant.auth())).json()
    assert visit["override"] == override
    confirm = {"id": str(uuid.uuid4()), "type": "visit.confirmed", "data": {"visit_id": "over"}}
    await post_events(client, tenant, [confirm])
    report = await client.get(
        "/v1/reports/exceeding-accumulation", params={"as_of": "2026-10-31"}, headers=tenant.auth()
    )
    [row] = report.json()["items"]
    assert row["override"] == override
    assert row["cause"] == "backdated_confirmation"


async def test_unauthorized_visit_is_reported_not_dropped(
    client: httpx.AsyncClient, tenant: Tenant
):
    await post_events(client, tenant, weekly_example(date(2026, 10, 4)))
    answer = await post_events(client, tenant, [scheduled("stray", "2027-02-01", "3")])
    codes = [w["code"] for w in answer.json()["results"][0]["warnings"]]
    assert "no_authorization" in codes
    visit = (await client.get("/v1/visits/stray", headers=tenant.auth())).json()
    assert visit["unauthorized"] is True
    assert visit["key"] is None
    listing = await client.get("/v1/members/member-1/accumulations", headers=tenant.auth())
    [stray] = listing.json()["unauthorized_visits"]
    assert (stray["visit_id"], stray["units"]) == ("stray", "3")


async def test_past_week_offers_no_more_than_the_later_weeks_leave(
    client: httpx.AsyncClient, tenant: Tenant
):
    """accumulation.md 2.8 "For Past Weeks": week 2 has 4 regular left + 2 carried, but week 3
    already drew 2 of week 2's 6 and leaves 4; recorded all the same, week 3 shows the overuse."""
    await post_events(client, tenant, weekly_example(date(2026, 10, 4)))
    answer = await client.post(
        "/v1/scheduling/check", json=proposal("2026-10-15", "5"), headers=tenant.auth("reader")
    )
    body = answer.json()
    assert body["available"] == {"regular": "4", "accumulated": "0", "total": "4"}
    assert body["allocation"] == {"regular": "4", "accumulated": "0", "shortfall": "1"}
    assert [(w["code"], w["shortfall"]) for w in body["warnings"]] == [("insufficient_units", "1")]

    recorded = await post_events(client, tenant, [scheduled("late", "2026-10-15", "5")])
    [result] = recorded.json()["results"]
    assert [(w["code"], w["shortfall"]) for w in result["warnings"]] == [
        ("insufficient_units", "1")
    ]
    confirm = {"id": str(uuid.uuid4()), "type": "visit.confirmed", "data": {"visit_id": "late"}}
    await post_events(client, tenant, [confirm])
    detail = await client.get(
        "/v1/members/member-1/accumulations/AUTH-100/T1019",
        params={"as_of": "2026-10-31"},
        headers=tenant.auth(),
    )
    periods = detail.json()["periods"]
    assert [p["balance"] for p in periods] == ["2", "1", "-1", "2"]
    assert [(p["from_regular"], p["from_accumulation"], p["unauthorized"]) for p in periods] == [
        ("8", "0", "0"),
        ("10", "1", "0"),
        ("10", "1", "1"),
        ("7", "0", "0"),
    ]
    week3 = (await client.get("/v1/visits/visit-3", headers=tenant.auth())).json()
    assert week3["allocation"] == {"regular": "10", "accumulated": "1", "unauthorized": "1"}
