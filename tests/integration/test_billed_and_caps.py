"""Billed visits (accumulation.md 2.11) and pacing caps (2.14) through the HTTP API, on SQLite and
PostgreSQL: the worked examples, known_at, explain, and bad input (422, nothing stored).

The guide's key of services.ledger.demo.weekly_example: 10 units a week from Sunday 2026-10-04,
visits of 8, 6, 12 and 7 units on the Tuesday of each week (visit-1..visit-4).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx

from services.ledger.demo import weekly_example
from tests.integration.conftest import Tenant, post_events

KEY_PATH = "/v1/members/member-1/accumulations/AUTH-100/T1019"


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": kind, "data": data}


def confirmed(visit_id: str, day: str, units: str) -> dict[str, Any]:
    return event(
        "visit.confirmed",
        visit_id=visit_id,
        member_id="member-1",
        payer_id="payer-1",
        service_code="T1019",
        service_date=day,
        units=units,
    )


def capped_grant(caps: Any, authorization_id: str = "line-c") -> dict[str, Any]:
    return event(
        "authorization.granted",
        authorization_id=authorization_id,
        authorization_number="AUTH-200",
        member_id="member-1",
        payer_id="payer-1",
        service_code="S5130",
        frequency="month",
        units="40",
        start_date="2026-10-01",
        end_date="2026-12-31",
        caps=caps,
    )


async def recorded(client: httpx.AsyncClient, tenant: Tenant, events: list[Any]) -> Any:
    answer = await post_events(client, tenant, events)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def visit(client: httpx.AsyncClient, tenant: Tenant, visit_id: str, **params: str) -> Any:
    answer = await client.get(f"/v1/visits/{visit_id}", params=params, headers=tenant.auth())
    assert answer.status_code == 200, answer.text
    return answer.json()


async def refused(
    client: httpx.AsyncClient, tenant: Tenant, events: list[Any], field: str
) -> list[dict[str, Any]]:
    before = tenant.ledger_count()
    answer = await post_events(client, tenant, events)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_event"
    details = [d for d in error["details"] if d["field"] == field]
    assert details, error["details"]
    assert all(d["index"] == len(events) - 1 and d["problem"] for d in details)
    assert tenant.ledger_count() == before  # nothing stored
    return details


async def test_the_issues_case_a_billed_week_3_visit_is_not_re_split(
    client: httpx.AsyncClient, tenant: Tenant
):
    setup = await recorded(client, tenant, weekly_example(date(2026, 10, 4)))
    billing = await recorded(
        client, tenant, [event("visit.billed", visit_id="visit-3", claim_reference="CLM-3")]
    )
    await recorded(client, tenant, [confirmed("late", "2026-10-14", "5")])

    billed = await visit(client, tenant, "visit-3")
    assert billed["billed"] is True
    assert billed["claim_reference"] == "CLM-3"
    assert billed["allocation"] == {
        "regular": "10",
        "accumulated": "2",
        "unauthorized": "0",
        "reason": None,
    }
    late = await visit(client, tenant, "late")
    assert (late["billed"], late["allocation"]["regular"], late["allocation"]["accumulated"]) == (
        False,
        "4",
        "1",
    )
    detail = await client.get(KEY_PATH, params={"as_of": "2026-10-31"}, headers=tenant.auth())
    body = detail.json()
    assert [p["balance"] for p in body["periods"]] == ["2", "1", "-1", "2"]
    week3 = body["periods"][2]
    assert [week3["from_regular"], week3["from_accumulation"], week3["unauthorized"]] == [
        "10",
        "2",
        "0",
    ]
    as_of_week3 = await client.get(KEY_PATH, params={"as_of": "2026-10-20"}, headers=tenant.auth())
    assert as_of_week3.json()["negative_accrual"]["overuse"] == "1"

    # known_at: before the billing the visit is unbilled; after it, billed with the same split
    before_billing = setup["results"][-1]["recorded_at"]
    earlier = await visit(client, tenant, "visit-3", known_at=before_billing)
    assert earlier["billed"] is False
    at_billing = await visit(
        client, tenant, "visit-3", known_at=billing["results"][0]["recorded_at"]
    )
    assert at_billing["billed"] is True
    assert at_billing["allocation"]["accumulated"] == "2"

    explained = await client.get(
        f"{KEY_PATH}/explain", params={"as_of": "2026-10-31"}, headers=tenant.auth()
    )
    [entry] = [e for e in explained.json()["events"] if e["type"] == "visit.billed"]
    assert entry["effect"]["description"] == (
        "bills visit visit-3 on claim CLM-3: its allocation is frozen at 10 regular, "
        "2 accumulated, 0 unauthorized"
    )


async def test_billing_bad_input_is_refused_with_precise_details(
    client: httpx.AsyncClient, tenant: Tenant
):
    await recorded(client, tenant, weekly_example(date(2026, 10, 4)))
    scheduled = event(
        "visit.scheduled",
        visit_id="planned",
        member_id="member-1",
        payer_id="payer-1",
        service_code="T1019",
        service_date="2026-10-30",
        units="2",
    )
    await recorded(client, tenant, [scheduled, event("visit.cancelled", visit_id="planned")])
    [unknown] = await refused(
        client, tenant, [event("visit.billed", visit_id="nobody")], "data.visit_id"
    )
    assert unknown["problem"] == "unknown visit"
    [cancelled] = await refused(
        client, tenant, [event("visit.billed", visit_id="planned")], "data.visit_id"
    )
    assert "only a confirmed visit can be billed" in cancelled["problem"]

    await recorded(client, tenant, [event("visit.billed", visit_id="visit-1")])
    [twice] = await refused(
        client, tenant, [event("visit.billed", visit_id="visit-1")], "data.visit_id"
    )
    assert "already billed" in twice["problem"]
    for change in (
        event("visit.rescheduled", visit_id="visit-1", units="3"),
        event("visit.cancelled", visit_id="visit-1"),
        event("visit.missed", visit_id="visit-1"),
        event("visit.confirmed", visit_id="visit-1", units="9"),
    ):
        [problem] = await refused(client, tenant, [change], "data.visit_id")
        assert "a billed visit cannot change" in problem["problem"]
    assert (await visit(client, tenant, "visit-1"))["units"] == "8"


async def test_the_same_billing_sent_again_is_a_duplicate(
    client: httpx.AsyncClient, tenant: Tenant
):
    await recorded(client, tenant, weekly_example(date(2026, 10, 4)))
    billing = event("visit.billed", visit_id="visit-2")
    first = await recorded(client, tenant, [billing])
    again = await recorded(client, tenant, [billing])
    assert again["results"][0]["status"] == "duplicate"
    assert again["results"][0]["position"] == first["results"][0]["position"]


async def test_units_beyond_a_weekly_cap_are_cap_exceeded_and_the_check_warns(
    client: httpx.AsyncClient, tenant: Tenant
):
    await recorded(
        client,
        tenant,
        [
            capped_grant([{"per": "week", "units": "10"}]),
            confirmed_code("mon", "2026-10-05", "6"),
            confirmed_code("wed", "2026-10-07", "6"),
        ],
    )
    wed = await visit(client, tenant, "wed")
    assert wed["allocation"] == {
        "regular": "4",
        "accumulated": "0",
        "unauthorized": "2",
        "reason": "cap_exceeded",
    }
    assert (await visit(client, tenant, "mon"))["allocation"]["reason"] is None

    proposal = {
        "member_id": "member-1",
        "payer_id": "payer-1",
        "service_code": "S5130",
        "service_date": "2026-10-08",
        "units": "3",
    }
    answer = await client.post("/v1/scheduling/check", json=proposal, headers=tenant.auth())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["allocation"] == {"regular": "0", "accumulated": "0", "shortfall": "3"}
    assert [(w["code"], w["shortfall"]) for w in body["warnings"]] == [("cap_exceeded", "3")]

    # recorded all the same, with the same warning
    result = await recorded(client, tenant, [confirmed_code("thu", "2026-10-08", "3")])
    assert [w["code"] for w in result["results"][0]["warnings"]] == ["cap_exceeded"]
    next_week = {**proposal, "service_date": "2026-10-12", "units": "10"}
    fits = await client.post("/v1/scheduling/check", json=next_week, headers=tenant.auth())
    assert fits.json()["warnings"] == []


def confirmed_code(visit_id: str, day: str, units: str) -> dict[str, Any]:
    visit_event = confirmed(visit_id, day, units)
    visit_event["data"]["service_code"] = "S5130"
    return visit_event


async def test_bad_caps_are_refused_with_precise_details(client: httpx.AsyncClient, tenant: Tenant):
    await refused(client, tenant, [capped_grant([{"per": "week"}])], "data.caps.0.units")
    await refused(
        client, tenant, [capped_grant([{"per": "week", "units": "0"}])], "data.caps.0.units"
    )
    await refused(
        client, tenant, [capped_grant([{"per": "week", "units": "-2"}])], "data.caps.0.units"
    )
    await refused(
        client, tenant, [capped_grant([{"per": "month", "units": "4"}])], "data.caps.0.per"
    )
    await refused(
        client,
        tenant,
        [capped_grant([{"per": "day", "units": "4", "days": ["saturday", "funday"]}])],
        "data.caps.0.days.1",
    )
    [twice] = await refused(
        client,
        tenant,
        [
            capped_grant(
                [
                    {"per": "day", "units": "4", "days": ["saturday", "sunday"]},
                    {"per": "day", "units": "6", "days": ["sunday", "saturday"]},
                ]
            )
        ],
        "data.caps",
    )
    assert "cap 1 repeats" in twice["problem"]
    await refused(
        client,
        tenant,
        [capped_grant([{"per": "day", "units": "4", "days": ["monday", "monday"]}])],
        "data.caps.0",
    )
