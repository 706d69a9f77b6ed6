"""Benefit limits through the HTTP API (accumulation.md section 3), on SQLite and PostgreSQL.

Every test records its facts with POST /v1/events and reads them back with the benefit queries,
always with an explicit `as_of` (never today's date).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Tenant, make_tenant, post_events

PAYER = "payer-1"
CALENDAR_PERIOD = {"days": None, "open": True}  # what periods other than rolling/episode add


def event(type_: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": type_, "data": data}


def new_member() -> str:
    return f"member-{uuid.uuid4().hex[:10]}"


def limit_defined(member_id: str, benefit_id: str = "ben-1", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "benefit_id": benefit_id,
        "member_id": member_id,
        "payer_id": PAYER,
        "benefit_code": "PT",
        "service_codes": ["S1"],
        "limit": "30",
        "unit": "visits",
        "period": {"type": "calendar_year"},
    }
    data.update(overrides)
    return event("benefit.limit_defined", **{k: v for k, v in data.items() if v is not None})


def confirmed(
    member_id: str, service_date: str, visit_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """A visit confirmed without being scheduled first."""
    data: dict[str, Any] = {
        "visit_id": visit_id or f"visit-{uuid.uuid4().hex[:10]}",
        "member_id": member_id,
        "payer_id": PAYER,
        "service_code": "S1",
        "service_date": service_date,
        "units": "1",
    }
    data.update(overrides)
    return event("visit.confirmed", **data)


def scheduled(member_id: str, service_date: str, visit_id: str, **overrides: Any) -> dict:
    data: dict[str, Any] = {
        "visit_id": visit_id,
        "member_id": member_id,
        "payer_id": PAYER,
        "service_code": "S1",
        "service_date": service_date,
        "units": "1",
    }
    data.update(overrides)
    return event("visit.scheduled", **data)


def verified(benefit_id: str, as_of: str, used: str, **extra: Any) -> dict[str, Any]:
    return event(
        "benefit.usage_verified",
        benefit_id=benefit_id,
        as_of=as_of,
        used=used,
        source="payer portal",
        **extra,
    )


def coverage(kind: str, member_id: str, day: str, payer_id: str = PAYER) -> dict[str, Any]:
    return event(f"coverage.{kind}", member_id=member_id, payer_id=payer_id, date=day)


async def record(client: httpx.AsyncClient, tenant: Tenant, *events: dict) -> dict[str, Any]:
    answer = await post_events(client, tenant, list(events))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def listing(
    client: httpx.AsyncClient, tenant: Tenant, member_id: str, as_of: str, **params: str
) -> dict[str, Any]:
    answer = await client.get(
        f"/v1/members/{member_id}/benefits",
        params={"as_of": as_of, **params},
        headers=tenant.auth("reader"),
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["member_id"] == member_id
    assert body["as_of"] == as_of
    return body


async def items(
    client: httpx.AsyncClient, tenant: Tenant, member_id: str, as_of: str, **params: str
) -> dict[str, dict[str, Any]]:
    body = await listing(client, tenant, member_id, as_of, **params)
    return {item["benefit_id"]: item for item in body["items"]}


async def one(
    client: httpx.AsyncClient, tenant: Tenant, member_id: str, as_of: str, benefit_id: str = "ben-1"
) -> dict[str, Any]:
    return (await items(client, tenant, member_id, as_of))[benefit_id]


async def detail(
    client: httpx.AsyncClient,
    tenant: Tenant,
    member_id: str,
    as_of: str,
    benefit_id: str = "ben-1",
    **params: str,
) -> dict[str, Any]:
    answer = await client.get(
        f"/v1/members/{member_id}/benefits/{benefit_id}",
        params={"as_of": as_of, **params},
        headers=tenant.auth("reader"),
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert (body["member_id"], body["benefit_id"], body["as_of"]) == (member_id, benefit_id, as_of)
    return body


def figures(item: dict[str, Any]) -> tuple[Decimal, Decimal, bool]:
    return Decimal(item["used"]), Decimal(item["remaining"]), item["exhausted"]


def period(item: dict[str, Any]) -> tuple[str | None, str | None]:
    return item["period"]["start"], item["period"]["end"]


def counted(body: dict[str, Any]) -> dict[str, bool]:
    return {visit["visit_id"]: visit["counted"] for visit in body["visits"]}


# 1. Visits left this plan year


async def test_visits_left_this_plan_year(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    plan_year = {"type": "plan_year", "start_month": 7, "start_day": 1}
    await record(
        client,
        tenant,
        limit_defined(member, limit="30", period=plan_year),
        confirmed(member, "2026-03-10", "v-march"),
        confirmed(member, "2026-06-30", "v-eve"),  # the day before the reset
        confirmed(member, "2026-07-01", "v-reset"),
        confirmed(member, "2026-08-15", "v-aug"),
        confirmed(member, "2026-11-02", "v-nov"),
    )

    body = await listing(client, tenant, member, "2026-11-23")
    [item] = body["items"]
    assert (item["benefit_id"], item["benefit_code"], item["payer_id"]) == ("ben-1", "PT", PAYER)
    assert (item["unit"], Decimal(item["limit"]), item["service_codes"]) == ("visits", 30, ["S1"])
    assert item["period"] == {
        "type": "plan_year",
        "start": "2026-07-01",
        "end": "2027-06-30",
        **CALENDAR_PERIOD,
    }
    assert figures(item) == (3, 27, False)
    assert item["reconciliation"] is False
    assert item["verification"] is None
    assert isinstance(body["position"], int)

    eve = await one(client, tenant, member, "2026-06-30")
    assert period(eve) == ("2025-07-01", "2026-06-30")
    assert figures(eve) == (2, 28, False)

    later = await detail(client, tenant, member, "2026-11-23")
    assert figures(later) == (3, 27, False)
    assert counted(later) == {"v-reset": True, "v-aug": True, "v-nov": True}
    earlier = await detail(client, tenant, member, "2026-06-30")
    assert counted(earlier) == {"v-march": True, "v-eve": True}
    assert [v["service_date"] for v in earlier["visits"]] == ["2026-03-10", "2026-06-30"]


# 2. Each period type across its reset


async def test_calendar_year_resets_on_january_first(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        limit_defined(member, limit="10"),
        confirmed(member, "2025-12-30"),
        confirmed(member, "2025-12-31"),
        confirmed(member, "2026-01-01"),
    )
    december = await one(client, tenant, member, "2025-12-31")
    assert december["period"] == {
        "type": "calendar_year",
        "start": "2025-01-01",
        "end": "2025-12-31",
        **CALENDAR_PERIOD,
    }
    assert figures(december) == (2, 8, False)
    january = await one(client, tenant, member, "2026-01-01")
    assert period(january) == ("2026-01-01", "2026-12-31")
    assert figures(january) == (1, 9, False)


async def test_plan_year_on_29_february(client: httpx.AsyncClient, tenant: Tenant):
    """Decision: in common years a plan year of 29 February starts on 28 February."""
    member = new_member()
    leap_plan = {"type": "plan_year", "start_month": 2, "start_day": 29}
    await record(
        client,
        tenant,
        limit_defined(member, limit="10", period=leap_plan),
        confirmed(member, "2025-03-01"),
        confirmed(member, "2026-02-27"),
        confirmed(member, "2026-02-28"),
    )
    before = await one(client, tenant, member, "2026-02-27")
    assert before["period"] == {
        "type": "plan_year",
        "start": "2025-02-28",
        "end": "2026-02-27",
        **CALENDAR_PERIOD,
    }
    assert figures(before) == (2, 8, False)
    after = await one(client, tenant, member, "2026-02-28")
    assert period(after) == ("2026-02-28", "2027-02-27")
    assert figures(after) == (1, 9, False)
    # in a leap year the reset is the 29th itself
    assert period(await one(client, tenant, member, "2028-02-28")) == ("2027-02-28", "2028-02-28")
    assert period(await one(client, tenant, member, "2028-02-29")) == ("2028-02-29", "2029-02-27")


async def test_anniversary_resets_on_the_enrollment_day(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    anniversary = {"type": "anniversary", "anchor_date": "2024-05-15"}
    await record(
        client,
        tenant,
        limit_defined(member, limit="12", period=anniversary),
        confirmed(member, "2025-05-15"),
        confirmed(member, "2026-05-14"),
        confirmed(member, "2026-05-15"),
    )
    eve = await one(client, tenant, member, "2026-05-14")
    assert eve["period"] == {
        "type": "anniversary",
        "start": "2025-05-15",
        "end": "2026-05-14",
        **CALENDAR_PERIOD,
    }
    assert figures(eve) == (2, 10, False)
    day = await one(client, tenant, member, "2026-05-15")
    assert period(day) == ("2026-05-15", "2027-05-14")
    assert figures(day) == (1, 11, False)


async def test_lifetime_never_resets(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        limit_defined(member, limit="5", period={"type": "lifetime"}),
        confirmed(member, "2024-06-01"),
        confirmed(member, "2025-12-31"),
        confirmed(member, "2026-01-01"),
        confirmed(member, "2026-11-20"),
    )
    item = await one(client, tenant, member, "2026-11-23")
    assert item["period"] == {"type": "lifetime", "start": None, "end": None, **CALENDAR_PERIOD}
    assert figures(item) == (4, 1, False)
    assert figures(await one(client, tenant, member, "2026-01-01")) == (3, 2, False)
    assert figures(await one(client, tenant, member, "2030-01-01")) == (4, 1, False)


# 3. Cross-provider verification


async def test_verification_before_on_and_after_own_visits(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await record(
        client,
        tenant,
        limit_defined(member, limit="20"),
        confirmed(member, "2026-03-01", "v-1"),
        confirmed(member, "2026-03-10", "v-2"),
        confirmed(member, "2026-03-20", "v-3"),
    )
    as_of = "2026-03-31"
    assert figures(await one(client, tenant, member, as_of)) == (3, 17, False)

    # before every own visit: the reported figure plus all three
    before = verified("ben-1", "2026-02-15", "4", reference="REF-1")
    await record(client, tenant, before)
    item = await one(client, tenant, member, as_of)
    assert figures(item) == (7, 13, False)
    assert item["reconciliation"] is False
    assert item["verification"] == {
        "event_id": before["id"],
        "as_of": "2026-02-15",
        "used": "4",
        "source": "payer portal",
        "reference": "REF-1",
    }
    assert counted(await detail(client, tenant, member, as_of)) == {
        "v-1": True,
        "v-2": True,
        "v-3": True,
    }

    # on an own visit's date: that visit is inside the reported figure
    await record(client, tenant, verified("ben-1", "2026-03-10", "5"))
    item = await one(client, tenant, member, as_of)
    assert figures(item) == (6, 14, False)
    assert (item["reconciliation"], item["verification"]["as_of"]) == (False, "2026-03-10")
    body = await detail(client, tenant, member, as_of)
    assert counted(body) == {"v-1": False, "v-2": False, "v-3": True}
    assert [v["as_of"] for v in body["verifications"]] == ["2026-02-15", "2026-03-10"]
    # before that date the earlier report is the one in effect
    assert figures(await one(client, tenant, member, "2026-03-09")) == (5, 15, False)

    # after every own visit: the reported figure alone
    await record(client, tenant, verified("ben-1", "2026-03-25", "10"))
    item = await one(client, tenant, member, as_of)
    assert figures(item) == (10, 10, False)
    assert item["reconciliation"] is False
    body = await detail(client, tenant, member, as_of)
    assert counted(body) == {"v-1": False, "v-2": False, "v-3": False}
    assert [v["as_of"] for v in body["verifications"]] == ["2026-02-15", "2026-03-10", "2026-03-25"]


async def test_reconciliation_when_own_visits_exceed_the_report(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await record(
        client,
        tenant,
        limit_defined(member, limit="20"),
        confirmed(member, "2026-04-01", "v-1"),
        confirmed(member, "2026-04-02", "v-2"),
        confirmed(member, "2026-04-03", "v-3"),
        confirmed(member, "2026-04-20", "v-4"),
        verified("ben-1", "2026-04-03", "3"),  # equal to ours: nothing to reconcile
    )
    item = await one(client, tenant, member, "2026-04-30")
    assert figures(item) == (4, 16, False)
    assert item["reconciliation"] is False

    await record(client, tenant, verified("ben-1", "2026-04-10", "2"))  # we know of 3 by then
    item = await one(client, tenant, member, "2026-04-30")
    assert item["reconciliation"] is True
    assert figures(item) == (3, 17, False)  # the payer's figure plus own visits after it
    body = await detail(client, tenant, member, "2026-04-30")
    assert body["reconciliation"] is True
    assert counted(body) == {"v-1": False, "v-2": False, "v-3": False, "v-4": True}
    # as of a date before the second report, the first one is still in effect
    assert (await one(client, tenant, member, "2026-04-05"))["reconciliation"] is False


async def test_a_verification_of_another_period_does_not_apply(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await record(
        client,
        tenant,
        limit_defined(member, limit="20"),
        verified("ben-1", "2025-12-31", "15"),
        confirmed(member, "2026-01-05"),
    )
    assert figures(await one(client, tenant, member, "2025-12-31")) == (15, 5, False)
    item = await one(client, tenant, member, "2026-01-31")
    assert figures(item) == (1, 19, False)
    assert item["verification"] is None
    assert (await detail(client, tenant, member, "2026-01-31"))["verifications"] == []


# 4. Exhaustion


async def test_exhaustion_is_flagged_not_hidden(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        limit_defined(member, limit="2"),
        confirmed(member, "2026-05-01"),
        confirmed(member, "2026-05-02"),
    )
    at_limit = await one(client, tenant, member, "2026-05-31")
    assert figures(at_limit) == (2, 0, True)

    await record(client, tenant, confirmed(member, "2026-05-03"))
    beyond = await one(client, tenant, member, "2026-05-31")
    assert beyond["used"] == "3"
    assert beyond["remaining"] == "0"
    assert beyond["exhausted"] is True

    await record(client, tenant, verified("ben-1", "2026-05-20", "9"))
    reported = await one(client, tenant, member, "2026-05-31")
    assert (reported["used"], reported["remaining"], reported["exhausted"]) == ("9", "0", True)
    # the next period starts afresh
    assert figures(await one(client, tenant, member, "2027-01-01")) == (0, 2, False)


# 5. known_at


async def test_known_at_before_the_verification(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    first = await record(
        client,
        tenant,
        limit_defined(member, limit="10"),
        confirmed(member, "2026-06-01"),
        confirmed(member, "2026-06-02"),
    )
    before = first["results"][-1]["recorded_at"]
    second = await record(client, tenant, verified("ben-1", "2026-06-15", "7"))

    now = await listing(client, tenant, member, "2026-06-30")
    [item] = now["items"]
    assert figures(item) == (7, 3, False)
    assert item["verification"]["as_of"] == "2026-06-15"
    assert now["position"] >= second["last_position"]

    then = await listing(client, tenant, member, "2026-06-30", known_at=before)
    [old] = then["items"]
    assert figures(old) == (2, 8, False)
    assert old["verification"] is None
    assert then["position"] < second["last_position"]

    old_detail = await detail(client, tenant, member, "2026-06-30", known_at=before)
    assert (old_detail["verifications"], Decimal(old_detail["used"])) == ([], 2)
    new_detail = await detail(client, tenant, member, "2026-06-30")
    assert len(new_detail["verifications"]) == 1

    # before the member's first fact the ledger knows nothing of the member
    answer = await client.get(
        f"/v1/members/{member}/benefits",
        params={"as_of": "2026-06-30", "known_at": "2020-01-01T00:00:00Z"},
        headers=tenant.auth("reader"),
    )
    assert answer.status_code == 404, answer.text


# 6. What counts


async def test_what_counts_toward_a_units_limit(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        limit_defined(member, limit="20", unit="units", service_codes=["S1", "S2"]),
        confirmed(member, "2026-03-02", "v-direct", units="3"),
        scheduled(member, "2026-03-03", "v-then", service_code="S2", units="4"),
        event("visit.confirmed", visit_id="v-then"),
        scheduled(member, "2026-03-04", "v-only-scheduled", units="5"),
        scheduled(member, "2026-03-05", "v-cancelled", units="6"),
        event("visit.cancelled", visit_id="v-cancelled"),
        confirmed(member, "2026-03-06", "v-confirmed-cancelled", units="2"),
        event("visit.cancelled", visit_id="v-confirmed-cancelled"),
        confirmed(member, "2026-03-07", "v-other-code", service_code="S3", units="7"),
        confirmed(member, "2026-03-08", "v-other-payer", payer_id="payer-2", units="8"),
    )
    as_of = "2026-03-31"
    item = await one(client, tenant, member, as_of)
    assert item["unit"] == "units"
    assert item["service_codes"] == ["S1", "S2"]
    assert figures(item) == (7, 13, False)
    body = await detail(client, tenant, member, as_of)
    assert [(v["visit_id"], Decimal(v["amount"]), v["counted"]) for v in body["visits"]] == [
        ("v-direct", 3, True),
        ("v-then", 4, True),
    ]

    # an amendment applies to every period, also to dates already past
    amendment = event("benefit.limit_amended", benefit_id="ben-1", limit="8")
    await record(client, tenant, amendment)
    assert figures(await one(client, tenant, member, as_of)) == (7, 1, False)
    await record(
        client,
        tenant,
        event("benefit.limit_amended", benefit_id="ben-1", service_codes=["S1", "S2", "S3"]),
    )
    amended = await one(client, tenant, member, as_of)
    assert (amended["service_codes"], Decimal(amended["limit"])) == (["S1", "S2", "S3"], 8)
    assert figures(amended) == (14, 0, True)
    # a period change too
    await record(
        client,
        tenant,
        event(
            "benefit.limit_amended",
            benefit_id="ben-1",
            period={"type": "plan_year", "start_month": 3, "start_day": 5},
        ),
    )
    split = await one(client, tenant, member, as_of)
    assert period(split) == ("2026-03-05", "2027-03-04")
    assert figures(split) == (7, 1, False)  # v-other-code only: the rest fell before 5 March


async def test_visits_limit_counts_one_per_visit(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        confirmed(member, "2026-09-01", "v-big", units="6"),
        confirmed(member, "2026-09-02", "v-small", units="2"),
    )
    # visits recorded before the limit was defined count as well
    await record(client, tenant, limit_defined(member, limit="10", unit="visits"))
    item = await one(client, tenant, member, "2026-09-30")
    assert figures(item) == (2, 8, False)
    body = await detail(client, tenant, member, "2026-09-30")
    assert [Decimal(v["amount"]) for v in body["visits"]] == [1, 1]


async def test_a_member_with_several_limits(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        limit_defined(member, "ben-a", limit="10", service_codes=["S1"]),
        limit_defined(member, "ben-b", benefit_code="OT", limit="4", service_codes=["S2"]),
        confirmed(member, "2026-10-01", service_code="S1"),
        confirmed(member, "2026-10-02", service_code="S2"),
        confirmed(member, "2026-10-03", service_code="S2"),
    )
    found = await items(client, tenant, member, "2026-10-31")
    assert sorted(found) == ["ben-a", "ben-b"]
    assert figures(found["ben-a"]) == (1, 9, False)
    assert figures(found["ben-b"]) == (2, 2, False)
    assert found["ben-b"]["benefit_code"] == "OT"


async def test_thresholds_default_and_given(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        limit_defined(member, "ben-a"),
        limit_defined(member, "ben-b", thresholds=["0.9", "0.5"]),
    )
    found = await items(client, tenant, member, "2026-10-31")
    assert [Decimal(t) for t in found["ben-a"]["thresholds"]] == [Decimal("0.8"), 1]
    assert [Decimal(t) for t in found["ben-b"]["thresholds"]] == [Decimal("0.5"), Decimal("0.9")]


# 7. Bad input


def _plan_year(month: int, day: int) -> dict[str, Any]:
    return {"type": "plan_year", "start_month": month, "start_day": day}


BAD_BATCHES: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]], str]] = {
    # case: (recorded first, the refused batch, the field a detail names)
    "limit zero": ([], [limit_defined("m-bad", limit="0")], "data.limit"),
    "limit negative": ([], [limit_defined("m-bad", limit="-3")], "data.limit"),
    "limit not a number": ([], [limit_defined("m-bad", limit="ten")], "data.limit"),
    "unknown unit": ([], [limit_defined("m-bad", unit="hours")], "data.unit"),
    "unknown period type": (
        [],
        [limit_defined("m-bad", period={"type": "monthly"})],
        "data.period",
    ),
    "plan year month 13": (
        [],
        [limit_defined("m-bad", period=_plan_year(13, 1))],
        "data.period.plan_year.start_month",
    ),
    "plan year 30 February": (
        [],
        [limit_defined("m-bad", period=_plan_year(2, 30))],
        "data.period.plan_year",
    ),
    "anniversary without anchor": (
        [],
        [limit_defined("m-bad", period={"type": "anniversary"})],
        "data.period.anniversary.anchor_date",
    ),
    "no service codes": ([], [limit_defined("m-bad", service_codes=[])], "data.service_codes"),
    "threshold above 1": (
        [],
        [limit_defined("m-bad", thresholds=["0.5", "1.2"])],
        "data.thresholds.1",
    ),
    "threshold zero": ([], [limit_defined("m-bad", thresholds=["0"])], "data.thresholds.0"),
    "defined twice": (
        [limit_defined("m-bad")],
        [limit_defined("m-bad", limit="40")],
        "data.benefit_id",
    ),
    "defined twice in one batch": (
        [],
        [limit_defined("m-bad"), limit_defined("m-bad", limit="40")],
        "data.benefit_id",
    ),
    "verification of unknown benefit": (
        [],
        [verified("nope", "2026-03-01", "2")],
        "data.benefit_id",
    ),
    "verification negative": (
        [limit_defined("m-bad")],
        [verified("ben-1", "2026-03-01", "-2")],
        "data.used",
    ),
    "verification without source": (
        [limit_defined("m-bad")],
        [event("benefit.usage_verified", benefit_id="ben-1", as_of="2026-03-01", used="2")],
        "data.source",
    ),
    "amendment of unknown benefit": (
        [],
        [event("benefit.limit_amended", benefit_id="nope", limit="3")],
        "data.benefit_id",
    ),
    "amendment changing nothing": (
        [limit_defined("m-bad")],
        [event("benefit.limit_amended", benefit_id="ben-1")],
        "data",
    ),
    "amendment of the unit": (
        [limit_defined("m-bad")],
        [event("benefit.limit_amended", benefit_id="ben-1", unit="units")],
        "data.unit",
    ),
    "amendment limit zero": (
        [limit_defined("m-bad")],
        [event("benefit.limit_amended", benefit_id="ben-1", limit="0")],
        "data.limit",
    ),
    "coverage end before start": (
        [coverage("started", "m-bad", "2026-03-01")],
        [coverage("ended", "m-bad", "2026-02-28")],
        "data.date",
    ),
    "coverage end without start": ([], [coverage("ended", "m-bad", "2026-03-01")], "data.payer_id"),
    "coverage ended twice": (
        [coverage("started", "m-bad", "2026-03-01"), coverage("ended", "m-bad", "2026-04-01")],
        [coverage("ended", "m-bad", "2026-05-01")],
        "data.payer_id",
    ),
    "coverage started while open": (
        [coverage("started", "m-bad", "2026-03-01")],
        [coverage("started", "m-bad", "2026-04-01")],
        "data.date",
    ),
    "coverage impossible date": ([], [coverage("started", "m-bad", "2026-02-30")], "data.date"),
}


def _fresh(events: list[dict[str, Any]], member_id: str) -> list[dict[str, Any]]:
    """The same events with new ids and the test's own member."""
    out = []
    for item in events:
        data = dict(item["data"])
        if data.get("member_id") == "m-bad":
            data["member_id"] = member_id
        out.append({**item, "id": str(uuid.uuid4()), "data": data})
    return out


@pytest.mark.parametrize("case", sorted(BAD_BATCHES))
async def test_bad_input_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, tenant: Tenant, case: str
):
    setup, batch, field = BAD_BATCHES[case]
    member = new_member()
    if setup:
        await record(client, tenant, *_fresh(setup, member))
    stored = tenant.ledger_count()
    answer = await post_events(client, tenant, _fresh(batch, member))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_event"
    assert error["message"]
    assert any(d["field"] == field for d in error["details"]), error["details"]
    assert all(d["index"] is not None for d in error["details"])
    assert tenant.ledger_count() == stored


async def test_defining_again_says_amend_it(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(client, tenant, limit_defined(member))
    stored = tenant.ledger_count()
    answer = await post_events(client, tenant, [limit_defined(member, limit="40")])
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["error"]["details"]
    assert problem["field"] == "data.benefit_id"
    assert "already defined; amend it instead" in problem["problem"]
    assert tenant.ledger_count() == stored
    assert Decimal((await one(client, tenant, member, "2026-06-30"))["limit"]) == 30


async def test_a_refused_event_refuses_its_whole_batch(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    answer = await post_events(
        client,
        tenant,
        [
            limit_defined(member),
            confirmed(member, "2026-03-01"),
            verified("ben-1", "2026-03-01", "2"),
            limit_defined(member, "ben-2", limit="0"),
        ],
    )
    assert answer.status_code == 422, answer.text
    assert [d["index"] for d in answer.json()["error"]["details"]] == [3]
    assert tenant.ledger_count() == 0
    missing = await client.get(
        f"/v1/members/{member}/benefits",
        params={"as_of": "2026-03-31"},
        headers=tenant.auth("reader"),
    )
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"as_of": "2026-02-30"}, "as_of"),
        ({"as_of": "2026-03-31", "known_at": "yesterday"}, "known_at"),
    ],
)
async def test_bad_query_parameters(
    client: httpx.AsyncClient, tenant: Tenant, params: dict[str, str], field: str
):
    member = new_member()
    await record(client, tenant, limit_defined(member))
    for path in (f"/v1/members/{member}/benefits", f"/v1/members/{member}/benefits/ben-1"):
        answer = await client.get(path, params=params, headers=tenant.auth("reader"))
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_request"
        assert [d["field"] for d in error["details"]] == [field]


# 8. Tenancy and roles


async def test_another_tenant_sees_nothing(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
):
    member = new_member()
    await record(
        client,
        tenant,
        limit_defined(member, limit="10"),
        *[confirmed(member, f"2026-07-0{day}") for day in range(1, 10)],
    )
    other = make_tenant(database_url)
    paths = [f"/v1/members/{member}/benefits", f"/v1/members/{member}/benefits/ben-1"]
    for path in paths:
        mine = await client.get(path, params={"as_of": "2026-07-31"}, headers=tenant.auth("reader"))
        assert mine.status_code == 200, mine.text
        theirs = await client.get(
            path, params={"as_of": "2026-07-31"}, headers=other.auth("reader")
        )
        assert theirs.status_code == 404, theirs.text
        assert theirs.json()["error"]["code"] == "not_found"

    # the other tenant can neither verify nor amend this tenant's benefit
    for foreign in (
        verified("ben-1", "2026-07-15", "1"),
        event("benefit.limit_amended", benefit_id="ben-1", limit="99"),
    ):
        answer = await post_events(client, other, [foreign])
        assert answer.status_code == 422, answer.text
    assert other.ledger_count() == 0

    # the other tenant's own member, same ids, is a separate ledger
    await record(client, other, limit_defined(member, limit="100"), confirmed(member, "2026-07-01"))
    assert figures(await one(client, tenant, member, "2026-07-31")) == (9, 1, False)
    theirs = await client.get(
        f"/v1/members/{member}/benefits/ben-1",
        params={"as_of": "2026-07-31"},
        headers=other.auth("reader"),
    )
    assert figures(theirs.json()) == (1, 99, False)

    report = "/v1/reports/benefits-near-limit"
    mine = await client.get(report, params={"as_of": "2026-07-31"}, headers=tenant.auth("reader"))
    assert [(i["member_id"], i["used"]) for i in mine.json()["items"]] == [(member, "9")]
    theirs = await client.get(report, params={"as_of": "2026-07-31"}, headers=other.auth("reader"))
    assert theirs.status_code == 200, theirs.text
    assert theirs.json()["items"] == []


async def test_unknown_member_or_benefit_is_404(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(client, tenant, limit_defined(member))
    for path in (
        f"/v1/members/{new_member()}/benefits",
        f"/v1/members/{new_member()}/benefits/ben-1",
        f"/v1/members/{member}/benefits/nope",
    ):
        answer = await client.get(path, params={"as_of": "2026-07-31"}, headers=tenant.auth())
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["error"]["code"] == "not_found"


BENEFIT_QUERIES = [
    "/v1/members/member-x/benefits",
    "/v1/members/member-x/benefits/ben-1",
    "/v1/reports/benefits-near-limit",
]


@pytest.mark.parametrize("path", BENEFIT_QUERIES)
async def test_queries_need_the_reader_role(client: httpx.AsyncClient, tenant: Tenant, path: str):
    await record(client, tenant, limit_defined("member-x"))
    answer = await client.get(
        path, params={"as_of": "2026-07-31"}, headers=tenant.auth("subscriber")
    )
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "forbidden"
    allowed = await client.get(path, params={"as_of": "2026-07-31"}, headers=tenant.auth("reader"))
    assert allowed.status_code == 200, allowed.text


@pytest.mark.parametrize("path", BENEFIT_QUERIES)
@pytest.mark.parametrize("header", [None, "Bearer nope"])
async def test_queries_need_a_key(client: httpx.AsyncClient, path: str, header: str | None):
    headers = {"Authorization": header} if header else {}
    answer = await client.get(path, params={"as_of": "2026-07-31"}, headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthenticated"


async def test_recording_needs_the_writer_role(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    for batch in (
        [limit_defined(member)],
        [coverage("started", member, "2026-01-01")],
    ):
        answer = await post_events(client, tenant, batch, who="reader")
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "forbidden"
    assert tenant.ledger_count() == 0
    await record(client, tenant, limit_defined(member))
    answer = await post_events(client, tenant, [verified("ben-1", "2026-03-01", "1")], who="reader")
    assert answer.status_code == 403, answer.text
    assert tenant.ledger_count() == 1


# 9. The near-limit report


async def test_near_limit_report(client: httpx.AsyncClient, tenant: Tenant):
    full, half, over = new_member(), new_member(), new_member()
    await record(
        client,
        tenant,
        limit_defined(full, limit="10"),
        *[confirmed(full, f"2026-08-0{day}") for day in range(1, 9)],  # 8 of 10: 80%
        limit_defined(half, "ben-half", limit="10"),
        *[confirmed(half, f"2026-08-0{day}") for day in range(1, 6)],  # 5 of 10: 50%
        limit_defined(over, "ben-over", limit="4"),
        *[confirmed(over, f"2026-08-0{day}") for day in range(1, 6)],  # 5 of 4: 125%
    )
    path = "/v1/reports/benefits-near-limit"
    answer = await client.get(path, params={"as_of": "2026-08-31"}, headers=tenant.auth("reader"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["as_of"], Decimal(body["threshold"])) == ("2026-08-31", Decimal("0.8"))
    assert isinstance(body["position"], int)
    rows = body["items"]
    assert [(r["member_id"], r["benefit_id"]) for r in rows] == [
        (over, "ben-over"),
        (full, "ben-1"),
    ]  # fullest first; not the one at 50%
    first, second = rows
    assert (first["used"], first["remaining"], first["exhausted"]) == ("5", "0", True)
    assert Decimal(first["fraction_used"]) == Decimal("1.25")
    assert (second["used"], second["remaining"], second["exhausted"]) == ("8", "2", False)
    assert Decimal(second["fraction_used"]) == Decimal("0.8")
    assert second["period"] == {
        "type": "calendar_year",
        "start": "2026-01-01",
        "end": "2026-12-31",
        **CALENDAR_PERIOD,
    }
    assert (second["benefit_code"], second["payer_id"], second["unit"]) == ("PT", PAYER, "visits")
    assert (Decimal(second["limit"]), second["reconciliation"]) == (10, False)

    explicit = await client.get(
        path, params={"as_of": "2026-08-31", "threshold": "0.5"}, headers=tenant.auth("reader")
    )
    assert [r["member_id"] for r in explicit.json()["items"]] == [over, full, half]
    # a new period starts empty
    next_year = await client.get(
        path, params={"as_of": "2027-01-01"}, headers=tenant.auth("reader")
    )
    assert next_year.json()["items"] == []


@pytest.mark.parametrize("threshold", ["abc", "0", "-0.5", "NaN"])
async def test_near_limit_bad_threshold(client: httpx.AsyncClient, tenant: Tenant, threshold: str):
    answer = await client.get(
        "/v1/reports/benefits-near-limit",
        params={"as_of": "2026-08-31", "threshold": threshold},
        headers=tenant.auth("reader"),
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert [d["field"] for d in error["details"]] == ["threshold"]


async def test_near_limit_report_known_at(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    first = await record(
        client,
        tenant,
        limit_defined(member, limit="10"),
        confirmed(member, "2026-08-01"),
    )
    before = first["results"][-1]["recorded_at"]
    await record(client, tenant, verified("ben-1", "2026-08-15", "9"))
    path = "/v1/reports/benefits-near-limit"
    now = await client.get(path, params={"as_of": "2026-08-31"}, headers=tenant.auth("reader"))
    assert [(r["member_id"], r["used"]) for r in now.json()["items"]] == [(member, "9")]
    then = await client.get(
        path, params={"as_of": "2026-08-31", "known_at": before}, headers=tenant.auth("reader")
    )
    assert then.status_code == 200, then.text
    assert then.json()["items"] == []


# 10. Eligibility is not accumulation


async def test_not_eligible_after_coverage_ended(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        coverage("started", member, "2026-01-01"),
        limit_defined(member, limit="10"),
        confirmed(member, "2026-03-01", "v-covered"),
        confirmed(member, "2026-06-30", "v-last-day"),
        confirmed(member, "2026-07-15", "v-after"),
        confirmed(member, "2026-07-16", "v-other-payer", payer_id="payer-2"),
    )

    async def not_eligible(visit_id: str) -> bool:
        answer = await client.get(f"/v1/visits/{visit_id}", headers=tenant.auth("reader"))
        assert answer.status_code == 200, answer.text
        flag: bool = answer.json()["not_eligible"]
        return flag

    # while coverage is open every visit of the payer is eligible
    assert [await not_eligible(v) for v in ("v-covered", "v-after")] == [False, False]

    await record(client, tenant, coverage("ended", member, "2026-06-30"))
    assert await not_eligible("v-covered") is False
    assert await not_eligible("v-last-day") is False  # the end date is covered
    assert await not_eligible("v-after") is True
    assert await not_eligible("v-other-payer") is False  # no coverage facts for payer-2 at all

    body = await detail(client, tenant, member, "2026-07-31")
    assert figures(body) == (3, 7, False)  # the visit outside coverage still counts
    assert [(v["visit_id"], v["counted"], v["not_eligible"]) for v in body["visits"]] == [
        ("v-covered", True, False),
        ("v-last-day", True, False),
        ("v-after", True, True),
    ]

    # a visit recorded after the coverage ended is flagged at once
    await record(client, tenant, confirmed(member, "2026-08-01", "v-later"))
    assert await not_eligible("v-later") is True
    assert figures(await one(client, tenant, member, "2026-08-31")) == (4, 6, False)

    # coverage started again: visits inside the new span are eligible, the gap stays flagged
    await record(
        client,
        tenant,
        coverage("started", member, "2026-09-01"),
        confirmed(member, "2026-09-02", "v-renewed"),
    )
    assert await not_eligible("v-renewed") is False
    assert await not_eligible("v-later") is True
    body = await detail(client, tenant, member, "2026-09-30")
    flags = {v["visit_id"]: v["not_eligible"] for v in body["visits"]}
    assert flags["v-renewed"] is False
    assert flags["v-later"] is True


async def test_not_eligible_before_coverage_started(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        limit_defined(member, limit="10"),
        confirmed(member, "2026-02-01", "v-early"),
        confirmed(member, "2026-04-01", "v-inside"),
    )
    await record(client, tenant, coverage("started", member, "2026-03-01"))
    early = await client.get("/v1/visits/v-early", headers=tenant.auth("reader"))
    assert early.json()["not_eligible"] is True
    inside = await client.get("/v1/visits/v-inside", headers=tenant.auth("reader"))
    assert inside.json()["not_eligible"] is False
    body = await detail(client, tenant, member, "2026-04-30")
    assert figures(body) == (2, 8, False)
    assert [(v["visit_id"], v["not_eligible"]) for v in body["visits"]] == [
        ("v-early", True),
        ("v-inside", False),
    ]


async def test_not_eligible_as_known_at(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    first = await record(
        client,
        tenant,
        coverage("started", member, "2026-01-01"),
        limit_defined(member, limit="10"),
        confirmed(member, "2026-07-15", "v-after"),
    )
    before = first["results"][-1]["recorded_at"]
    await record(client, tenant, coverage("ended", member, "2026-06-30"))

    now = await client.get("/v1/visits/v-after", headers=tenant.auth("reader"))
    assert now.json()["not_eligible"] is True
    then = await client.get(
        "/v1/visits/v-after", params={"known_at": before}, headers=tenant.auth("reader")
    )
    assert then.status_code == 200, then.text
    assert then.json()["not_eligible"] is False
    old = await detail(client, tenant, member, "2026-07-31", known_at=before)
    assert [v["not_eligible"] for v in old["visits"]] == [False]
    new = await detail(client, tenant, member, "2026-07-31")
    assert [v["not_eligible"] for v in new["visits"]] == [True]


async def test_recalculation_finds_nothing_to_correct(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        coverage("started", member, "2026-01-01"),
        limit_defined(member, limit="10"),
        confirmed(member, "2026-03-01", "v-in"),
        confirmed(member, "2026-08-01", "v-out"),
        verified("ben-1", "2026-03-01", "2"),
    )
    await record(client, tenant, coverage("ended", member, "2026-06-30"))
    answer = await client.post(
        "/v1/admin/recalculate", json={"member_id": member}, headers=tenant.auth("admin")
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["corrected"] == 0
    visit = await client.get("/v1/visits/v-out", headers=tenant.auth("reader"))
    assert visit.json()["not_eligible"] is True
    assert figures(await one(client, tenant, member, "2026-08-31")) == (3, 7, False)


async def test_visit_changes_follow_the_latest_state(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        limit_defined(member, limit="20", unit="units"),
        scheduled(member, "2026-12-30", "v-moved", units="2"),
        event("visit.confirmed", visit_id="v-moved"),
        scheduled(member, "2026-12-01", "v-more", units="2"),
        event("visit.confirmed", visit_id="v-more", units="5"),  # confirmed with its real units
        confirmed(member, "2026-12-02", "v-missed", units="3"),
        event("visit.missed", visit_id="v-missed"),
    )
    assert figures(await one(client, tenant, member, "2026-12-31")) == (7, 13, False)
    await record(
        client, tenant, event("visit.rescheduled", visit_id="v-moved", service_date="2027-01-04")
    )
    assert figures(await one(client, tenant, member, "2026-12-31")) == (5, 15, False)
    body = await detail(client, tenant, member, "2027-01-31")
    assert [(v["visit_id"], v["service_date"]) for v in body["visits"]] == [
        ("v-moved", "2027-01-04")
    ]
    assert figures(body) == (2, 18, False)


async def test_a_later_report_for_the_same_day_corrects_the_earlier(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await record(
        client,
        tenant,
        limit_defined(member, limit="20"),
        verified("ben-1", "2026-05-10", "6", reference="first"),
        confirmed(member, "2026-05-20"),
    )
    correction = verified("ben-1", "2026-05-10", "4", reference="corrected")
    await record(client, tenant, correction)
    item = await one(client, tenant, member, "2026-05-31")
    assert figures(item) == (5, 15, False)
    assert (item["verification"]["event_id"], item["verification"]["reference"]) == (
        correction["id"],
        "corrected",
    )


async def test_amount_limit_comes_from_reports(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        limit_defined(member, limit="1500.00", unit="amount"),
        confirmed(member, "2026-04-01", "v-1", units="3"),
        verified("ben-1", "2026-04-15", "1200.50"),
    )
    item = await one(client, tenant, member, "2026-04-30")
    assert (item["unit"], Decimal(item["limit"])) == ("amount", Decimal("1500"))
    assert figures(item) == (Decimal("1200.50"), Decimal("299.50"), False)
    body = await detail(client, tenant, member, "2026-04-30")
    assert [(v["visit_id"], Decimal(v["amount"])) for v in body["visits"]] == [("v-1", 0)]


async def test_anniversary_on_29_february(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        limit_defined(
            member, limit="10", period={"type": "anniversary", "anchor_date": "2024-02-29"}
        ),
        confirmed(member, "2026-02-27"),
        confirmed(member, "2026-02-28"),
    )
    assert period(await one(client, tenant, member, "2026-02-27")) == ("2025-02-28", "2026-02-27")
    after = await one(client, tenant, member, "2026-02-28")
    assert period(after) == ("2026-02-28", "2027-02-27")
    assert figures(after) == (1, 9, False)


async def test_another_members_benefit_is_404(client: httpx.AsyncClient, tenant: Tenant):
    mine, theirs = new_member(), new_member()
    await record(client, tenant, limit_defined(mine, "ben-mine"), limit_defined(theirs, "ben-b"))
    answer = await client.get(
        f"/v1/members/{mine}/benefits/ben-b",
        params={"as_of": "2026-07-31"},
        headers=tenant.auth("reader"),
    )
    assert answer.status_code == 404, answer.text
    assert sorted(await items(client, tenant, mine, "2026-07-31")) == ["ben-mine"]


# Dates at the edge of what the ledger holds (docs/api.md, "Conventions": 1900-01-01 to
# 2199-12-31): a visit or an as_of in year 9999 is refused with a clear 422, never computed with;
# the last year it holds works.


async def test_a_visit_in_9999_is_refused_for_a_member_with_or_without_a_limit(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    answer = await post_events(client, tenant, [confirmed(member, "9999-12-31")])
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["details"][0]["field"] == "data.service_date"
    await record(client, tenant, limit_defined(member))
    stored = tenant.ledger_count()
    answer = await post_events(client, tenant, [confirmed(member, "9999-12-31")])
    assert answer.status_code == 422, answer.text
    assert tenant.ledger_count() == stored
    answer = await post_events(client, tenant, [confirmed(member, "2199-12-31")])
    assert answer.status_code == 200, answer.text


async def test_as_of_in_year_9999_is_refused_and_the_last_year_held_answers(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await record(client, tenant, limit_defined(member))
    for path in (
        f"/v1/members/{member}/benefits",
        f"/v1/members/{member}/benefits/ben-1",
        "/v1/reports/benefits-near-limit",
    ):
        answer = await client.get(
            path, params={"as_of": "9999-06-01"}, headers=tenant.auth("reader")
        )
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["error"]["details"][0]["field"] == "as_of"
    item = await one(client, tenant, member, "2199-06-01")
    assert period(item) == ("2199-01-01", "2199-12-31")


async def test_as_of_before_the_first_plan_year_of_year_1(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await record(client, tenant, limit_defined(member, period=_plan_year(7, 1)))
    answer = await client.get(
        f"/v1/members/{member}/benefits",
        params={"as_of": "0001-01-01"},
        headers=tenant.auth("reader"),
    )
    # an answer, or a clear refusal of as_of; never an internal error
    assert answer.status_code in (200, 422), answer.text
    if answer.status_code == 422:
        error = answer.json()["error"]
        assert error["code"] == "invalid_request"
        assert [d["field"] for d in error["details"]] == ["as_of"]
