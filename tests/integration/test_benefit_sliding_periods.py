"""Rolling and episode benefit periods through the HTTP API (accumulation.md section 3), on
SQLite and PostgreSQL: the worked examples of tests/unit/test_benefit_sliding_periods.py, the
422s of a bad `days`, `known_at` across an amendment to a rolling period, and the alerts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Tenant, post_events
from tests.integration.test_benefit_alerts import feed
from tests.integration.test_benefits import (
    confirmed,
    detail,
    event,
    limit_defined,
    new_member,
    one,
    record,
    verified,
)

ROLLING_90 = {"type": "rolling", "days": 90}
EPISODE_30 = {"type": "episode", "days": 30}


def days_from(member: str, first: date, count: int, prefix: str) -> list[dict[str, Any]]:
    return [
        confirmed(member, (first + timedelta(days=n)).isoformat(), f"{prefix}-{member}-{n}")
        for n in range(count)
    ]


async def test_twenty_visits_in_any_90_days(client: httpx.AsyncClient, tenant: Tenant) -> None:
    member = new_member()
    await record(client, tenant, limit_defined(member, limit="20", period=ROLLING_90))
    await record(client, tenant, *days_from(member, date(2026, 1, 5), 10, "jan"))
    await record(client, tenant, *days_from(member, date(2026, 3, 1), 10, "mar"))
    table = [
        ("2026-03-10", "2025-12-11", "20", "0", True),
        ("2026-04-04", "2026-01-05", "20", "0", True),
        ("2026-04-05", "2026-01-06", "19", "1", False),
        ("2026-04-14", "2026-01-15", "10", "10", False),
    ]
    for as_of, start, used, remaining, exhausted in table:
        item = await one(client, tenant, member, as_of)
        assert item["period"] == {
            "type": "rolling",
            "start": start,
            "end": as_of,
            "days": 90,
            "open": True,
        }
        assert (item["used"], item["remaining"], item["exhausted"]) == (used, remaining, exhausted)

    await record(client, tenant, verified("ben-1", "2026-03-05", "15"))
    assert (await one(client, tenant, member, "2026-06-02"))["used"] == "20"
    slid = await detail(client, tenant, member, "2026-06-03")
    assert (slid["used"], slid["verification"]) == ("5", None)
    assert [v["service_date"] for v in slid["visits"]] == [
        f"2026-03-{d:02}" for d in (6, 7, 8, 9, 10)
    ]


async def test_an_episode_limit_in_and_between_episodes(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    member = new_member()
    await record(client, tenant, limit_defined(member, limit="12", period=EPISODE_30))
    days = ["2026-02-02", "2026-02-10", "2026-02-20", "2026-03-03", "2026-03-04", "2026-04-10"]
    await record(client, tenant, *(confirmed(member, d, f"e-{member}-{d}") for d in days))
    table = [
        ("2026-02-01", "2026-02-01", "2026-03-02", False, "0"),
        ("2026-03-03", "2026-02-02", "2026-03-03", True, "4"),
        ("2026-03-04", "2026-03-04", "2026-04-02", True, "1"),
        ("2026-04-05", "2026-04-05", "2026-05-04", False, "0"),
        ("2026-04-10", "2026-04-10", "2026-05-09", True, "1"),
    ]
    for as_of, start, end, is_open, used in table:
        item = await one(client, tenant, member, as_of)
        assert item["period"] == {
            "type": "episode",
            "start": start,
            "end": end,
            "days": 30,
            "open": is_open,
        }
        assert (item["used"], item["remaining"]) == (used, str(12 - int(used)))

    await record(client, tenant, verified("ben-1", "2026-02-25", "1"))  # 3 own visits by then
    item = await one(client, tenant, member, "2026-03-02")
    assert (item["used"], item["reconciliation"]) == ("1", True)


@pytest.mark.parametrize(
    "days, problem",
    [
        (0, "Input should be greater than or equal to 1"),
        (-7, "Input should be greater than or equal to 1"),
        (100_000, "Input should be less than or equal to 3660"),
    ],
)
async def test_a_rolling_period_of_no_days_or_too_many_is_refused(
    client: httpx.AsyncClient, tenant: Tenant, days: int, problem: str
) -> None:
    member = new_member()
    before = tenant.ledger_count()
    answer = await post_events(
        client, tenant, [limit_defined(member, period={"type": "rolling", "days": days})]
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_event"
    assert answer.json()["error"]["details"] == [
        {"index": 0, "field": "data.period.rolling.days", "problem": problem}
    ]
    assert tenant.ledger_count() == before


async def test_an_episode_without_days_is_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    answer = await post_events(
        client, tenant, [limit_defined(new_member(), period={"type": "episode"})]
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["details"] == [
        {"index": 0, "field": "data.period.episode.days", "problem": "Field required"}
    ]


async def test_known_at_before_an_amendment_to_rolling_answers_the_calendar_year(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    member = new_member()
    await record(client, tenant, limit_defined(member, limit="20"))
    await record(client, tenant, *days_from(member, date(2026, 1, 5), 10, "jan"))
    amended = await record(
        client, tenant, event("benefit.limit_amended", benefit_id="ben-1", period=ROLLING_90)
    )
    recorded_at = datetime.fromisoformat(amended["results"][0]["recorded_at"])
    before = (recorded_at - timedelta(microseconds=1)).isoformat()
    now_item = await one(client, tenant, member, "2026-06-01")
    assert (now_item["period"]["type"], now_item["used"]) == ("rolling", "0")
    answer = await client.get(
        f"/v1/members/{member}/benefits",
        params={"as_of": "2026-06-01", "known_at": before},
        headers=tenant.auth("reader"),
    )
    assert answer.status_code == 200, answer.text
    then = answer.json()["items"][0]
    assert (then["period"]["type"], then["used"]) == ("calendar_year", "10")


def rolling_visit(visit_id: str, day: date) -> dict[str, Any]:
    return event(
        "visit.confirmed",
        visit_id=visit_id,
        member_id="m1",
        payer_id="P",
        service_code="97110",
        service_date=day.isoformat(),
        units="1",
    )


async def test_a_rolling_alert_judges_the_window_ending_today_once_per_run(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    today = datetime.now(UTC).date()
    await record(
        client,
        tenant,
        event(
            "benefit.limit_defined",
            benefit_id="b1",
            member_id="m1",
            payer_id="P",
            benefit_code="PT",
            service_codes=["97110"],
            limit="4",
            unit="visits",
            period={"type": "rolling", "days": 7},
            thresholds=["1"],
        ),
    )
    old = [rolling_visit(f"v{n}", today - timedelta(days=n)) for n in (20, 19, 18, 17)]
    await record(client, tenant, *old)  # a run long over: today's window holds none of them
    assert await feed(client, tenant, "benefit.threshold_crossed") == []
    await record(
        client, tenant, *(rolling_visit(f"r{n}", today - timedelta(days=n)) for n in range(4))
    )
    alerts = await feed(client, tenant, "benefit.threshold_crossed")
    assert len(alerts) == 1
    start = (today - timedelta(days=6)).isoformat()
    assert alerts[0]["data"]["period"] == {"start": start, "end": today.isoformat()}
    assert (alerts[0]["data"]["used"], alerts[0]["data"]["exhausted"]) == ("4", True)
