"""The README tour through the HTTP API: weekly table, retroactive reduction, known_at."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx

from services.ledger.demo import reduction, weekly_example
from tests.integration.conftest import Tenant, post_events

DETAIL = "/v1/members/member-1/accumulations/AUTH-100/T1019"
FIRST_SUNDAY = date(2026, 10, 4)


def balances(body: dict) -> list[Decimal]:
    return [Decimal(period["balance"]) for period in body["periods"]]


async def test_weekly_table_reduction_and_known_at(client: httpx.AsyncClient, tenant: Tenant):
    recorded = await post_events(client, tenant, weekly_example(FIRST_SUNDAY))
    assert recorded.status_code == 200, recorded.text
    before_reduction = recorded.json()["results"][-1]["recorded_at"]

    detail = await client.get(DETAIL, params={"as_of": "2026-10-31"}, headers=tenant.auth())
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert balances(body) == [2, 6, 4, 7]
    assert [Decimal(p["used"]) for p in body["periods"]] == [8, 6, 12, 7]
    assert body["accumulated_units"] == "7"
    week3 = body["periods"][2]
    assert (Decimal(week3["from_regular"]), Decimal(week3["from_accumulation"])) == (10, 2)
    assert body["negative_accrual"] is None

    amendment = reduction()
    answer = await post_events(client, tenant, [amendment])
    assert answer.status_code == 200, answer.text

    body = (await client.get(DETAIL, params={"as_of": "2026-10-31"}, headers=tenant.auth())).json()
    assert balances(body) == [-3, -4, -11, -13]
    assert body["accumulated_units"] == "0"
    assert body["raw_balance"] == "-13"
    assert body["negative_accrual"] == {
        "overuse": "13",
        "cause": "authorization_reduction",
        "event_id": amendment["id"],
        "period_start": "2026-10-04",
    }

    known = await client.get(
        DETAIL,
        params={"as_of": "2026-10-31", "known_at": before_reduction},
        headers=tenant.auth(),
    )
    assert known.status_code == 200, known.text
    assert balances(known.json()) == [2, 6, 4, 7]
    assert known.json()["position"] < answer.json()["last_position"]
    for path in (DETAIL.replace("T1019", "NOPE"), DETAIL.replace("member-1", "nobody")):
        missing = await client.get(
            path, params={"known_at": before_reduction}, headers=tenant.auth()
        )
        assert missing.status_code == 404, missing.text


async def test_as_of_is_period_granular(client: httpx.AsyncClient, tenant: Tenant):
    await post_events(client, tenant, weekly_example(FIRST_SUNDAY))
    expectations = {
        "2026-10-03": ("0", 0),  # before the first period
        "2026-10-11": ("6", 2),  # week 2
        "2026-10-24": ("4", 3),
        "2027-03-01": ("7", 4),  # after the last period it stays at B_n
    }
    for as_of, (shown, periods) in expectations.items():
        body = (await client.get(DETAIL, params={"as_of": as_of}, headers=tenant.auth())).json()
        assert (body["accumulated_units"], len(body["periods"])) == (shown, periods), as_of


async def test_list_visits_explain_and_report(client: httpx.AsyncClient, tenant: Tenant):
    await post_events(client, tenant, weekly_example(FIRST_SUNDAY))
    listing = await client.get(
        "/v1/members/member-1/accumulations", params={"as_of": "2026-10-31"}, headers=tenant.auth()
    )
    assert listing.status_code == 200
    [item] = listing.json()["items"]
    assert item["authorization_number"] == "AUTH-100"
    assert item["span"] == {"start": "2026-10-04", "end": "2026-10-31"}
    assert item["accumulated_units"] == "7"

    visit = (await client.get("/v1/visits/visit-3", headers=tenant.auth())).json()
    assert visit["key"] == {"authorization_number": "AUTH-100", "service_code": "T1019"}
    assert visit["allocation"] == {
        "regular": "10",
        "accumulated": "2",
        "unauthorized": "0",
        "reason": None,
    }
    assert visit["unauthorized"] is False

    explained = await client.get(
        DETAIL + "/explain", params={"as_of": "2026-10-31"}, headers=tenant.auth()
    )
    assert explained.status_code == 200
    events = explained.json()["events"]
    assert [e["type"] for e in events][:2] == ["payer.settings_changed", "authorization.granted"]
    assert events[-1]["effect"]["raw_balance_after"] == "7"
    assert [e["effect"]["description"] for e in events][:3] == [
        "changes the settings of payer payer-1 (accumulation allowed; weeks start on sunday): "
        "the whole history is replayed",
        "grants 10 units per week from 2026-10-04 to 2026-10-31",
        "confirms visit visit-1 on 2026-10-06, 8 units",
    ]

    await post_events(client, tenant, [reduction()])
    report = await client.get(
        "/v1/reports/exceeding-accumulation",
        params={"as_of": "2026-10-31"},
        headers=tenant.auth(),
    )
    [row] = report.json()["items"]
    assert row["member_id"] == "member-1"
    assert (row["raw_balance"], row["overuse"], row["cause"]) == (
        "-13",
        "13",
        "authorization_reduction",
    )


async def test_will_the_units_last(client: httpx.AsyncClient, tenant: Tenant):
    """The README's forecast: as of week 2 the burn rate is week 1's 8 units (rules 2.15)."""
    await post_events(client, tenant, weekly_example(FIRST_SUNDAY))
    answer = await client.get(
        DETAIL + "/forecast", params={"as_of": "2026-10-14"}, headers=tenant.auth()
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["burn_rate"], body["projected_unused"], body["runs_out_on"]) == (
        "8.00",
        "4.00",
        None,
    )
    assert [p["projected_balance"] for p in body["periods"]] == ["4.00", "2.00", "4.00"]
    assert [p["projected_used"] for p in body["periods"]] == ["8.00", "12.00", "8.00"]
    assert body["status"] == "active"
