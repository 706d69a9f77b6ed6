"""Forecast (2.15), status (2.16), the utilization and authorized-vs-scheduled reports and the
members list, through the HTTP API on both stores.

The spec's forecast example: 10 units a week for eight weeks from Sunday 2026-10-04, used 8, 6
and 12 on the Tuesdays of the first three weeks, as of Wednesday 2026-10-28 (week 4): burn rate
26/3 -> "8.67", projected balance 4 + 50 - 130/3 = 32/3 -> "10.67".
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Tenant, post_events

WEEK1 = date(2026, 10, 4)
FORECAST = "/v1/members/{member}/accumulations/AUTH-{member}/T1019/forecast"


def event(type_: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": type_, "data": data}


def tuesday(week: int) -> str:
    return (WEEK1 + timedelta(days=7 * (week - 1) + 2)).isoformat()


def grant(member: str, weeks: int = 8, start: date = WEEK1, line: str = "") -> dict[str, Any]:
    return event(
        "authorization.granted",
        authorization_id=f"{member}-line{line}",
        authorization_number=f"AUTH-{member}",
        member_id=member,
        payer_id="payer-1",
        service_code="T1019",
        frequency="week",
        units="10",
        start_date=start.isoformat(),
        end_date=(start + timedelta(days=7 * weeks - 1)).isoformat(),
    )


def visit(member: str, week: int, units: str, status: str = "visit.confirmed") -> dict[str, Any]:
    return event(
        status,
        visit_id=f"{member}-w{week}-{uuid.uuid4().hex[:6]}",
        member_id=member,
        payer_id="payer-1",
        service_code="T1019",
        service_date=tuesday(week),
        units=units,
    )


SETTINGS = event("payer.settings_changed", payer_id="payer-1", allow_accumulation=True)


async def record(client: httpx.AsyncClient, tenant: Tenant, events: list[dict[str, Any]]) -> None:
    answer = await post_events(client, tenant, events)
    assert answer.status_code == 200, answer.text


async def get(
    client: httpx.AsyncClient, tenant: Tenant, path: str, **params: Any
) -> dict[str, Any]:
    answer = await client.get(path, params=params, headers=tenant.auth("reader"))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def spec_example(member: str = "m-1") -> list[dict[str, Any]]:
    return [grant(member), *(visit(member, w, u) for w, u in ((1, "8"), (2, "6"), (3, "12")))]


async def test_the_spec_example_forecast(client: httpx.AsyncClient, tenant: Tenant):
    await record(client, tenant, [SETTINGS, *spec_example()])
    body = await get(client, tenant, FORECAST.format(member="m-1"), as_of="2026-10-28")
    assert body["burn_rate"] == "8.67"
    assert body["projected_balance"] == "10.67"
    assert body["projected_unused"] == "10.67"
    assert body["runs_out_on"] is None
    assert (body["window"], body["status"], body["position"]) == (4, "active", 5)
    assert [p["start"] for p in body["periods"]] == [
        "2026-10-25",
        "2026-11-01",
        "2026-11-08",
        "2026-11-15",
        "2026-11-22",
    ]
    assert body["periods"][0] == {
        "start": "2026-10-25",
        "end": "2026-10-31",
        "authorized": "10",
        "used": "0",
        "projected_used": "8.67",
        "projected_balance": "5.33",  # 4 + 10 - 26/3 = 16/3
    }
    assert body["periods"][-1]["projected_balance"] == "10.67"
    narrow = await get(
        client, tenant, FORECAST.format(member="m-1"), as_of="2026-10-28", window="1"
    )
    assert narrow["burn_rate"] == "12.00"
    assert narrow["runs_out_on"] == "2026-11-08"  # 4 - 2 - 2 - 2 = -2 in week 6
    assert narrow["projected_balance"] == "-6.00"
    assert narrow["projected_unused"] == "0.00"


@pytest.mark.parametrize("window", ["0", "53", "four", "-1"])
async def test_a_window_outside_its_bound_is_refused(
    client: httpx.AsyncClient, tenant: Tenant, window: str
):
    await record(client, tenant, [SETTINGS, *spec_example()])
    answer = await client.get(
        FORECAST.format(member="m-1"), params={"window": window}, headers=tenant.auth("reader")
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert [d["field"] for d in error["details"]] == ["window"]


async def test_forecast_and_status_as_known_at_a_past_moment(
    client: httpx.AsyncClient, tenant: Tenant
):
    await record(client, tenant, [SETTINGS, *spec_example()])
    before = datetime.now(UTC).isoformat()
    await record(client, tenant, [visit("m-1", 4, "20")])
    path = FORECAST.format(member="m-1")
    now = await get(client, tenant, path, as_of="2026-10-28")
    assert now["periods"][0]["projected_used"] == "20.00"
    assert now["projected_balance"] == "-0.67"  # 4 + 50 - 20 - 4 x 26/3
    assert now["runs_out_on"] == "2026-10-25"  # 4 + 10 - 20 = -6 in week 4
    assert now["status"] == "active"  # 46 of 80 used
    then = await get(client, tenant, path, as_of="2026-10-28", known_at=before)
    assert (then["projected_balance"], then["position"]) == ("10.67", 5)
    await record(client, tenant, [event("authorization.voided", authorization_id="m-1-line")])
    assert (await get(client, tenant, path, as_of="2026-10-28"))["status"] == "voided"
    then = await get(client, tenant, path, as_of="2026-10-28", known_at=before)
    assert then["status"] == "active"


async def test_accumulation_answers_carry_status(client: httpx.AsyncClient, tenant: Tenant):
    renewal = event(
        "payer.settings_changed",
        payer_id="payer-1",
        renewal_days_before_end=7,
        renewal_used_fraction="0.5",
    )
    later = grant("m-1", weeks=4, start=WEEK1 + timedelta(days=8 * 7), line="-2")
    await record(client, tenant, [SETTINGS, renewal, *spec_example(), later])
    listing = await get(client, tenant, "/v1/members/m-1/accumulations", as_of="2026-10-28")
    assert [item["status"] for item in listing["items"]] == ["active"]
    detail_path = "/v1/members/m-1/accumulations/AUTH-m-1/T1019"
    detail = await get(client, tenant, detail_path, as_of="2026-11-23")
    assert detail["status"] == "expiring"  # 5 days left on the first line; the second pending
    assert [(line["authorization_id"], line["status"]) for line in detail["lines"]] == [
        ("m-1-line", "expiring"),
        ("m-1-line-2", "pending"),
    ]
    assert detail["lines"][0] == {
        "authorization_id": "m-1-line",
        "start": "2026-10-04",
        "end": "2026-11-28",
        "units": "10",
        "status": "expiring",
    }
    explained = await get(client, tenant, detail_path + "/explain", as_of="2027-01-01")
    assert explained["status"] == "expired"
    used_half = await get(client, tenant, detail_path, as_of="2026-10-06")
    assert used_half["status"] == "active"  # 8 of 80


async def test_utilization_lists_keys_that_leave_units_or_run_out(
    client: httpx.AsyncClient, tenant: Tenant
):
    events = [SETTINGS, *spec_example("m-1")]
    events += [grant("m-2"), *(visit("m-2", w, "12") for w in (1, 2, 3))]  # B_3 = -6
    events += [grant("m-3"), *(visit("m-3", w, "10") for w in (1, 2, 3))]  # exactly on track
    events += [grant("m-4", weeks=2, start=date(2026, 9, 6))]  # ended: not in force
    await record(client, tenant, events)
    body = await get(client, tenant, "/v1/reports/utilization", as_of="2026-10-28")
    assert body["position"] == len(events)
    assert [
        (i["member_id"], i["status"], i["burn_rate"], i["projected_unused"], i["runs_out_on"])
        for i in body["items"]
    ] == [
        ("m-1", "active", "8.67", "10.67", None),
        ("m-2", "active", "12.00", "0.00", "2026-10-25"),
    ]
    assert body["items"][0]["span"] == {"start": "2026-10-04", "end": "2026-11-28"}


async def test_authorized_vs_scheduled_per_key_and_period(
    client: httpx.AsyncClient, tenant: Tenant
):
    events = [SETTINGS, grant("m-1", weeks=4), visit("m-1", 1, "8"), visit("m-1", 2, "6")]
    events += [visit("m-1", 2, "3", "visit.scheduled"), visit("m-1", 3, "12", "visit.scheduled")]
    missed = visit("m-1", 3, "2", "visit.scheduled")
    cancelled = visit("m-1", 3, "5", "visit.scheduled")
    events += [missed, cancelled]
    events += [event("visit.missed", visit_id=missed["data"]["visit_id"])]
    events += [event("visit.cancelled", visit_id=cancelled["data"]["visit_id"])]
    events += [grant("m-2", weeks=1, start=date(2026, 10, 25))]  # no accumulation needed
    await record(client, tenant, events)
    path = "/v1/reports/authorized-vs-scheduled"
    body = await get(client, tenant, path, **{"from": "2026-10-12", "to": "2026-10-25"})
    assert (body["from"], body["to"], body["position"]) == ("2026-10-12", "2026-10-25", 11)
    rows = [
        (
            i["member_id"],
            i["period"]["start"],
            i["authorized"],
            i["scheduled"],
            i["confirmed"],
            i["missed"],
            i["variance"],
        )
        for i in body["items"]
    ]
    assert rows == [
        ("m-1", "2026-10-11", "10", "3", "6", "0", "1"),
        ("m-1", "2026-10-18", "10", "12", "0", "2", "-2"),
        ("m-1", "2026-10-25", "10", "0", "0", "0", "10"),
        ("m-2", "2026-10-25", "10", "0", "0", "0", "10"),
    ]


@pytest.mark.parametrize(
    ("params", "field", "problem"),
    [
        ({"from": "2026-10-25", "to": "2026-10-12"}, "to", "before from"),
        ({"from": "2026-01-01", "to": "2027-01-02"}, "to", "at most 366"),
        ({"to": "2026-10-12"}, "from", "required"),
        ({"from": "2026-10-32", "to": "2026-11-01"}, "from", ""),
    ],
)
async def test_the_range_is_bounded(
    client: httpx.AsyncClient, tenant: Tenant, params: dict[str, str], field: str, problem: str
):
    answer = await client.get(
        "/v1/reports/authorized-vs-scheduled", params=params, headers=tenant.auth("reader")
    )
    assert answer.status_code == 422, answer.text
    details = answer.json()["error"]["details"]
    assert [d["field"] for d in details] == [field]
    assert problem in details[0]["problem"]
    fine = await client.get(
        "/v1/reports/authorized-vs-scheduled",
        params={"from": "2026-01-01", "to": "2027-01-01"},  # 366 days, both counted
        headers=tenant.auth("reader"),
    )
    assert fine.status_code == 200, fine.text


async def test_members_are_listed_by_id_in_pages(client: httpx.AsyncClient, tenant: Tenant):
    await record(client, tenant, [SETTINGS, grant("m-b"), grant("m-a"), grant("x_c")])
    await record(client, tenant, [visit("m-a", 1, "2")])
    first = await get(client, tenant, "/v1/members", limit="2")
    assert first == {
        "position": 5,
        "items": [
            {"member_id": "m-a", "first_position": 3, "last_position": 5},
            {"member_id": "m-b", "first_position": 2, "last_position": 2},
        ],
        "next_after": "m-b",
    }
    second = await get(client, tenant, "/v1/members", limit="2", after="m-b")
    assert [i["member_id"] for i in second["items"]] == ["x_c"]
    assert second["next_after"] is None
    found = await get(client, tenant, "/v1/members", search="M-")
    assert [i["member_id"] for i in found["items"]] == ["m-a", "m-b"]
    literal = await get(client, tenant, "/v1/members", search="_")  # not a wildcard
    assert [i["member_id"] for i in literal["items"]] == ["x_c"]
    for limit in ("0", "1001", "many"):
        answer = await client.get(
            "/v1/members", params={"limit": limit}, headers=tenant.auth("reader")
        )
        assert answer.status_code == 422
        assert [d["field"] for d in answer.json()["error"]["details"]] == ["limit"]
