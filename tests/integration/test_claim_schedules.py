"""accumulation.md 4.1 through the HTTP API, on SQLite and PostgreSQL: the one schedule a claim
counts in, claims paid outside eligibility, the default effective date, several plan types on
the summary, the COB detail's OOP amount, and a simulation that takes the claim as a client
records it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from tests.integration.conftest import Tenant, post_events
from tests.integration.test_claims import (
    acc,
    by_code,
    claim,
    detail,
    detail_json,
    enrolled,
    event,
    feed,
    figures,
    line,
    listing,
    new_member,
    record,
    schedule,
)

MONEY = [
    acc("DED", "deductible", "500"),
    acc("OOP", "maximum", "3000", kind="out_of_pocket"),
]


def simulate_body(claim_data: dict[str, Any], effective: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"claim": claim_data}
    if effective is not None:
        body["effective_date"] = effective
    return body


async def post_simulation(
    client: httpx.AsyncClient, tenant: Tenant, member: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"/v1/members/{member}/accumulators/simulate", json=body, headers=tenant.auth("reader")
    )


# 1. simulate takes the claim body a client records


async def test_simulate_takes_the_claim_as_a_client_records_it(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await record(client, tenant, schedule("MED", MONEY), enrolled(member, "MED"))
    recorded = claim(
        "c-1",
        member,
        line("2026-02-10", {"DED": "250.00", "OOP": "250.00"}, allowed="250.00"),
        status="pending",
        release_date="2026-02-20",
        schedule_id="MED",
    )["data"]
    recorded["lines"][0]["patient_responsibility"] = "250.00"
    stored = tenant.ledger_count()

    answer = await post_simulation(client, tenant, member, simulate_body(recorded))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["effective_date"] == "2026-02-10"
    assert figures(by_code(body)["DED"]) == (250, 250)
    assert by_code(body)["DED"]["eligible"] is True
    assert tenant.ledger_count() == stored  # nothing stored

    # the ids, the status and the member may be left out
    bare = {k: v for k, v in recorded.items() if k not in ("claim_id", "reference_number")}
    bare = {k: v for k, v in bare.items() if k not in ("status", "member_id")}
    again = await post_simulation(client, tenant, member, simulate_body(bare))
    assert again.status_code == 200, again.text
    assert again.json()["items"] == body["items"]

    # the same data recorded gives the figures the simulation showed (once paid)
    recorded["status"] = "paid"
    await record(client, tenant, event("claim.adjudicated", **recorded))
    found = await listing(client, tenant, member, "2026-02-10")
    assert found["items"] == body["items"]


async def test_simulate_a_claim_of_another_member_is_refused(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await record(client, tenant, schedule("MED", MONEY), enrolled(member, "MED"))
    data = claim("c-1", "someone-else", line("2026-02-10", allowed="250.00"))["data"]
    stored = tenant.ledger_count()
    for path_member in (member, new_member()):  # refused before any 404
        answer = await post_simulation(client, tenant, path_member, simulate_body(data))
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_request"
        [problem] = error["details"]
        assert problem["field"] == "claim.member_id"
        assert problem["problem"] == f"someone-else differs from the path's {path_member}"
    assert tenant.ledger_count() == stored


# 2. one claim counts in exactly one schedule


async def two_medical_plans(client: httpx.AsyncClient, tenant: Tenant, member: str) -> None:
    await record(
        client,
        tenant,
        schedule("PPO", MONEY),
        schedule("HMO", MONEY),
        enrolled(member, "PPO"),
        enrolled(member, "HMO", start="2026-03-01"),
    )


async def test_two_enrollments_of_one_plan_type_need_the_claims_schedule(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await two_medical_plans(client, tenant, member)
    stored = tenant.ledger_count()

    ambiguous = claim("c-1", member, line("2026-03-05", {"DED": "100"}))
    answer = await post_events(client, tenant, [ambiguous])
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["error"]["details"]
    assert (problem["index"], problem["field"]) == (0, "data.schedule_id")
    assert problem["problem"] == (
        "enrollments in 2 medical schedules cover 2026-03-05 (PPO, HMO): "
        "name the claim's schedule_id"
    )
    assert tenant.ledger_count() == stored

    await record(
        client,
        tenant,
        claim("c-1", member, line("2026-03-05", {"DED": "100", "OOP": "100"}), schedule_id="HMO"),
        # February: only PPO covers it, no schedule_id needed
        claim("c-2", member, line("2026-02-05", {"DED": "40"})),
    )
    hmo = await listing(client, tenant, member, "2026-06-30", schedule_id="HMO")
    ppo = await listing(client, tenant, member, "2026-06-30", schedule_id="PPO")
    assert {code: figures(row) for code, row in by_code(hmo).items()} == {
        "DED": (100, 400),
        "OOP": (100, 2900),
    }
    assert {code: figures(row) for code, row in by_code(ppo).items()} == {
        "DED": (40, 460),
        "OOP": (0, 3000),
    }
    # the feed moved HMO's rows for c-1 and PPO's for c-2, never both for one claim
    changed = await feed(client, tenant, "accumulator.changed")
    assert sorted((c["data"]["claim_id"], c["data"]["schedule_id"]) for c in changed) == [
        ("c-1", "HMO"),
        ("c-1", "HMO"),
        ("c-2", "PPO"),
    ]

    # the simulation decides the same way
    data = claim("sim", member, line("2026-03-05", allowed="100.00"))["data"]
    answer = await post_simulation(client, tenant, member, simulate_body(data))
    assert answer.status_code == 422, answer.text
    assert [d["field"] for d in answer.json()["error"]["details"]] == ["claim.schedule_id"]
    data["schedule_id"] = "HMO"
    answer = await post_simulation(client, tenant, member, simulate_body(data))
    assert answer.status_code == 200, answer.text
    assert {item["schedule_id"] for item in answer.json()["items"]} == {"HMO"}
    assert figures(by_code(answer.json())["DED"]) == (200, 300)


# 3. claims paid outside eligibility


async def test_a_claim_paid_outside_eligibility_is_recorded_and_counts(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await record(
        client,
        tenant,
        schedule("MED", MONEY),
        enrolled(member, "MED", end_date="2026-06-30"),
        claim("june", member, line("2026-06-10", {"DED": "100"})),
    )
    answer = await post_events(
        client,
        tenant,
        [claim("august", member, line("2026-08-10", {"DED": "150", "OOP": "150"}), provider="Z")],
    )
    assert answer.status_code == 200, answer.text
    before_enrollment = datetime.now(UTC)

    # in eligibility: eligible rows, the August claim counted in the period (4.2)
    june = await listing(client, tenant, member, "2026-06-30")
    assert [(row["code"], row["eligible"]) for row in june["items"]] == [
        ("DED", True),
        ("OOP", True),
    ]
    assert figures(by_code(june)["DED"]) == (250, 250)
    # out of eligibility: the schedule is still shown for the claim, not eligible
    september = await listing(client, tenant, member, "2026-09-15")
    assert [(row["schedule_id"], row["eligible"]) for row in september["items"]] == [
        ("MED", False),
        ("MED", False),
    ]
    assert figures(by_code(september)["DED"]) == (250, 250)
    # a later year without a claim of the schedule: nothing to show
    later = await listing(client, tenant, member, "2027-09-15")
    assert later["items"] == []

    # the detail says which claim lines were outside eligibility
    ded = await detail_json(client, tenant, member, "DED", effective="2026-06-30")
    assert [(c["claim_id"], c["eligible"]) for c in ded["claims"]] == [
        ("june", True),
        ("august", False),
    ]
    assert ded["accumulator"]["eligible"] is True

    # an enrollment recorded later makes the August line eligible; known_at still shows before
    await record(client, tenant, enrolled(member, "MED", start="2026-08-01"))
    ded = await detail_json(client, tenant, member, "DED", effective="2026-06-30")
    assert [(c["claim_id"], c["eligible"]) for c in ded["claims"]] == [
        ("june", True),
        ("august", True),
    ]
    then = await detail_json(
        client,
        tenant,
        member,
        "DED",
        effective="2026-06-30",
        known_at=before_enrollment.isoformat(),
    )
    assert [c["eligible"] for c in then["claims"]] == [True, False]


async def test_a_claim_before_every_enrollment_counts_in_the_first(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await record(
        client,
        tenant,
        schedule("MED", MONEY),
        enrolled(member, "MED", start="2026-03-01"),
        claim("early", member, line("2026-01-15", {"DED": "30"})),
    )
    feb = await listing(client, tenant, member, "2026-02-01")
    assert [(r["code"], r["eligible"], *figures(r)) for r in feb["items"]] == [
        ("DED", False, 30, 470),
        ("OOP", False, 0, 3000),
    ]
    march = await listing(client, tenant, member, "2026-03-01")
    assert [(r["code"], r["eligible"]) for r in march["items"]] == [("DED", True), ("OOP", True)]


# 6. the default effective date


def schedule_in(
    schedule_id: str, plan_type: str, accumulators: list[dict[str, Any]], effective: str
) -> dict[str, Any]:
    return event(
        "accumulator.schedule_defined",
        schedule_id=schedule_id,
        plan_type=plan_type,
        effective_date=effective,
        benefit_period={"type": "calendar_year"},
        coinsurance_percent="80",
        accumulators=accumulators,
    )


async def summary(
    client: httpx.AsyncClient, tenant: Tenant, member: str, *params: tuple[str, str]
) -> dict[str, Any]:
    answer = await client.get(
        f"/v1/members/{member}/accumulators", params=list(params), headers=tenant.auth("reader")
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def eligible_rows(body: dict[str, Any]) -> list[tuple[str, str, bool, Decimal, Decimal]]:
    return [(r["plan_type"], r["code"], r["eligible"], *figures(r)) for r in body["items"]]


async def test_without_eligibility_today_the_last_day_of_the_most_recent_enrollment(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    # every enrollment ended in 2021, long before any day these tests run
    await record(
        client,
        tenant,
        schedule_in("MED21", "medical", MONEY, "2021-01-01"),
        schedule_in("DEN21", "dental", [acc("DDED", "deductible", "50")], "2021-01-01"),
        enrolled(member, "MED21", start="2021-01-01", end_date="2021-01-31"),
        enrolled(member, "DEN21", start="2021-01-01", end_date="2021-02-28"),
        claim("c1", member, line("2021-01-10", {"DED": "80"})),
    )
    # the last enrolled day of any plan; that day the member is eligible for dental only
    default = await summary(client, tenant, member)
    assert default["effective_date"] == "2021-02-28"
    assert eligible_rows(default) == [("dental", "DDED", True, 0, 50)]
    # asked for medical: the last day of the medical enrollment
    medical = await summary(client, tenant, member, ("plan_type", "medical"))
    assert medical["effective_date"] == "2021-01-31"
    assert eligible_rows(medical) == [
        ("medical", "DED", True, 80, 420),
        ("medical", "OOP", True, 0, 3000),
    ]
    # both: the later of the two, where the medical rows show for its claim, not eligible
    both = await summary(client, tenant, member, ("plan_type", "dental"), ("plan_type", "medical"))
    assert both["effective_date"] == "2021-02-28"
    assert eligible_rows(both) == [
        ("dental", "DDED", True, 0, 50),
        ("medical", "DED", False, 80, 420),
        ("medical", "OOP", False, 0, 3000),
    ]
    # the detail takes the same default
    answer = await client.get(
        f"/v1/members/{member}/accumulators/DED/claims", headers=tenant.auth("reader")
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["effective_date"] == "2021-02-28"
    assert [c["claim_id"] for c in answer.json()["claims"]] == ["c1"]


async def test_with_eligibility_today_the_default_is_today(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    await record(
        client,
        tenant,
        schedule_in("MED20", "medical", MONEY, "2020-01-01"),
        enrolled(member, "MED20", start="2020-01-01"),
    )
    before = datetime.now(UTC).date()
    body = await summary(client, tenant, member)
    after = datetime.now(UTC).date()
    assert body["effective_date"] in {before.isoformat(), after.isoformat()}
    assert [(r["code"], r["eligible"]) for r in body["items"]] == [("DED", True), ("OOP", True)]


# 5. several plan types on the summary


async def test_the_summary_selects_several_plan_types(client: httpx.AsyncClient, tenant: Tenant):
    member = new_member()
    await record(
        client,
        tenant,
        schedule("MED", [acc("DED", "deductible", "500")]),
        schedule("DEN", [acc("DDED", "deductible", "50")], plan_type="dental"),
        schedule("VIS", [acc("VDED", "deductible", "20")], plan_type="vision"),
        enrolled(member, "VIS"),
        enrolled(member, "DEN"),
        enrolled(member, "MED"),
        claim("m1", member, line("2026-02-01", {"DED": "100"})),
        claim("d1", member, line("2026-02-02", {"DDED": "20"}), plan_type="dental"),
    )

    def shown(body: dict[str, Any]) -> list[tuple[str, str, Decimal, Decimal]]:
        return [(r["plan_type"], r["code"], *figures(r)) for r in body["items"]]

    answer = await client.get(
        f"/v1/members/{member}/accumulators",
        params=[
            ("effective_date", "2026-06-30"),
            ("plan_type", "medical"),
            ("plan_type", "dental"),
        ],
        headers=tenant.auth("reader"),
    )
    assert answer.status_code == 200, answer.text
    # in the order the member was enrolled, vision left out
    assert shown(answer.json()) == [("dental", "DDED", 20, 30), ("medical", "DED", 100, 400)]

    # a repeated or unknown plan type changes nothing
    again = await client.get(
        f"/v1/members/{member}/accumulators",
        params=[
            ("effective_date", "2026-06-30"),
            ("plan_type", "dental"),
            ("plan_type", "medical"),
            ("plan_type", "dental"),
            ("plan_type", "hearing"),
        ],
        headers=tenant.auth("reader"),
    )
    assert shown(again.json()) == shown(answer.json())

    one = await listing(client, tenant, member, "2026-06-30", plan_type="vision")
    assert shown(one) == [("vision", "VDED", 0, 20)]

    too_many = await client.get(
        f"/v1/members/{member}/accumulators",
        params=[("plan_type", f"p{n}") for n in range(21)],
        headers=tenant.auth("reader"),
    )
    assert too_many.status_code == 422, too_many.text
    assert [d["field"] for d in too_many.json()["error"]["details"]] == ["plan_type"]


# 4. the COB detail's OOP amount


async def test_the_cob_detail_shows_each_claims_oop_amount(
    client: httpx.AsyncClient, tenant: Tenant
):
    member = new_member()
    cob = [acc("DED", "deductible", "500"), acc("COB", "cob", "0", description="COB savings")]
    first = line("2026-02-01", {"COB": "40.00"}, allowed="200.00", patient_responsibility="25.50")
    second = line("2026-03-01", {"COB": "10.00", "DED": "60.00"}, allowed="60.00")
    await record(
        client,
        tenant,
        schedule("MED", cob),
        enrolled(member, "MED"),
        claim("c1", member, first),
        claim("c2", member, second),
    )
    listed = await listing(client, tenant, member, "2026-06-30")
    [cob_row] = listed["cob"]
    assert (cob_row["code"], Decimal(cob_row["bank_amount"]), cob_row["eligible"]) == (
        "COB",
        50,
        True,
    )

    body = await detail_json(client, tenant, member, "COB", effective="2026-06-30")
    assert [
        (c["claim_id"], Decimal(c["amount"]), c["oop_amount"] and Decimal(c["oop_amount"]))
        for c in body["claims"]
    ] == [("c1", 40, Decimal("25.50")), ("c2", 10, None)]
    # other accumulators' details carry no OOP amount
    ded = await detail_json(client, tenant, member, "DED", effective="2026-06-30")
    assert [c["oop_amount"] for c in ded["claims"]] == [None]

    csv_answer = await detail(client, tenant, member, "COB", effective="2026-06-30", format="csv")
    header, *rows = csv_answer.text.splitlines()
    assert header.split(",")[-2:] == ["eligible", "oop_amount"]
    assert rows[0].split(",")[-2:] == ["yes", "25.50"]
    html = await detail(client, tenant, member, "COB", effective="2026-06-30", format="html")
    assert "OOP amount" in html.text and "25.50" in html.text
