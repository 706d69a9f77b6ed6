"""Claims accumulators through the HTTP API (accumulation.md section 4), on SQLite and PostgreSQL.

Every test records its facts with POST /v1/events (schedules, enrollments, claims) and reads them
back with the three `accumulators` endpoints, always with an explicit `effective_date` (never
today's date). Money is compared as Decimal, to the cent.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.integration.conftest import Tenant, make_tenant, post_events

CALENDAR_YEAR = {"type": "calendar_year"}
PLAN_YEAR_JULY = {"type": "plan_year", "start_month": 7, "start_day": 1}
REVERSION_LEVELS = [
    {"from_day": 1, "to_day": 4, "coinsurance_percent": "70"},
    {"from_day": 5, "coinsurance_percent": "50"},
]


def event(type_: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": type_, "data": data}


def new_member() -> str:
    return f"member-{uuid.uuid4().hex[:10]}"


def acc(code: str, type_: str, amount: str | None = None, **extra: Any) -> dict[str, Any]:
    """One accumulator of a schedule."""
    data: dict[str, Any] = {"code": code, "description": f"{code} accumulator", "type": type_}
    if amount is not None:
        data["amount"] = amount
    data.update(extra)
    return data


MEDICAL_ACCUMULATORS = [
    acc("DED", "deductible", "500"),
    acc("FDED", "deductible", "1000", level="family"),
    acc("OOP", "maximum", "3000", kind="out_of_pocket"),
    acc("BEN", "maximum", "10000", kind="benefit"),
    acc("SNF", "day", "10"),
    acc("REV", "reversion", levels=REVERSION_LEVELS),
]


def schedule(
    schedule_id: str = "MED",
    accumulators: list[dict[str, Any]] | None = None,
    plan_type: str = "medical",
    period: dict[str, Any] | None = None,
    coinsurance: str = "80",
    **extra: Any,
) -> dict[str, Any]:
    return event(
        "accumulator.schedule_defined",
        schedule_id=schedule_id,
        plan_type=plan_type,
        effective_date="2026-01-01",
        benefit_period=period or CALENDAR_YEAR,
        coinsurance_percent=coinsurance,
        accumulators=accumulators if accumulators is not None else MEDICAL_ACCUMULATORS,
        **extra,
    )


def enrolled(
    member_id: str, schedule_id: str = "MED", start: str = "2026-01-01", **extra: Any
) -> dict[str, Any]:
    return event(
        "member.enrolled", member_id=member_id, schedule_id=schedule_id, start_date=start, **extra
    )


def line(
    from_date: str,
    applied: dict[str, str] | None = None,
    thru_date: str | None = None,
    allowed: str = "100.00",
    number: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "line_number": number,
        "from_date": from_date,
        "thru_date": thru_date or from_date,
        "allowed_amount": allowed,
        "applied": [{"accumulator_code": c, "amount": a} for c, a in (applied or {}).items()],
        **extra,
    }


def claim(
    claim_id: str,
    member_id: str,
    *lines: dict[str, Any],
    status: str = "paid",
    plan_type: str = "medical",
    provider: str = "Dr Adams",
    **extra: Any,
) -> dict[str, Any]:
    return event(
        "claim.adjudicated",
        claim_id=claim_id,
        reference_number=f"REF-{claim_id}",
        member_id=member_id,
        plan_type=plan_type,
        billing_provider=provider,
        status=status,
        lines=list(lines),
        **extra,
    )


def status_changed(claim_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return event("claim.status_changed", claim_id=claim_id, status=status, **extra)


def voided(claim_id: str) -> dict[str, Any]:
    return event("claim.voided", claim_id=claim_id, reason="entered in error")


def adjusted(claim_id: str, *lines: dict[str, Any]) -> dict[str, Any]:
    return event("claim.adjusted", claim_id=claim_id, lines=list(lines))


async def record(client: httpx.AsyncClient, tenant: Tenant, *events: dict) -> dict[str, Any]:
    answer = await post_events(client, tenant, list(events))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def listing(
    client: httpx.AsyncClient, tenant: Tenant, member_id: str, effective: str, **params: str
) -> dict[str, Any]:
    answer = await client.get(
        f"/v1/members/{member_id}/accumulators",
        params={"effective_date": effective, **params},
        headers=tenant.auth("reader"),
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["member_id"] == member_id
    assert body["effective_date"] == effective
    assert isinstance(body["position"], int)
    return body


def by_code(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The rows of an answer by code (for accumulators kept whole, one row each)."""
    rows: dict[str, dict[str, Any]] = {}
    for item in body["items"]:
        assert item["code"] not in rows, f"{item['code']} has several rows"
        rows[item["code"]] = item
    return rows


async def rows(
    client: httpx.AsyncClient, tenant: Tenant, member_id: str, effective: str, **params: str
) -> dict[str, dict[str, Any]]:
    return by_code(await listing(client, tenant, member_id, effective, **params))


def figures(item: dict[str, Any]) -> tuple[Decimal, Decimal]:
    return Decimal(item["applied_amount"]), Decimal(item["remaining_amount"])


def applied_of(body: dict[str, Any]) -> dict[str, tuple[Decimal, Decimal]]:
    return {code: figures(item) for code, item in by_code(body).items()}


def period(item: dict[str, Any]) -> tuple[str | None, str | None]:
    return item["period"]["start"], item["period"]["end"]


async def simulate(
    client: httpx.AsyncClient,
    tenant: Tenant,
    member_id: str,
    *lines: dict[str, Any],
    effective: str = "2026-06-30",
    plan_type: str = "medical",
) -> httpx.Response:
    body = {"effective_date": effective, "claim": {"plan_type": plan_type, "lines": list(lines)}}
    return await client.post(
        f"/v1/members/{member_id}/accumulators/simulate", json=body, headers=tenant.auth("reader")
    )


async def simulated(
    client: httpx.AsyncClient, tenant: Tenant, member_id: str, *lines: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    answer = await simulate(client, tenant, member_id, *lines, **kw)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def shares(body: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Each simulated line's cost share by line number, checking member + plan == allowed."""
    return {share["line_number"]: share for share in body["claim_lines"]}


def money(share: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    return (
        Decimal(share["deductible"]),
        Decimal(share["coinsurance"]),
        Decimal(share["member_total"]),
        Decimal(share["plan_paid"]),
    )


def share_applied(share: dict[str, Any]) -> dict[str, Decimal]:
    return {a["accumulator_code"]: Decimal(a["amount"]) for a in share["applied"]}


async def detail(
    client: httpx.AsyncClient,
    tenant: Tenant,
    member_id: str,
    code: str,
    effective: str = "2026-12-31",
    **params: str,
) -> httpx.Response:
    return await client.get(
        f"/v1/members/{member_id}/accumulators/{code}/claims",
        params={"effective_date": effective, **params},
        headers=tenant.auth("reader"),
    )


async def detail_json(
    client: httpx.AsyncClient, tenant: Tenant, member_id: str, code: str, **params: str
) -> dict[str, Any]:
    answer = await detail(client, tenant, member_id, code, **params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def feed(client: httpx.AsyncClient, tenant: Tenant, kind: str) -> list[dict[str, Any]]:
    answer = await client.get(
        "/v1/feeds/events", params={"limit": 1000}, headers=tenant.auth("subscriber")
    )
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [i["sequence"] for i in items] == list(range(1, len(items) + 1))
    return [item for item in items if item["type"] == kind]


def moves(items: list[dict[str, Any]]) -> dict[str, tuple[Decimal, ...]]:
    """accumulator.changed items by code: (previous applied, remaining, current applied,
    remaining)."""
    found: dict[str, tuple[Decimal, ...]] = {}
    for item in items:
        data = item["data"]
        assert data["code"] not in found, f"{data['code']} changed twice"
        found[data["code"]] = (
            Decimal(data["previous"]["applied"]),
            Decimal(data["previous"]["remaining"]),
            Decimal(data["current"]["applied"]),
            Decimal(data["current"]["remaining"]),
        )
    return found


# 1. Applied and remaining: what counts, the period, the reset


async def test_only_paid_and_released_claims_count(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        schedule(),
        enrolled(member),
        claim("c-paid", member, line("2026-02-01", {"DED": "100", "OOP": "100", "BEN": "400"})),
        claim("c-rel", member, line("2026-02-02", {"DED": "50", "OOP": "50"}), status="released"),
        claim("c-pend", member, line("2026-02-03", {"DED": "200", "OOP": "200"}), status="pending"),
        claim("c-proc", member, line("2026-02-04", {"DED": "7", "BEN": "7"}), status="processed"),
        claim("c-den", member, line("2026-02-05", {"DED": "9", "SNF": "2"}), status="denied"),
        claim(
            "c-snf",
            member,
            line("2026-03-01", {"SNF": "3", "REV": "3"}, thru_date="2026-03-03", days=3),
        ),
    )
    body = await listing(client, tenant, member, "2026-06-30")
    found = by_code(body)
    assert [item["code"] for item in body["items"]] == ["DED", "FDED", "OOP", "BEN", "SNF", "REV"]
    assert body["cob"] == []
    assert figures(found["DED"]) == (150, 350)
    assert figures(found["OOP"]) == (150, 2850)
    assert figures(found["BEN"]) == (400, 9600)
    assert figures(found["SNF"]) == (3, 7)
    assert Decimal(found["REV"]["applied_amount"]) == 3
    ded = found["DED"]
    assert (ded["plan_type"], ded["schedule_id"], ded["type"], ded["level"]) == (
        "medical",
        "MED",
        "deductible",
        "individual",
    )
    assert (ded["network"], ded["illness"], ded["tooth"]) == ("any", None, None)
    assert Decimal(ded["schedule_amount"]) == 500
    assert period(ded) == ("2026-01-01", "2026-12-31")
    assert (found["OOP"]["type"], found["OOP"]["kind"]) == ("maximum", "out_of_pocket")
    assert (found["BEN"]["type"], found["BEN"]["kind"]) == ("maximum", "benefit")

    # a status_changed to paid makes the pending claim count; away from paid it stops counting
    await record(client, tenant, status_changed("c-pend", "paid", release_date="2026-03-10"))
    after = await rows(client, tenant, member, "2026-06-30")
    assert figures(after["DED"]) == (350, 150)
    assert figures(after["OOP"]) == (350, 2650)
    await record(client, tenant, status_changed("c-rel", "denied"))
    assert figures((await rows(client, tenant, member, "2026-06-30"))["DED"]) == (300, 200)
    await record(client, tenant, status_changed("c-proc", "released"))
    later = await rows(client, tenant, member, "2026-06-30")
    assert figures(later["DED"]) == (307, 193)
    assert figures(later["BEN"]) == (407, 9593)


async def test_remaining_is_never_below_zero(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        schedule(),
        enrolled(member),
        claim("c1", member, line("2026-02-01", {"DED": "450", "OOP": "2900", "BEN": "9000"})),
        claim(
            "c2",
            member,
            line("2026-02-10", {"DED": "150", "OOP": "400", "BEN": "1500"}),
            line("2026-03-01", {"SNF": "12"}, thru_date="2026-03-12", days=12, number=2),
        ),
    )
    found = await rows(client, tenant, member, "2026-06-30")
    assert figures(found["DED"]) == (600, 0)
    assert figures(found["OOP"]) == (3300, 0)
    assert figures(found["BEN"]) == (10500, 0)
    assert figures(found["SNF"]) == (12, 0)


async def test_lines_count_in_the_period_of_their_from_date_calendar_year(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await record(
        client,
        tenant,
        schedule(),
        enrolled(member),
        # from 30 December thru 2 January: the whole line counts in 2026
        claim(
            "c-span",
            member,
            line("2026-12-30", {"DED": "100", "SNF": "4"}, thru_date="2027-01-02", days=4),
        ),
        claim(
            "c-two",
            member,
            line("2026-12-31", {"DED": "20"}),
            line("2027-01-01", {"DED": "7"}, number=2),
        ),
    )
    year = await rows(client, tenant, member, "2026-12-31")
    assert period(year["DED"]) == ("2026-01-01", "2026-12-31")
    assert figures(year["DED"]) == (120, 380)
    assert figures(year["SNF"]) == (4, 6)

    start = await rows(client, tenant, member, "2027-01-01")
    assert period(start["DED"]) == ("2027-01-01", "2027-12-31")
    assert figures(start["DED"]) == (7, 493)
    assert figures(start["SNF"]) == (0, 10)

    # the next period with no line in it: applied 0, the whole amount remains
    empty = await rows(client, tenant, member, "2028-06-01")
    assert period(empty["DED"]) == ("2028-01-01", "2028-12-31")
    for code, amount in (("DED", 500), ("FDED", 1000), ("OOP", 3000), ("BEN", 10000)):
        assert figures(empty[code]) == (0, amount), code
    assert figures(empty["SNF"]) == (0, 10)


async def test_plan_year_resets_on_its_start_day(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        schedule(period=PLAN_YEAR_JULY),
        enrolled(member),
        claim("c-eve", member, line("2026-06-30", {"DED": "100", "OOP": "100"})),
        claim("c-reset", member, line("2026-07-01", {"DED": "30", "OOP": "30"})),
        claim("c-later", member, line("2027-06-30", {"DED": "5", "OOP": "5"})),
    )
    eve = await rows(client, tenant, member, "2026-06-30")
    assert period(eve["DED"]) == ("2025-07-01", "2026-06-30")
    assert figures(eve["DED"]) == (100, 400)

    first = await rows(client, tenant, member, "2026-07-01")
    assert period(first["DED"]) == ("2026-07-01", "2027-06-30")
    assert figures(first["DED"]) == (35, 465)
    assert figures(first["OOP"]) == (35, 2965)
    last_day = await rows(client, tenant, member, "2027-06-30")
    assert figures(last_day["DED"]) == (35, 465)

    following = await rows(client, tenant, member, "2027-07-01")
    assert period(following["DED"]) == ("2027-07-01", "2028-06-30")
    assert figures(following["DED"]) == (0, 500)
    assert figures(following["OOP"]) == (0, 3000)


async def test_lifetime_never_resets(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        schedule(period={"type": "lifetime"}),
        enrolled(member),
        claim("c1", member, line("2026-02-01", {"BEN": "4000"})),
        claim("c2", member, line("2027-11-01", {"BEN": "3000"})),
    )
    for effective in ("2026-06-30", "2030-01-01"):
        found = await rows(client, tenant, member, effective)
        assert period(found["BEN"]) == (None, None)
        assert figures(found["BEN"]) == (7000, 3000), effective


# 2. Void, adjustment, known_at


async def test_void_and_adjustment_and_known_at(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    first = await record(
        client,
        tenant,
        schedule(),
        enrolled(member),
        claim("c1", member, line("2026-02-01", {"DED": "300", "OOP": "300"})),
        claim("c2", member, line("2026-02-10", {"DED": "100", "OOP": "100"})),
    )
    before_adjustment = first["results"][-1]["recorded_at"]
    assert applied_of(await listing(client, tenant, member, "2026-06-30"))["DED"] == (400, 100)

    # the adjustment replaces c2's lines: the latest version counts
    second = await record(
        client,
        tenant,
        adjusted(
            "c2",
            line("2026-02-10", {"DED": "50", "OOP": "60"}),
            line("2026-03-01", {"DED": "20", "OOP": "20", "BEN": "80"}, number=2),
        ),
    )
    before_void = second["results"][-1]["recorded_at"]
    found = await rows(client, tenant, member, "2026-06-30")
    assert figures(found["DED"]) == (370, 130)
    assert figures(found["OOP"]) == (380, 2620)
    assert figures(found["BEN"]) == (80, 9920)
    lines = (await detail_json(client, tenant, member, "DED"))["claims"]
    assert [(c["claim_id"], c["line_number"], Decimal(c["amount"])) for c in lines] == [
        ("c1", 1, 300),
        ("c2", 1, 50),
        ("c2", 2, 20),
    ]

    # the void reverses c1 entirely
    third = await record(client, tenant, voided("c1"))
    now = await listing(client, tenant, member, "2026-06-30")
    found = by_code(now)
    assert figures(found["DED"]) == (70, 430)
    assert figures(found["OOP"]) == (80, 2920)
    assert now["position"] >= third["last_position"]
    lines = (await detail_json(client, tenant, member, "DED"))["claims"]
    assert [c["claim_id"] for c in lines] == ["c2", "c2"]

    # known_at before the void, and before the adjustment, shows the figures then
    then = await listing(client, tenant, member, "2026-06-30", known_at=before_void)
    assert figures(by_code(then)["DED"]) == (370, 130)
    assert then["position"] < third["last_position"]
    earlier = await rows(client, tenant, member, "2026-06-30", known_at=before_adjustment)
    assert figures(earlier["DED"]) == (400, 100)
    assert figures(earlier["OOP"]) == (400, 2600)
    assert figures(earlier["BEN"]) == (0, 10000)
    old_detail = await detail_json(client, tenant, member, "DED", known_at=before_void)
    assert [c["claim_id"] for c in old_detail["claims"]] == ["c1", "c2", "c2"]

    # before the member's first fact the ledger knows nothing of the member
    answer = await client.get(
        f"/v1/members/{member}/accumulators",
        params={"effective_date": "2026-06-30", "known_at": "2020-01-01T00:00:00Z"},
        headers=tenant.auth("reader"),
    )
    assert answer.status_code == 404, answer.text


# 3. Family accumulators


async def test_family_accumulators_sum_the_family(client: httpx.AsyncClient, tenant: Tenant):
    one, two, three, stranger, alone = (new_member() for _ in range(5))
    await record(
        client,
        tenant,
        schedule(),
        enrolled(one, family_id="F1"),
        enrolled(two, family_id="F1"),
        enrolled(three, family_id="F1"),
        enrolled(stranger, family_id="F2"),
        enrolled(alone),
        claim("c1", one, line("2026-02-01", {"DED": "100", "FDED": "100"})),
        claim("c2", two, line("2026-02-02", {"DED": "200", "FDED": "200"})),
        claim("c3", three, line("2026-02-03", {"DED": "300", "FDED": "300"})),
        claim("c3p", three, line("2026-02-04", {"DED": "9", "FDED": "9"}), status="pending"),
        claim("c4", stranger, line("2026-02-05", {"DED": "400", "FDED": "400"})),
        claim("c5", alone, line("2026-02-06", {"DED": "50", "FDED": "50"})),
    )
    for member, own in ((one, 100), (two, 200), (three, 300)):
        found = await rows(client, tenant, member, "2026-06-30")
        assert figures(found["DED"]) == (own, 500 - own), member
        assert figures(found["FDED"]) == (600, 400), member
        assert found["FDED"]["level"] == "family"
    found = await rows(client, tenant, stranger, "2026-06-30")
    assert figures(found["DED"]) == (400, 100)
    assert figures(found["FDED"]) == (400, 600)
    found = await rows(client, tenant, alone, "2026-06-30")
    assert figures(found["FDED"]) == (50, 950)

    family = await detail_json(client, tenant, one, "FDED")
    assert sorted((c["member_id"], c["claim_id"]) for c in family["claims"]) == sorted(
        [(one, "c1"), (two, "c2"), (three, "c3")]
    )
    own = await detail_json(client, tenant, one, "DED")
    assert [(c["member_id"], c["claim_id"]) for c in own["claims"]] == [(one, "c1")]

    # a void in the family lowers every member's family figure
    await record(client, tenant, voided("c2"))
    assert figures((await rows(client, tenant, three, "2026-06-30"))["FDED"]) == (400, 600)


async def test_family_known_at_before_another_member_joined(
    client: httpx.AsyncClient, tenant: Tenant
):
    one, two = new_member(), new_member()
    first = await record(
        client,
        tenant,
        schedule(),
        enrolled(one, family_id="F1"),
        claim("c1", one, line("2026-02-01", {"DED": "100", "FDED": "100"})),
    )
    before = first["results"][-1]["recorded_at"]
    await record(
        client,
        tenant,
        enrolled(two, family_id="F1"),
        claim("c2", two, line("2026-02-02", {"DED": "200", "FDED": "200"})),
    )
    assert figures((await rows(client, tenant, one, "2026-06-30"))["FDED"]) == (300, 700)
    then = await rows(client, tenant, one, "2026-06-30", known_at=before)
    assert figures(then["FDED"]) == (100, 900)


# 4. Per illness, per tooth, networks


async def test_per_illness_per_tooth_and_networks(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    medical = [
        acc("DIN", "deductible", "500", network="in"),
        acc("DOUT", "deductible", "1000", network="out"),
        acc("ILL", "maximum", "100", kind="benefit", per="illness"),
    ]
    dental = [acc("DENT", "maximum", "1000", kind="benefit", per="tooth")]
    await record(
        client,
        tenant,
        schedule("MED", medical),
        schedule("DEN", dental, plan_type="dental"),
        enrolled(member, "MED"),
        enrolled(member, "DEN"),
        claim(
            "c1",
            member,
            line("2026-02-01", {"DIN": "75", "ILL": "30"}, illness="A"),
            line("2026-02-02", {"DOUT": "200", "ILL": "50"}, network="out", illness="B", number=2),
        ),
        claim("c2", member, line("2026-03-01", {"DIN": "5", "ILL": "10"}, illness="A")),
        claim("c3", member, line("2026-03-02", {"DOUT": "1"}, network="out")),
        claim("d1", member, line("2026-04-01", {"DENT": "300"}, tooth="14"), plan_type="dental"),
        claim("d2", member, line("2026-04-02", {"DENT": "200"}, tooth="30"), plan_type="dental"),
        claim("d3", member, line("2026-04-03", {"DENT": "50"}, tooth="14"), plan_type="dental"),
    )
    body = await listing(client, tenant, member, "2026-06-30")
    items = body["items"]
    assert {item["plan_type"] for item in items} == {"medical"}
    networks = {i["code"]: (i["network"], *figures(i)) for i in items if i["code"] != "ILL"}
    assert networks == {"DIN": ("in", 80, 420), "DOUT": ("out", 201, 799)}
    illness = {i["illness"]: figures(i) for i in items if i["code"] == "ILL"}
    assert illness == {"A": (40, 60), "B": (50, 50)}
    assert all(i["tooth"] is None for i in items)

    dental_body = await listing(client, tenant, member, "2026-06-30", plan_type="dental")
    teeth = {i["tooth"]: figures(i) for i in dental_body["items"]}
    assert teeth == {"14": (350, 650), "30": (200, 800)}
    assert {(i["code"], i["illness"]) for i in dental_body["items"]} == {("DENT", None)}

    only_b = await detail_json(client, tenant, member, "ILL", illness="B")
    assert only_b["accumulator"]["illness"] == "B"
    assert [(c["claim_id"], c["line_number"]) for c in only_b["claims"]] == [("c1", 2)]
    only_a = await detail_json(client, tenant, member, "ILL", illness="A")
    assert [c["claim_id"] for c in only_a["claims"]] == ["c1", "c2"]
    tooth = await detail_json(client, tenant, member, "DENT", tooth="14")
    assert [(c["claim_id"], Decimal(c["amount"])) for c in tooth["claims"]] == [
        ("d1", 300),
        ("d3", 50),
    ]
    assert (await detail(client, tenant, member, "ILL", illness="Z")).status_code == 404


async def test_a_new_illness_starts_at_zero_in_a_simulation(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    medical = [
        acc("DIN", "deductible", "100", network="in"),
        acc("DOUT", "deductible", "300", network="out"),
        acc("ILL", "maximum", "1000", kind="benefit", per="illness"),
    ]
    await record(
        client,
        tenant,
        schedule("MED", medical),
        enrolled(member),
        claim("c1", member, line("2026-02-01", {"DIN": "100", "ILL": "450"}, illness="A")),
    )
    # out of network: only the out deductible (untouched) and illness B's own row (0 applied)
    body = await simulated(
        client,
        tenant,
        member,
        line("2026-05-01", allowed="1000.00", network="out", illness="B"),
    )
    share = shares(body)[1]
    assert money(share) == (300, 140, 440, 560)
    assert share_applied(share) == {"DOUT": 300, "ILL": 560}
    illness = {i["illness"]: figures(i) for i in body["items"] if i["code"] == "ILL"}
    assert illness == {"A": (450, 550), "B": (560, 440)}


# 5. Plan types


async def test_plan_type_default_dental_and_all_plans(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        schedule("DEN", [acc("DDED", "deductible", "50")], plan_type="dental"),
        schedule("MED", [acc("DED", "deductible", "500")]),
        schedule("DEN2", [acc("DED", "deductible", "70")], plan_type="dental2"),
        enrolled(member, "DEN"),  # enrolled in dental first
        enrolled(member, "MED"),
        enrolled(member, "DEN2"),
        claim("c1", member, line("2026-02-01", {"DED": "100"})),
        claim("d1", member, line("2026-02-02", {"DDED": "20"}), plan_type="dental"),
        # the same code in another plan type counts only there
        claim("e1", member, line("2026-02-03", {"DED": "7"}), plan_type="dental2"),
    )
    default = await listing(client, tenant, member, "2026-06-30")
    assert [(i["plan_type"], i["schedule_id"], i["code"]) for i in default["items"]] == [
        ("medical", "MED", "DED")
    ]
    assert figures(default["items"][0]) == (100, 400)

    dental = await listing(client, tenant, member, "2026-06-30", plan_type="dental")
    assert [(i["plan_type"], i["code"], *figures(i)) for i in dental["items"]] == [
        ("dental", "DDED", 20, 30)
    ]
    by_schedule = await listing(client, tenant, member, "2026-06-30", schedule_id="DEN")
    assert [i["code"] for i in by_schedule["items"]] == ["DDED"]

    every = await listing(client, tenant, member, "2026-06-30", all_plans="true")
    assert sorted((i["plan_type"], i["code"], *figures(i)) for i in every["items"]) == [
        ("dental", "DDED", 20, 30),
        ("dental2", "DED", 7, 63),
        ("medical", "DED", 100, 400),
    ]
    plain = await listing(client, tenant, member, "2026-06-30", all_plans="false")
    assert plain["items"] == default["items"]

    none = await listing(client, tenant, member, "2026-06-30", plan_type="vision")
    assert none["items"] == []


# 6. Simulate: the claim being processed, with the cost share (4.3, 4.4)


async def test_simulate_deductible_partly_met_then_coinsurance(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await record(
        client,
        tenant,
        schedule(),
        enrolled(member),
        claim("c1", member, line("2026-02-01", {"DED": "300", "OOP": "300", "BEN": "0"})),
        claim("c-pending", member, line("2026-02-02", {"DED": "200"}), status="pending"),
    )
    before = await listing(client, tenant, member, "2026-06-30")
    stored = tenant.ledger_count()

    # line 1 is later than line 2: line 2 takes the rest of the deductible
    body = await simulated(
        client,
        tenant,
        member,
        line("2026-05-10", allowed="333.33", number=1),
        line("2026-05-01", allowed="1000.00", number=2),
    )
    found = shares(body)
    assert sorted(found) == [1, 2]
    # 1000.00: deductible 200 (500 - 300), 80% of the 800 left by the plan: member 160
    assert money(found[2]) == (200, 160, 360, 640)
    assert share_applied(found[2]) == {
        "DED": 200,
        "FDED": 200,
        "OOP": 360,
        "BEN": 640,
        "SNF": 0,
        "REV": 0,
    }
    # 333.33: deductible met, 20% = 66.666 -> the member 66.67, the plan 266.66
    assert money(found[1]) == (0, Decimal("66.67"), Decimal("66.67"), Decimal("266.66"))
    assert share_applied(found[1])["OOP"] == Decimal("66.67")
    allowed = {1: Decimal("333.33"), 2: Decimal("1000.00")}
    for number, share in found.items():
        assert Decimal(share["member_total"]) + Decimal(share["plan_paid"]) == allowed[number]
        assert share["uncovered_days"] == 0

    # the accumulators in the answer count the claim
    assert body["effective_date"] == "2026-06-30"
    assert body["member_id"] == member
    counted = applied_of(body)
    assert counted["DED"] == (500, 0)
    assert counted["FDED"] == (200, 800)  # c1 applied nothing to the family deductible
    assert counted["OOP"] == (Decimal("726.67"), Decimal("2273.33"))
    assert counted["BEN"] == (Decimal("906.66"), Decimal("9093.34"))

    # nothing was stored
    assert tenant.ledger_count() == stored
    assert await listing(client, tenant, member, "2026-06-30") == before


async def test_simulate_rounds_each_line_half_up_to_cents(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await record(
        client,
        tenant,
        schedule(
            accumulators=[acc("OOP", "maximum", "9000", kind="out_of_pocket")], coinsurance="50"
        ),
        enrolled(member),
    )
    body = await simulated(
        client,
        tenant,
        member,
        line("2026-05-01", allowed="100.01", number=1),
        line("2026-05-02", allowed="0.01", number=2),
        line("2026-05-03", allowed="333.33", number=3),
    )
    found = shares(body)
    # half a cent: the member's half rounds up, the plan's down
    assert money(found[1]) == (0, Decimal("50.01"), Decimal("50.01"), Decimal("50.00"))
    assert money(found[2]) == (0, Decimal("0.01"), Decimal("0.01"), Decimal("0.00"))
    assert money(found[3]) == (0, Decimal("166.67"), Decimal("166.67"), Decimal("166.66"))
    assert applied_of(body)["OOP"] == (Decimal("216.69"), Decimal("8783.31"))


async def test_simulate_out_of_pocket_cap(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        schedule(),
        enrolled(member),
        claim("c1", member, line("2026-02-01", {"DED": "300", "OOP": "2750"})),
    )
    stored = tenant.ledger_count()
    body = await simulated(
        client,
        tenant,
        member,
        line("2026-05-01", allowed="1000.00", number=1),
        line("2026-05-02", allowed="500.00", number=2),
    )
    found = shares(body)
    # deductible 200, coinsurance 160 -> 360 > 250 left: the cap removes coinsurance first
    assert money(found[1]) == (200, 50, 250, 750)
    assert share_applied(found[1])["OOP"] == 250
    assert share_applied(found[1])["DED"] == 200
    # out-of-pocket reached: the plan pays everything
    assert money(found[2]) == (0, 0, 0, 500)
    assert share_applied(found[2])["OOP"] == 0
    counted = applied_of(body)
    assert counted["OOP"] == (3000, 0)
    assert counted["DED"] == (500, 0)
    assert tenant.ledger_count() == stored


async def test_simulate_benefit_maximum_reached(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    accumulators = [
        acc("DED", "deductible", "500"),
        acc("OOP", "maximum", "5000", kind="out_of_pocket"),
        acc("BEN", "maximum", "1000", kind="benefit"),
    ]
    await record(
        client,
        tenant,
        schedule(accumulators=accumulators),
        enrolled(member),
        claim("c1", member, line("2026-02-01", {"DED": "500", "OOP": "500", "BEN": "700"})),
    )
    body = await simulated(client, tenant, member, line("2026-05-01", allowed="1000.00"))
    share = shares(body)[1]
    # the plan's 800 is capped at the 300 left; the 500 beyond is the member's, not out-of-pocket
    assert money(share) == (0, 200, 700, 300)
    assert share_applied(share) == {"DED": 0, "OOP": 200, "BEN": 300}
    counted = applied_of(body)
    assert counted["BEN"] == (1000, 0)
    assert counted["OOP"] == (700, 4300)

    # with the maximum reached the plan pays nothing more
    body = await simulated(
        client,
        tenant,
        member,
        line("2026-05-01", allowed="1000.00", number=1),
        line("2026-05-02", allowed="100.00", number=2),
    )
    assert money(shares(body)[2]) == (0, 20, 100, 0)


async def test_simulate_days_beyond_the_day_accumulator(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    accumulators = [
        acc("SNF", "day", "10"),
        acc(
            "REV",
            "reversion",
            levels=[
                {"from_day": 1, "to_day": 4, "coinsurance_percent": "70"},
                {"from_day": 5, "to_day": 9, "coinsurance_percent": "60"},
                {"from_day": 10, "coinsurance_percent": "50"},
            ],
        ),
    ]
    await record(
        client,
        tenant,
        schedule(accumulators=accumulators),
        enrolled(member),
        claim(
            "c1",
            member,
            line("2026-03-01", {"SNF": "8", "REV": "8"}, thru_date="2026-03-08", days=8),
        ),
    )
    stored = tenant.ledger_count()
    body = await simulated(
        client,
        tenant,
        member,
        line("2026-05-01", thru_date="2026-05-05", allowed="1000.00", days=5),
    )
    share = shares(body)[1]
    # 2 of 5 days covered (400.00): day 9 at 60%, day 10 at 50% -> the plan 220.00;
    # the 3 uncovered days (600.00) are the member's
    assert share["uncovered_days"] == 3
    assert money(share) == (0, 180, 780, 220)
    assert share_applied(share) == {"SNF": 2, "REV": 2}
    counted = applied_of(body)
    assert counted["SNF"] == (10, 0)
    assert Decimal(by_code(body)["REV"]["applied_amount"]) == 10
    assert tenant.ledger_count() == stored

    # without the earlier days the same line is covered in full, days 9.. become days 1-5
    other = new_member()
    await record(client, tenant, enrolled(other))
    body = await simulated(
        client, tenant, other, line("2026-05-01", thru_date="2026-05-05", allowed="1000.00", days=5)
    )
    share = shares(body)[1]
    assert share["uncovered_days"] == 0
    # days 1-4 at 70%, day 5 at 60% -> 200 * (4 * 0.7 + 0.6) = 680.00
    assert money(share) == (0, 320, 320, 680)


async def test_simulate_family_deductible_met_meets_the_individual_one(
    client: httpx.AsyncClient, tenant: Tenant
):
    one, two = new_member(), new_member()
    await record(
        client,
        tenant,
        schedule(),
        enrolled(one, family_id="F"),
        enrolled(two, family_id="F"),
        claim("c1", one, line("2026-02-01", {"DED": "500", "FDED": "800"})),
        claim("c2", two, line("2026-02-02", {"DED": "100", "FDED": "100"})),
    )
    body = await simulated(client, tenant, two, line("2026-05-01", allowed="400.00"))
    share = shares(body)[1]
    # two's own deductible has 400 left, the family's only 100: 100, then 20% of 300
    assert money(share) == (100, 60, 160, 240)
    assert applied_of(body)["DED"] == (200, 300)
    assert applied_of(body)["FDED"] == (1000, 0)
    body = await simulated(
        client,
        tenant,
        two,
        line("2026-05-01", allowed="400.00", number=1),
        line("2026-05-02", allowed="100.00", number=2),
    )
    # the family deductible is met: two's individual one (300 left) takes nothing
    assert money(shares(body)[2]) == (0, 20, 20, 80)


async def test_simulate_keeps_the_adjudicators_applied_amounts(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await record(client, tenant, schedule(), enrolled(member))
    body = await simulated(
        client, tenant, member, line("2026-05-01", {"DED": "10", "OOP": "10"}, allowed="1000.00")
    )
    assert share_applied(shares(body)[1]) == {"DED": 10, "OOP": 10}
    counted = applied_of(body)
    assert counted["DED"] == (10, 490)
    assert counted["BEN"] == (0, 10000)

    # without effective_date the answer is for the claim's first date
    answer = await client.post(
        f"/v1/members/{member}/accumulators/simulate",
        json={"claim": {"plan_type": "medical", "lines": [line("2027-03-01", {"DED": "4"})]}},
        headers=tenant.auth("reader"),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["effective_date"] == "2027-03-01"
    assert period(by_code(body)["DED"]) == ("2027-01-01", "2027-12-31")
    assert figures(by_code(body)["DED"]) == (4, 496)


async def test_simulate_for_a_member_not_enrolled(client: httpx.AsyncClient, tenant: Tenant):
    member, ended = new_member(), new_member()
    await record(
        client,
        tenant,
        schedule(),
        schedule("DEN", [acc("DDED", "deductible", "50")], plan_type="dental"),
        enrolled(member, "DEN"),
        enrolled(ended, end_date="2026-03-31"),
    )
    stored = tenant.ledger_count()
    # no enrollment of the plan type at all: the claim would have to name its schedule
    for who, plan_type in ((member, "medical"), (ended, "vision")):
        answer = await simulate(
            client, tenant, who, line("2026-05-01", allowed="100.00"), plan_type=plan_type
        )
        assert answer.status_code == 422, answer.text
        [problem] = answer.json()["error"]["details"]
        assert problem["field"] == "claim.plan_type", problem
        assert f"no {plan_type} enrollment" in problem["problem"]
    # after the enrollment ended: counted in it, as the ledger would record it (4.1)
    body = await simulated(
        client, tenant, ended, line("2026-05-01", allowed="100.00"), effective="2026-05-01"
    )
    assert by_code(body)["DED"]["eligible"] is False
    assert figures(by_code(body)["DED"]) == (100, 400)
    # an unknown code in applied is refused the same way
    answer = await simulate(client, tenant, ended, line("2026-02-01", {"NOPE": "1"}))
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["error"]["details"]
    assert problem["field"] == "claim.lines.0.applied.0.accumulator_code"
    # a member the ledger has never seen is absent
    answer = await simulate(client, tenant, new_member(), line("2026-05-01"))
    assert answer.status_code == 404, answer.text
    assert tenant.ledger_count() == stored


# 7. Detail: the claims history of one accumulator (4.5)


async def detail_setup(client: httpx.AsyncClient, tenant: Tenant, member: str) -> None:
    await record(
        client,
        tenant,
        schedule(),
        enrolled(member),
        claim(
            "c1",
            member,
            line(
                "2026-03-01",
                {"SNF": "3", "REV": "3", "DED": "100"},
                thru_date="2026-03-03",
                days=3,
                allowed="900.00",
            ),
            provider="Sunrise Nursing",
            release_date="2026-03-20",
        ),
        claim(
            "c2",
            member,
            line("2026-04-10", {"SNF": "3", "REV": "3"}, thru_date="2026-04-12", days=3),
            provider="Hill Hospital",
            status="released",
        ),
        claim(
            "c3",
            member,
            line("2026-05-01", {"SNF": "2", "REV": "2"}, thru_date="2026-05-02", days=2),
            status="pending",
        ),
    )


async def test_detail_lists_claims_and_days(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await detail_setup(client, tenant, member)
    body = await detail_json(client, tenant, member, "SNF", effective="2026-06-30")
    assert (body["member_id"], body["effective_date"]) == (member, "2026-06-30")
    row = body["accumulator"]
    assert (row["code"], row["type"]) == ("SNF", "day")
    assert (Decimal(row["applied_amount"]), Decimal(row["remaining_amount"])) == (6, 4)
    claims = [
        (
            c["reference_number"],
            c["status"],
            c["billing_provider"],
            c["release_date"],
            c["from_date"],
            c["thru_date"],
            Decimal(c["amount"]),
        )
        for c in body["claims"]
    ]
    assert claims == [
        ("REF-c1", "paid", "Sunrise Nursing", "2026-03-20", "2026-03-01", "2026-03-03", 3),
        ("REF-c2", "released", "Hill Hospital", None, "2026-04-10", "2026-04-12", 3),
    ]
    days = [
        (d["date"], d["day_number"], d["reversion_level"], Decimal(d["coinsurance_percent"]))
        for d in body["days"]
    ]
    assert days == [
        ("2026-03-01", 1, "1-4", 70),
        ("2026-03-02", 2, "1-4", 70),
        ("2026-03-03", 3, "1-4", 70),
        ("2026-04-10", 4, "1-4", 70),
        ("2026-04-11", 5, "5+", 50),
        ("2026-04-12", 6, "5+", 50),
    ]
    reversion = await detail_json(client, tenant, member, "REV", effective="2026-06-30")
    assert reversion["accumulator"]["type"] == "reversion"
    assert reversion["days"] == body["days"]

    money_row = await detail_json(client, tenant, member, "DED", effective="2026-06-30")
    assert [(c["reference_number"], Decimal(c["amount"])) for c in money_row["claims"]] == [
        ("REF-c1", 100)
    ]
    assert money_row["days"] == []

    # the pending claim once paid joins the history; the next year has none of it
    await record(client, tenant, status_changed("c3", "paid", release_date="2026-05-20"))
    body = await detail_json(client, tenant, member, "SNF", effective="2026-06-30")
    assert [c["reference_number"] for c in body["claims"]] == ["REF-c1", "REF-c2", "REF-c3"]
    assert body["claims"][-1]["release_date"] == "2026-05-20"
    assert [d["day_number"] for d in body["days"]] == list(range(1, 9))
    next_year = await detail_json(client, tenant, member, "SNF", effective="2027-06-30")
    assert (next_year["claims"], next_year["days"]) == ([], [])


async def test_detail_as_csv_and_html(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await detail_setup(client, tenant, member)
    answer = await detail(client, tenant, member, "SNF", effective="2026-06-30", format="csv")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(answer.text)))
    header = table[0]
    for column in (
        "reference_number",
        "status",
        "billing_provider",
        "release_date",
        "from_date",
        "thru_date",
        "amount",
    ):
        assert column in header, header
    first = dict(zip(header, table[1], strict=True))
    assert (first["reference_number"], first["status"], first["from_date"]) == (
        "REF-c1",
        "paid",
        "2026-03-01",
    )
    assert "REF-c2" in answer.text
    assert "REF-c3" not in answer.text

    answer = await detail(client, tenant, member, "SNF", effective="2026-06-30", format="html")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert member in answer.text
    assert "SNF" in answer.text
    assert "Sunrise Nursing" in answer.text

    answer = await detail(client, tenant, member, "SNF", effective="2026-06-30", format="json")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")


async def test_detail_bad_format_and_unknown_code(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await detail_setup(client, tenant, member)
    answer = await detail(client, tenant, member, "SNF", format="xml")
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert [d["field"] for d in error["details"]] == ["format"]
    for code, who in (("NOPE", member), ("SNF", new_member())):
        answer = await detail(client, tenant, who, code)
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"effective_date": "2026-02-30"}, "effective_date"),
        ({"effective_date": "2026-06-30", "known_at": "yesterday"}, "known_at"),
    ],
)
async def test_bad_query_parameters(
    client: httpx.AsyncClient, tenant: Tenant, params: dict[str, str], field: str
):
    member = new_member()
    await record(client, tenant, schedule(), enrolled(member))
    for path in (
        f"/v1/members/{member}/accumulators",
        f"/v1/members/{member}/accumulators/DED/claims",
    ):
        answer = await client.get(path, params=params, headers=tenant.auth("reader"))
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert [d["field"] for d in error["details"]] == [field]


# 8. Bad input: refused, named, nothing stored

SETUP_MEMBER = "m-bad"


def base_setup() -> list[dict[str, Any]]:
    return [
        schedule(),
        enrolled(SETUP_MEMBER),
        claim("c-paid", SETUP_MEMBER, line("2026-02-01", {"DED": "10"})),
        claim("c-void", SETUP_MEMBER, line("2026-02-02", {"DED": "20"})),
        voided("c-void"),
    ]


def bad_line(**overrides: Any) -> dict[str, Any]:
    return {**line("2026-03-01", {"DED": "1"}), **overrides}


def rev(levels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [acc("DED", "deductible", "100"), acc("REV", "reversion", levels=levels)]


BAD_EVENTS: dict[str, tuple[list[dict[str, Any]], str]] = {
    "enrolled in an unknown schedule": ([enrolled("m-new", "NOPE")], "data.schedule_id"),
    "unknown accumulator code": (
        [claim("c-new", SETUP_MEMBER, line("2026-03-01", {"DED": "1", "NOPE": "1"}))],
        "data.lines.0.applied.1.accumulator_code",
    ),
    "status outside the list": (
        [claim("c-new", SETUP_MEMBER, bad_line(), status="approved")],
        "data.status",
    ),
    "status_changed outside the list": ([status_changed("c-paid", "settled")], "data.status"),
    "negative allowed amount": (
        [claim("c-new", SETUP_MEMBER, bad_line(allowed_amount="-1.00"))],
        "data.lines.0.allowed_amount",
    ),
    "days that do not fit": (
        [claim("c-new", SETUP_MEMBER, bad_line(thru_date="2026-03-02", days=3))],
        "data.lines.0",
    ),
    "thru before from": (
        [claim("c-new", SETUP_MEMBER, bad_line(thru_date="2026-02-28"))],
        "data.lines.0",
    ),
    "adjusted lines with thru before from": (
        [adjusted("c-paid", bad_line(thru_date="2026-02-28"))],
        "data.lines.0",
    ),
    "reversion levels with a gap": (
        [
            schedule(
                "S2",
                rev(
                    [
                        {"from_day": 1, "to_day": 4, "coinsurance_percent": "70"},
                        {"from_day": 6, "coinsurance_percent": "50"},
                    ]
                ),
            )
        ],
        "data.accumulators.1",
    ),
    "reversion levels with an overlap": (
        [
            schedule(
                "S2",
                rev(
                    [
                        {"from_day": 1, "to_day": 4, "coinsurance_percent": "70"},
                        {"from_day": 4, "coinsurance_percent": "50"},
                    ]
                ),
            )
        ],
        "data.accumulators.1",
    ),
    "an open reversion level not last": (
        [
            schedule(
                "S2",
                rev(
                    [
                        {"from_day": 1, "coinsurance_percent": "70"},
                        {"from_day": 5, "to_day": 9, "coinsurance_percent": "50"},
                    ]
                ),
            )
        ],
        "data.accumulators.1",
    ),
    "a maximum without kind": (
        [schedule("S2", [acc("DED", "deductible", "1"), acc("MAX", "maximum", "100")])],
        "data.accumulators.1",
    ),
    "claim for a plan type the member has no enrollment of": (
        [claim("c-new", SETUP_MEMBER, bad_line(), plan_type="dental")],
        "data.plan_type",
    ),
    "claim for a member never enrolled": (
        [claim("c-new", "m-stranger", bad_line())],
        "data.plan_type",
    ),
    "two schedules covering a claim without schedule_id": (
        [
            schedule("MED2", [acc("DED", "deductible", "100")]),
            enrolled(SETUP_MEMBER, "MED2"),
            claim("c-new", SETUP_MEMBER, bad_line()),
        ],
        "data.schedule_id",
    ),
    "claim naming an unknown schedule": (
        [claim("c-new", SETUP_MEMBER, bad_line(), schedule_id="NOPE")],
        "data.schedule_id",
    ),
    "claim naming a schedule of another plan type": (
        [
            schedule("DEN", [acc("DED", "deductible", "50")], plan_type="dental"),
            claim("c-new", SETUP_MEMBER, bad_line(), schedule_id="DEN"),
        ],
        "data.schedule_id",
    ),
    "negative patient_responsibility": (
        [claim("c-new", SETUP_MEMBER, bad_line(patient_responsibility="-0.01"))],
        "data.lines.0.patient_responsibility",
    ),
    "patient_responsibility beyond cents": (
        [claim("c-new", SETUP_MEMBER, bad_line(patient_responsibility="1.001"))],
        "data.lines.0.patient_responsibility",
    ),
    "status_changed for an unknown claim": ([status_changed("c-nope", "paid")], "data.claim_id"),
    "voided for an unknown claim": ([voided("c-nope")], "data.claim_id"),
    "adjusted for an unknown claim": ([adjusted("c-nope", bad_line())], "data.claim_id"),
    "the same claim adjudicated twice": (
        [claim("c-paid", SETUP_MEMBER, bad_line())],
        "data.claim_id",
    ),
    "the same claim twice in one batch": (
        [claim("c-new", SETUP_MEMBER, bad_line()), claim("c-new", SETUP_MEMBER, bad_line())],
        "data.claim_id",
    ),
    "status change of a voided claim": ([status_changed("c-void", "paid")], "data.claim_id"),
    "adjusted lines applying a code of no schedule": (
        [adjusted("c-paid", bad_line(applied=[{"accumulator_code": "NOPE", "amount": "1"}]))],
        "data.lines.0.applied.0.accumulator_code",
    ),
    "adjustment of a voided claim": ([adjusted("c-void", bad_line())], "data.claim_id"),
    "void of a voided claim": ([voided("c-void")], "data.claim_id"),
}


def _fresh(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same events with new ids (a case's events are built once, at import)."""
    return [{**item, "id": str(uuid.uuid4())} for item in events]


@pytest.mark.parametrize("case", sorted(BAD_EVENTS))
async def test_bad_input_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, tenant: Tenant, case: str
):
    batch, field = BAD_EVENTS[case]
    await record(client, tenant, *_fresh(base_setup()))
    stored = tenant.ledger_count()
    answer = await post_events(client, tenant, _fresh(batch))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_event"
    assert error["message"]
    assert any(d["field"] == field for d in error["details"]), error["details"]
    assert all(d["index"] is not None and d["problem"] for d in error["details"])
    assert tenant.ledger_count() == stored
    # the figures are untouched
    found = await rows(client, tenant, SETUP_MEMBER, "2026-06-30")
    assert figures(found["DED"]) == (10, 490)


async def test_a_refused_claim_refuses_its_whole_batch(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    stored = tenant.ledger_count()
    answer = await post_events(
        client,
        tenant,
        [
            schedule(),
            enrolled(member),
            claim("c1", member, line("2026-02-01", {"DED": "10"})),
            claim("c2", member, line("2026-02-01", {"NOPE": "10"})),
        ],
    )
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["error"]["details"]
    assert (problem["index"], problem["field"]) == (3, "data.lines.0.applied.0.accumulator_code")
    assert tenant.ledger_count() == stored
    missing = await client.get(
        f"/v1/members/{member}/accumulators",
        params={"effective_date": "2026-06-30"},
        headers=tenant.auth("reader"),
    )
    assert missing.status_code == 404, missing.text


# 9. Derived events on the feed


async def test_accumulator_changed_on_record_and_void(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(client, tenant, schedule(), enrolled(member))
    assert await feed(client, tenant, "accumulator.changed") == []

    paid = claim("c1", member, line("2026-02-01", {"DED": "300", "OOP": "300"}))
    await record(client, tenant, paid)
    changed = await feed(client, tenant, "accumulator.changed")
    assert moves(changed) == {"DED": (0, 500, 300, 200), "OOP": (0, 3000, 300, 2700)}
    for item in changed:
        data = item["data"]
        assert (data["member_id"], data["claim_id"], data["cause_event_id"]) == (
            member,
            "c1",
            paid["id"],
        )
        assert data["period"] == {"start": "2026-01-01", "end": "2026-12-31"}
        assert data["plan_type"] == "medical"
        assert isinstance(data["position"], int)

    # a pending claim moves nothing; its status change to paid does
    await record(
        client, tenant, claim("c2", member, line("2026-03-01", {"DED": "50"}), status="pending")
    )
    assert len(await feed(client, tenant, "accumulator.changed")) == 2
    await record(client, tenant, status_changed("c2", "paid"))
    changed = await feed(client, tenant, "accumulator.changed")
    assert moves(changed[2:]) == {"DED": (300, 200, 350, 150)}

    void = voided("c1")
    await record(client, tenant, void)
    changed = (await feed(client, tenant, "accumulator.changed"))[3:]
    assert moves(changed) == {"DED": (350, 150, 50, 450), "OOP": (300, 2700, 0, 3000)}
    assert {item["data"]["cause_event_id"] for item in changed} == {void["id"]}
    assert {item["data"]["claim_id"] for item in changed} == {"c1"}
    assert await feed(client, tenant, "accumulator.met") == []


async def test_accumulator_met_once(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        schedule(),
        enrolled(member),
        claim("c1", member, line("2026-02-01", {"DED": "300"})),
    )
    assert await feed(client, tenant, "accumulator.met") == []

    reaching = claim("c2", member, line("2026-02-10", {"DED": "200"}))
    await record(client, tenant, reaching)
    [met] = await feed(client, tenant, "accumulator.met")
    data = met["data"]
    assert (data["member_id"], data["code"], data["type"]) == (member, "DED", "deductible")
    assert (Decimal(data["applied"]), Decimal(data["schedule_amount"])) == (500, 500)
    assert (data["claim_id"], data["cause_event_id"]) == ("c2", reaching["id"])
    assert data["period"] == {"start": "2026-01-01", "end": "2026-12-31"}

    # a second claim after that moves the deductible but does not meet it again
    await record(client, tenant, claim("c3", member, line("2026-03-01", {"DED": "100"})))
    assert len(await feed(client, tenant, "accumulator.met")) == 1
    changed = await feed(client, tenant, "accumulator.changed")
    assert moves(changed[-1:]) == {"DED": (500, 0, 600, 0)}


async def illness_feed_setup(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    member = new_member()
    paid = claim("c1", member, line("2026-02-01", {"ILL": "30"}, illness="A"))
    await record(
        client,
        tenant,
        schedule(accumulators=[acc("ILL", "deductible", "100", per="illness")]),
        enrolled(member),
        paid,
    )
    return paid


def illness_moves(
    items: list[dict[str, Any]],
) -> list[tuple[str | None, Decimal, Decimal, Decimal]]:
    """(illness, previous applied, current applied, current remaining) of each change."""
    return [
        (
            item["data"]["illness"],
            Decimal(item["data"]["previous"]["applied"]),
            Decimal(item["data"]["current"]["applied"]),
            Decimal(item["data"]["current"]["remaining"]),
        )
        for item in items
    ]


async def test_per_illness_rows_on_the_feed(client: httpx.AsyncClient, tenant: Tenant):
    await illness_feed_setup(client, tenant)
    first = await feed(client, tenant, "accumulator.changed")
    assert ("A", 0, 30, 70) in illness_moves(first)

    # the adjustment moves the line to illness B: A goes back to 0, B takes 30
    adjustment = adjusted("c1", line("2026-02-01", {"ILL": "30"}, illness="B"))
    await record(client, tenant, adjustment)
    moved = (await feed(client, tenant, "accumulator.changed"))[len(first) :]
    assert {item["data"]["cause_event_id"] for item in moved} == {adjustment["id"]}
    assert sorted(m for m in illness_moves(moved) if m[0] is not None) == [
        ("A", 30, 0, 100),
        ("B", 0, 30, 70),
    ]

    # the void takes B back to 0
    seen = len(first) + len(moved)
    void = voided("c1")
    await record(client, tenant, void)
    gone = (await feed(client, tenant, "accumulator.changed"))[seen:]
    assert {item["data"]["cause_event_id"] for item in gone} == {void["id"]}
    assert [m for m in illness_moves(gone) if m[0] is not None] == [("B", 30, 0, 100)]


async def test_feed_previous_remaining_of_a_new_illness_row(
    client: httpx.AsyncClient, tenant: Tenant
):
    await illness_feed_setup(client, tenant)
    changed = await feed(client, tenant, "accumulator.changed")
    [new_row] = [item for item in changed if item["data"]["illness"] == "A"]
    assert new_row["data"]["previous"] == {"applied": "0.00", "remaining": "100.00"}


async def test_feed_no_change_event_for_a_row_that_did_not_move(
    client: httpx.AsyncClient, tenant: Tenant
):
    paid = await illness_feed_setup(client, tenant)
    changed = await feed(client, tenant, "accumulator.changed")
    for item in changed:
        assert item["data"]["previous"] != item["data"]["current"], item
    assert [(i["data"]["illness"], i["data"]["cause_event_id"]) for i in changed] == [
        ("A", paid["id"])
    ]


# 10. Tenancy and roles


async def test_another_tenant_sees_nothing(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
):
    member = new_member()
    await record(
        client,
        tenant,
        schedule(),
        enrolled(member, family_id="F1"),
        claim("c1", member, line("2026-02-01", {"DED": "100", "FDED": "100"})),
    )
    other = make_tenant(database_url)
    params = {"effective_date": "2026-06-30"}
    for path in (
        f"/v1/members/{member}/accumulators",
        f"/v1/members/{member}/accumulators/DED/claims",
    ):
        mine = await client.get(path, params=params, headers=tenant.auth("reader"))
        assert mine.status_code == 200, mine.text
        theirs = await client.get(path, params=params, headers=other.auth("reader"))
        assert theirs.status_code == 404, theirs.text
        assert theirs.json()["error"]["code"] == "not_found"
    answer = await simulate(client, other, member, line("2026-05-01"))
    assert answer.status_code == 404, answer.text

    # the other tenant can neither use this tenant's schedule nor touch its claim
    for foreign in (
        enrolled(new_member(), "MED"),
        status_changed("c1", "denied"),
        voided("c1"),
        adjusted("c1", line("2026-02-01", {"DED": "1"})),
    ):
        answer = await post_events(client, other, [foreign])
        assert answer.status_code == 422, answer.text
    assert other.ledger_count() == 0

    # the same ids in the other tenant are a separate ledger, its family F1 another family
    relative = new_member()
    their_schedule = [
        acc("DED", "deductible", "900"),
        acc("FDED", "deductible", "2000", level="family"),
    ]
    await record(
        client,
        other,
        schedule(accumulators=their_schedule),
        enrolled(member, family_id="F1"),
        enrolled(relative, family_id="F1"),
        claim("c1", member, line("2026-02-01", {"DED": "5", "FDED": "5"})),
        claim("c2", relative, line("2026-02-01", {"DED": "77", "FDED": "77"})),
    )
    found = await rows(client, tenant, member, "2026-06-30")
    assert figures(found["DED"]) == (100, 400)
    assert figures(found["FDED"]) == (100, 900)
    theirs = await client.get(
        f"/v1/members/{member}/accumulators", params=params, headers=other.auth("reader")
    )
    assert [(i["code"], *figures(i)) for i in theirs.json()["items"]] == [
        ("DED", 5, 895),
        ("FDED", 82, 1918),
    ]


def claims_paths(member: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"/v1/members/{member}/accumulators"),
        ("GET", f"/v1/members/{member}/accumulators/DED/claims"),
        ("POST", f"/v1/members/{member}/accumulators/simulate"),
    ]


SIMULATE_BODY = {
    "effective_date": "2026-06-30",
    "claim": {"plan_type": "medical", "lines": [line("2026-05-01")]},
}


async def call(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> httpx.Response:
    params = {"effective_date": "2026-06-30"}
    if method == "POST":
        return await client.post(path, json=SIMULATE_BODY, headers=headers)
    return await client.get(path, params=params, headers=headers)


async def test_queries_need_the_reader_role(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        schedule(),
        enrolled(member),
        claim("c1", member, line("2026-02-01", {"DED": "100"})),
    )
    for method, path in claims_paths(member):
        answer = await call(client, method, path, tenant.auth("subscriber"))
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["error"]["code"] == "forbidden"
        allowed = await call(client, method, path, tenant.auth("reader"))
        assert allowed.status_code == 200, (path, allowed.text)


@pytest.mark.parametrize("header", [None, "Bearer nope"])
async def test_queries_need_a_key(client: httpx.AsyncClient, header: str | None):
    headers = {"Authorization": header} if header else {}
    for method, path in claims_paths("member-x"):
        answer = await call(client, method, path, headers)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.json()["error"]["code"] == "unauthenticated"


async def test_recording_claims_needs_the_writer_role(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(client, tenant, schedule(), enrolled(member))
    stored = tenant.ledger_count()
    answer = await post_events(
        client, tenant, [claim("c1", member, line("2026-02-01", {"DED": "1"}))], who="reader"
    )
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "forbidden"
    assert tenant.ledger_count() == stored


async def test_network_and_per_illness_accumulators_are_kept_apart_on_record(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    kept = [
        acc("DIN", "deductible", "500", network="in"),
        acc("DOUT", "deductible", "1000", network="out"),
        acc("ILL", "maximum", "100", kind="benefit", per="illness"),
    ]
    await record(client, tenant, schedule("KEPT", kept), enrolled(member, "KEPT"))
    stored = tenant.ledger_count()
    cases = {
        "an in-network line applying the out-of-network deductible": (
            line("2026-02-01", {"DOUT": "5"}),
            "kept for out-network lines",
        ),
        "a per-illness accumulator on a line without an illness": (
            line("2026-02-01", {"ILL": "5"}),
            "kept per illness",
        ),
    }
    for name, (bad, words) in cases.items():
        answer = await post_events(client, tenant, [claim(f"c-{uuid.uuid4()}", member, bad)])
        assert answer.status_code == 422, (name, answer.text)
        [problem] = answer.json()["error"]["details"]
        assert problem["field"] == "data.lines.0.applied.0.accumulator_code", name
        assert words in problem["problem"], name
    assert tenant.ledger_count() == stored


async def test_the_default_effective_date_is_the_tenants_today(
    client: httpx.AsyncClient, tenant: Tenant
):
    """Without effective_date an enrolled member's answer is for the tenant's local date (its
    time_zone, section 3), not the UTC date: here the zones 14 hours ahead and 11 behind."""
    member = new_member()
    await record(client, tenant, schedule(), enrolled(member))
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        await record(client, tenant, event("tenant.settings_changed", time_zone=zone))
        before = datetime.now(ZoneInfo(zone)).date()
        answer = await client.get(
            f"/v1/members/{member}/accumulators", headers=tenant.auth("reader")
        )
        after = datetime.now(ZoneInfo(zone)).date()
        assert answer.status_code == 200, answer.text
        assert answer.json()["effective_date"] in {before.isoformat(), after.isoformat()}
