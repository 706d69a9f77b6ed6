"""The exceeding-accumulation report's reasons and filter (accumulation.md 2.10), over HTTP.

Four members of one tenant, each with the guide's weekly key (10 a week from Sunday 2026-10-04,
visits on the Tuesdays), as of Saturday 2026-10-31 (week 4):

| member | visits | B_1..B_4 | listed as |
| --- | --- | --- | --- |
| m-plain | 8, 6, 12, 7 | 2, 6, 4, 7 | (not listed) |
| m-recovered | 8, 6 + 6, 12, 7 | 2, 0, -2, 1 | past_overuse, overuse 2 from 2026-10-18 (*) |
| m-reduced | 8, 6, 12, 7; line cut to 5 | -3, -4, -11, -13 | negative_accrual, overuse 13 |
| m-zero | 8, 6, 12, 7 + 7 | 2, 6, 4, 0 | zero_balance |

(*) The extra week-2 visit is recorded with the real clock, after the week ended: its cause is
`backdated_confirmation` (rules 2.7).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tests.integration.conftest import Tenant, post_events

WEEK1 = date(2026, 10, 4)
REPORT = "/v1/reports/exceeding-accumulation"


def event(type_: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": type_, "data": data}


def tuesday(week: int) -> str:
    return (WEEK1 + timedelta(days=7 * (week - 1) + 2)).isoformat()


def weekly_key(member: str, extra: dict[int, str]) -> list[dict[str, Any]]:
    """A line of 10 a week for four weeks, visits of 8, 6, 12 and 7, and `extra` per week."""
    events = [
        event(
            "authorization.granted",
            authorization_id=f"{member}-line",
            authorization_number=f"{member}-auth",
            member_id=member,
            payer_id="payer-1",
            service_code="T1019",
            frequency="week",
            units="10",
            start_date=WEEK1.isoformat(),
            end_date=(WEEK1 + timedelta(days=27)).isoformat(),
        )
    ]
    usage = {week: [units] for week, units in enumerate(("8", "6", "12", "7"), start=1)}
    for week, units in extra.items():
        usage[week].append(units)
    for week, visits in usage.items():
        for number, units in enumerate(visits):
            events.append(
                event(
                    "visit.confirmed",
                    visit_id=f"{member}-w{week}-{number}",
                    member_id=member,
                    payer_id="payer-1",
                    service_code="T1019",
                    service_date=tuesday(week),
                    units=units,
                )
            )
    return events


async def record_members(client: httpx.AsyncClient, tenant: Tenant) -> str:
    """Records the four members; returns a moment before m-recovered's extra visit."""
    settings = event("payer.settings_changed", payer_id="payer-1", allow_accumulation=True)
    events = [settings, *weekly_key("m-plain", {}), *weekly_key("m-zero", {4: "7"})]
    events += weekly_key("m-recovered", {})
    events += weekly_key("m-reduced", {})
    events.append(event("authorization.amended", authorization_id="m-reduced-line", units="5"))
    answer = await post_events(client, tenant, events)
    assert answer.status_code == 200, answer.text
    before = datetime.now(UTC).isoformat()
    extra = event(
        "visit.confirmed",
        visit_id="m-recovered-extra",
        member_id="m-recovered",
        payer_id="payer-1",
        service_code="T1019",
        service_date=tuesday(2),
        units="6",
    )
    assert (await post_events(client, tenant, [extra])).status_code == 200
    return before


async def report(client: httpx.AsyncClient, tenant: Tenant, **params: Any) -> list[dict[str, Any]]:
    answer = await client.get(
        REPORT, params={"as_of": "2026-10-31", **params}, headers=tenant.auth("reader")
    )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def rows(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (i["member_id"], i["reason"], i["raw_balance"], i["overuse"], i["cause"], i["period_start"])
        for i in items
    ]


async def test_every_key_that_needs_review_is_listed_with_its_reason(
    client: httpx.AsyncClient, tenant: Tenant
):
    await record_members(client, tenant)
    items = await report(client, tenant)
    assert rows(items) == [
        ("m-recovered", "past_overuse", "1", "2", "backdated_confirmation", "2026-10-18"),
        ("m-reduced", "negative_accrual", "-13", "13", "authorization_reduction", "2026-10-04"),
        ("m-zero", "zero_balance", "0", "0", None, None),
    ]
    recovered = items[0]
    assert recovered["event_id"] is not None
    assert recovered["override"] is None
    assert items[2]["event_id"] is None


async def test_reason_filters_the_report(client: httpx.AsyncClient, tenant: Tenant):
    await record_members(client, tenant)
    zero = await report(client, tenant, reason="zero_balance")
    assert [i["member_id"] for i in zero] == ["m-zero"]
    both = await report(client, tenant, reason=["negative_accrual", "past_overuse"])
    assert [i["member_id"] for i in both] == ["m-recovered", "m-reduced"]


async def test_an_unknown_reason_is_refused(client: httpx.AsyncClient, tenant: Tenant):
    answer = await client.get(REPORT, params={"reason": "overdrawn"}, headers=tenant.auth("reader"))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert [d["field"] for d in error["details"]] == ["query.reason.0"]


async def test_known_at_shows_the_report_as_it_stood(client: httpx.AsyncClient, tenant: Tenant):
    before = await record_members(client, tenant)
    items = await report(client, tenant, known_at=before)
    assert [(i["member_id"], i["reason"]) for i in items] == [
        ("m-reduced", "negative_accrual"),
        ("m-zero", "zero_balance"),
    ]
    # week 2 of m-recovered, as of its own date: exactly 0, the overdraw of week 3 still ahead
    week2 = await report(client, tenant, as_of="2026-10-17", reason="zero_balance")
    assert [(i["member_id"], i["overuse"], i["cause"]) for i in week2] == [
        ("m-recovered", "0", None)
    ]
