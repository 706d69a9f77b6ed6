"""The tenant's time zone (accumulation.md section 3), over HTTP on both stores: the default
`as_of`, the day the tick rolls periods over and "ending soon" follow `tenant.settings_changed`.

Pacific/Kiritimati (UTC+14) and Pacific/Pago_Pago (UTC-11) are 25 hours apart: their dates differ
at every instant, so the tests need no particular time of day.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.ledger.demo import weekly_example
from services.projections.tick import tick
from tests.integration.conftest import Tenant, post_events


def event(type_: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": type_, "data": data}


def renamed(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(e, id=str(uuid.uuid4())) for e in events]


async def set_time_zone(client: httpx.AsyncClient, tenant: Tenant, name: str) -> None:
    answer = await post_events(client, tenant, [event("tenant.settings_changed", time_zone=name)])
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0]["warnings"] == []


def today_in(name: str) -> set[str]:
    """The zone's date now (both dates around a midnight that falls while the test runs)."""
    now = datetime.now(UTC)
    return {
        (now + timedelta(seconds=s)).astimezone(ZoneInfo(name)).date().isoformat() for s in (-5, 5)
    }


async def test_an_unknown_time_zone_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, tenant: Tenant
):
    for data in ({"time_zone": "Mars/Olympus"}, {"time_zone": "localtime"}, {}):
        answer = await post_events(client, tenant, [event("tenant.settings_changed", **data)])
        assert answer.status_code == 422, answer.text
        [detail] = answer.json()["error"]["details"]
        assert detail["field"] in ("data.time_zone", "data"), detail
    assert tenant.ledger_count() == 0


async def test_the_default_as_of_is_the_tenants_today(client: httpx.AsyncClient, tenant: Tenant):
    await post_events(client, tenant, renamed(weekly_example(date(2026, 10, 4))))
    paths = (
        "/v1/members/member-1/accumulations",
        "/v1/members/member-1/accumulations/AUTH-100/T1019",
        "/v1/members/member-1/benefits",
        "/v1/reports/exceeding-accumulation",
        "/v1/reports/benefits-near-limit",
    )
    for zone in ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"):
        if zone != "UTC":
            await set_time_zone(client, tenant, zone)
        for path in paths:
            answer = await client.get(path, headers=tenant.auth("reader"))
            assert answer.status_code == 200, answer.text
            assert answer.json()["as_of"] in today_in(zone), (zone, path)
    given = await client.get(paths[0], params={"as_of": "2026-10-31"}, headers=tenant.auth())
    assert given.json()["as_of"] == "2026-10-31"  # a date asked for is that date
    ledger = await client.get(
        "/v1/ledger/events", params={"type": "tenant.settings_changed"}, headers=tenant.auth()
    )
    assert [e["data"] for e in ledger.json()["items"]] == [
        {"time_zone": "Pacific/Kiritimati"},
        {"time_zone": "Pacific/Pago_Pago"},
    ]


def sunday_before(day: date) -> date:
    return day - timedelta(days=(day.weekday() + 1) % 7)


async def rollovers(client: httpx.AsyncClient, tenant: Tenant) -> list[str]:
    answer = await client.get(
        "/v1/feeds/events", params={"after": 0, "limit": 1000}, headers=tenant.auth("subscriber")
    )
    return [
        item["data"]["first_affected_period"]
        for item in answer.json()["items"]
        if item["data"].get("reason") == "period_started"
    ]


async def test_the_tick_rolls_a_week_over_at_the_tenants_midnight(
    client: httpx.AsyncClient, tenant: Tenant
):
    """Sunday 03:00 UTC is Saturday evening in New York: a New York agency's week has not
    started yet; it starts at the tick after midnight New York time."""
    first = sunday_before(datetime.now(UTC).date()) - timedelta(days=7)
    second = first + timedelta(days=7)
    await set_time_zone(client, tenant, "America/New_York")
    await post_events(client, tenant, renamed(weekly_example(first))[:2])
    saturday_evening = datetime.combine(second, time(3, 0), UTC)
    tick(tenant.database, now=saturday_evening)
    assert await rollovers(client, tenant) == [first.isoformat()]
    tick(tenant.database, now=saturday_evening + timedelta(hours=9))  # Sunday 08:00 UTC
    assert await rollovers(client, tenant) == [first.isoformat(), second.isoformat()]


async def test_a_utc_tenant_rolls_over_at_utc_midnight(client: httpx.AsyncClient, tenant: Tenant):
    first = sunday_before(datetime.now(UTC).date()) - timedelta(days=7)
    second = first + timedelta(days=7)
    await post_events(client, tenant, renamed(weekly_example(first))[:2])
    tick(tenant.database, now=datetime.combine(second, time(3, 0), UTC))
    assert await rollovers(client, tenant) == [second.isoformat()]


@pytest.mark.parametrize(("zone", "at_0200_utc"), [("America/New_York", []), ("UTC", [30])])
async def test_ending_soon_counts_the_days_left_from_the_tenants_date(
    client: httpx.AsyncClient, tenant: Tenant, zone: str, at_0200_utc: list[int]
):
    """The notice is 30 days. At 02:00 UTC, 30 days before the end by the UTC date, it is still
    the day before in New York: 31 days left, not due yet; 6 hours later it is due there too."""
    end = datetime.now(UTC).date() + timedelta(days=60)
    notice = event("payer.settings_changed", payer_id="P", renewal_days_before_end=30)
    grant = event(
        "authorization.granted",
        authorization_id="line-1",
        authorization_number="A-1",
        member_id="m1",
        payer_id="P",
        service_code="T1019",
        frequency="span",
        units="100",
        start_date=(end - timedelta(days=90)).isoformat(),
        end_date=end.isoformat(),
    )
    await set_time_zone(client, tenant, zone)
    assert (await post_events(client, tenant, [notice, grant])).status_code == 200
    at = datetime.combine(end - timedelta(days=30), time(2, 0), UTC)
    tick(tenant.database, now=at)
    assert await renewals(client, tenant) == at_0200_utc
    tick(tenant.database, now=at + timedelta(hours=6))
    assert await renewals(client, tenant) == [30]


async def renewals(client: httpx.AsyncClient, tenant: Tenant) -> list[int]:
    answer = await client.get(
        "/v1/feeds/events",
        params={"after": 0, "limit": 1000},
        headers=tenant.auth("subscriber"),
    )
    assert answer.status_code == 200, answer.text
    return [
        item["data"]["days_left"]
        for item in answer.json()["items"]
        if item["type"] == "authorization.renewal_due"
    ]
