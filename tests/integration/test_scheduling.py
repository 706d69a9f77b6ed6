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
    assert week3["allocation"] == {
        "regular": "10",
        "accumulated": "1",
        "unauthorized": "1",
        "reason": None,
    }


def clinic_visit(visit_id: str, code: str = "97110") -> dict[str, Any]:
    data = {
        "visit_id": visit_id,
        "member_id": "clinic-member",
        "payer_id": "payer-9",
        "service_code": code,
        "service_date": "2026-10-06",
        "units": "1",
    }
    return {"id": str(uuid.uuid4()), "type": "visit.confirmed", "data": data}


def warning_codes(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [w["code"] for w in answer.json()["results"][0]["warnings"]]


async def test_a_clinic_tracking_visit_limits_alone_sees_no_authorization_warnings(
    client: httpx.AsyncClient, tenant: Tenant
):
    """Section 3 (decision): no_authorization only where a rule applies."""
    limit = {
        "benefit_id": "PT-2026",
        "member_id": "clinic-member",
        "payer_id": "payer-9",
        "benefit_code": "PT",
        "service_codes": ["97110"],
        "limit": "20",
        "unit": "visits",
        "period": {"type": "calendar_year"},
    }
    await post_events(
        client, tenant, [{"id": str(uuid.uuid4()), "type": "benefit.limit_defined", "data": limit}]
    )
    assert warning_codes(await post_events(client, tenant, [clinic_visit("pt-1")])) == []
    check = await client.post(
        "/v1/scheduling/check",
        json={
            "member_id": "clinic-member",
            "payer_id": "payer-9",
            "service_code": "97110",
            "service_date": "2026-10-07",
            "units": "1",
        },
        headers=tenant.auth("reader"),
    )
    body = check.json()
    assert (body["authorization_number"], body["warnings"]) == (None, [])
    assert body["allocation"]["shortfall"] == "0"
    visit = (await client.get("/v1/visits/pt-1", headers=tenant.auth())).json()
    assert (visit["unauthorized"], visit["key"]) == (True, None)  # still matches no key


async def test_the_payers_authorization_required_setting_brings_the_warnings_back(
    client: httpx.AsyncClient, tenant: Tenant
):
    settings = {"payer_id": "payer-9", "authorization_required": ["97110"]}
    event = {"id": str(uuid.uuid4()), "type": "payer.settings_changed", "data": settings}
    assert (await post_events(client, tenant, [event])).status_code == 200
    assert warning_codes(await post_events(client, tenant, [clinic_visit("pt-1")])) == [
        "no_authorization",
        "insufficient_units",
    ]
    assert warning_codes(await post_events(client, tenant, [clinic_visit("ot-1", "97530")])) == []
    every = {"payer_id": "payer-9", "authorization_required": "all"}
    event = {"id": str(uuid.uuid4()), "type": "payer.settings_changed", "data": every}
    assert (await post_events(client, tenant, [event])).status_code == 200
    assert warning_codes(await post_events(client, tenant, [clinic_visit("ot-2", "97530")])) == [
        "no_authorization",
        "insufficient_units",
    ]


async def test_a_bad_authorization_required_setting_is_refused(
    client: httpx.AsyncClient, tenant: Tenant
):
    for bad in ("some", ["ok", ""], 7):
        settings = {"payer_id": "payer-9", "authorization_required": bad}
        event = {"id": str(uuid.uuid4()), "type": "payer.settings_changed", "data": settings}
        answer = await post_events(client, tenant, [event])
        assert answer.status_code == 422, answer.text
        fields = {d["field"] for d in answer.json()["error"]["details"]}
        assert all(field.startswith("data.authorization_required") for field in fields), fields
    assert tenant.ledger_count() == 0
