"""Alerts on the subscription stream (accumulation.md section 3), on SQLite and PostgreSQL:
benefit.threshold_crossed once per threshold and period and again after the reset,
visit.not_eligible for a visit outside coverage, authorization.renewal_due from events and from
the tick, each exactly once; a rebuild emits none of them again."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from services.projections.runner import recalculate, truncate_read_models
from services.projections.tick import tick
from tests.integration.conftest import Tenant, post_events

TODAY = datetime.now(UTC).date()
YEAR = TODAY.year  # alerts judge periods not yet ended on the day: this year and the next


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": kind, "data": data}


def visit(visit_id: str, day: date, member: str = "m1", code: str = "97110") -> dict[str, Any]:
    return event(
        "visit.confirmed",
        visit_id=visit_id,
        member_id=member,
        payer_id="P",
        service_code=code,
        service_date=day.isoformat(),
        units="1",
    )


def limit(benefit_id: str = "b1", **extra: Any) -> dict[str, Any]:
    return event(
        "benefit.limit_defined",
        benefit_id=benefit_id,
        member_id="m1",
        payer_id="P",
        benefit_code="PT",
        service_codes=["97110"],
        limit="5",
        unit="visits",
        period={"type": "calendar_year"},
        **extra,
    )


async def record(client: httpx.AsyncClient, tenant: Tenant, *events: dict[str, Any]) -> None:
    answer = await post_events(client, tenant, list(events))
    assert answer.status_code == 200, answer.text


async def feed(client: httpx.AsyncClient, tenant: Tenant, kind: str) -> list[dict[str, Any]]:
    answer = await client.get(
        "/v1/feeds/events", params={"limit": 1000}, headers=tenant.auth("subscriber")
    )
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [i["sequence"] for i in items] == list(range(1, len(items) + 1))
    return [item for item in items if item["type"] == kind]


def crossings(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(i["data"]["period"]["start"], i["data"]["threshold"]) for i in items]


async def test_a_threshold_alert_appears_once_per_period_and_again_after_the_reset(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    this_year, next_year = f"{YEAR}-01-01", f"{YEAR + 1}-01-01"
    await record(client, tenant, limit())
    await record(client, tenant, *(visit(f"v{i}", date(YEAR, 2, i + 1)) for i in range(3)))
    assert await feed(client, tenant, "benefit.threshold_crossed") == []

    fourth = visit("v3", date(YEAR, 2, 10))
    await record(client, tenant, fourth)  # 4 of 5: 0.8 crossed
    alerts = await feed(client, tenant, "benefit.threshold_crossed")
    assert crossings(alerts) == [(this_year, "0.8000")]
    data = alerts[0]["data"]
    assert data["cause_event_id"] == fourth["id"]
    assert (data["used"], data["remaining"], data["exhausted"]) == ("4", "1", False)
    assert data["period"] == {"start": this_year, "end": f"{YEAR}-12-31"}

    await record(client, tenant, visit("v4", date(YEAR, 2, 11)))  # 5 of 5: 1.0
    await record(client, tenant, event("visit.cancelled", visit_id="v4"))  # back to 0.8
    await record(client, tenant, visit("v5", date(YEAR, 2, 12)))  # 1.0 again: not repeated
    alerts = await feed(client, tenant, "benefit.threshold_crossed")
    assert crossings(alerts) == [(this_year, "0.8000"), (this_year, "1.0000")]
    assert alerts[1]["data"]["exhausted"] is True

    await record(client, tenant, *(visit(f"n{i}", date(YEAR + 1, 3, i + 1)) for i in range(4)))
    alerts = await feed(client, tenant, "benefit.threshold_crossed")
    assert crossings(alerts) == [
        (this_year, "0.8000"),
        (this_year, "1.0000"),
        (next_year, "0.8000"),
    ]

    count = len(await feed(client, tenant, "benefit.threshold_crossed"))
    connection = tenant.database.connect()
    try:
        with connection.transaction(write=True):
            truncate_read_models(connection, tenant.name)
        recalculate(connection, tenant.name)
    finally:
        connection.close()
    assert len(await feed(client, tenant, "benefit.threshold_crossed")) == count


async def test_a_verification_and_custom_thresholds_cross_too(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await record(client, tenant, limit(thresholds=["0.5"]))
    verified = event(
        "benefit.usage_verified",
        benefit_id="b1",
        as_of=date(YEAR, 1, 15).isoformat(),
        used="3",
        source="payer portal",
    )
    await record(client, tenant, verified)
    alerts = await feed(client, tenant, "benefit.threshold_crossed")
    assert crossings(alerts) == [(f"{YEAR}-01-01", "0.5000")]
    assert alerts[0]["data"]["cause_event_id"] == verified["id"]


async def test_a_visit_outside_coverage_is_flagged_once(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    start, end = date(YEAR, 1, 1), date(YEAR, 3, 31)
    await record(
        client,
        tenant,
        event("coverage.started", member_id="m1", payer_id="P", date=start.isoformat()),
    )
    await record(client, tenant, visit("inside", date(YEAR, 2, 1)), visit("late", date(YEAR, 4, 2)))
    assert await feed(client, tenant, "visit.not_eligible") == []  # coverage still open

    ended = event("coverage.ended", member_id="m1", payer_id="P", date=end.isoformat())
    await record(client, tenant, ended)  # retroactively outside: the April visit
    alerts = await feed(client, tenant, "visit.not_eligible")
    assert [a["data"]["visit_id"] for a in alerts] == ["late"]
    assert alerts[0]["data"]["cause_event_id"] == ended["id"]
    assert alerts[0]["data"]["coverage"] == [{"start": start.isoformat(), "end": end.isoformat()}]

    await record(client, tenant, visit("later", date(YEAR, 5, 2)))
    await record(client, tenant, event("visit.rescheduled", visit_id="late", units="2"))
    alerts = await feed(client, tenant, "visit.not_eligible")
    assert [a["data"]["visit_id"] for a in alerts] == ["late", "later"]  # not twice


def grant(end: date, units: str = "10", **extra: Any) -> dict[str, Any]:
    return event(
        "authorization.granted",
        authorization_id="line-1",
        authorization_number="AUTH-1",
        member_id="m1",
        payer_id="P",
        service_code="T1019",
        frequency="span",
        units=units,
        start_date=(TODAY - timedelta(days=60)).isoformat(),
        end_date=end.isoformat(),
        **extra,
    )


async def test_renewal_is_due_near_the_end_once_per_end_date(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await record(client, tenant, grant(TODAY + timedelta(days=10)))
    alerts = await feed(client, tenant, "authorization.renewal_due")
    assert len(alerts) == 1
    data = alerts[0]["data"]
    assert data["reasons"] == ["ending_soon"]
    assert data["days_left"] == 10
    assert data["key"] == {
        "member_id": "m1",
        "authorization_number": "AUTH-1",
        "service_code": "T1019",
    }

    await record(client, tenant, visit("t1", TODAY - timedelta(days=3), code="T1019"))
    assert len(await feed(client, tenant, "authorization.renewal_due")) == 1  # same end date

    later = TODAY + timedelta(days=90)
    await record(
        client,
        tenant,
        event("authorization.amended", authorization_id="line-1", end_date=later.isoformat()),
    )
    assert len(await feed(client, tenant, "authorization.renewal_due")) == 1  # far from the end
    await record(
        client,
        tenant,
        *(visit(f"u{i}", TODAY - timedelta(days=i + 5), code="T1019") for i in range(7)),
    )  # 8 of 10 units used
    alerts = await feed(client, tenant, "authorization.renewal_due")
    assert len(alerts) == 2
    assert alerts[1]["data"]["reasons"] == ["units_used"]
    assert alerts[1]["data"]["end_date"] == later.isoformat()
    assert alerts[1]["data"]["fraction_used"] == "0.8000"


async def test_the_payer_sets_the_notice_and_the_tick_finds_keys_as_days_pass(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    notice = event("payer.settings_changed", payer_id="P", renewal_days_before_end=30)
    await record(client, tenant, notice, grant(TODAY + timedelta(days=45)))
    assert await feed(client, tenant, "authorization.renewal_due") == []
    tick(tenant.database, TODAY + timedelta(days=10))  # 35 days left
    assert await feed(client, tenant, "authorization.renewal_due") == []
    tick(tenant.database, TODAY + timedelta(days=16))  # 29 days left
    tick(tenant.database, TODAY + timedelta(days=17))  # the same end date: once
    alerts = await feed(client, tenant, "authorization.renewal_due")
    assert len(alerts) == 1
    assert alerts[0]["data"]["days_left"] == 29
    assert alerts[0]["data"]["cause_event_id"] is None


async def test_bad_renewal_settings_are_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for bad in ({"renewal_days_before_end": -1}, {"renewal_used_fraction": "1.5"}):
        answer = await post_events(
            client, tenant, [event("payer.settings_changed", payer_id="P", **bad)]
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["details"][0]["field"].startswith("data.renewal_")
    assert tenant.ledger_count() == 0


async def test_a_visit_outside_coverage_is_recorded_with_a_warning(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    coverage = event("coverage.started", member_id="m1", payer_id="P", date=f"{YEAR}-03-01")
    await record(client, tenant, coverage)
    answer = await post_events(client, tenant, [visit("early", date(YEAR, 2, 1))])
    assert answer.status_code == 200, answer.text
    # no authorization rule applies to m1's 97110 visits (no line, nothing required: rules 3)
    assert [w["code"] for w in answer.json()["results"][0]["warnings"]] == ["not_eligible"]
    check = await client.post(
        "/v1/scheduling/check",
        json={
            "member_id": "m1",
            "payer_id": "P",
            "service_code": "97110",
            "service_date": f"{YEAR}-02-02",
            "units": "1",
        },
        headers=tenant.auth("reader"),
    )
    assert check.status_code == 200, check.text
    warning = check.json()["warnings"][-1]
    assert (warning["code"], warning["shortfall"]) == ("not_eligible", None)
