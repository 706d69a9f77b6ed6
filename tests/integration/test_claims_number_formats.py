"""Claims accumulator answers follow the one number rule (api.md Conventions; issue 15), on
SQLite and PostgreSQL: money with 2 decimals (half up), days normalized, whatever form the
facts were sent in. Summary, COB, simulation, detail as JSON, CSV and HTML, and the feed.

| figure | sent | written |
| --- | --- | --- |
| deductible amount | "500" | "500.00" |
| applied money | "100.5" | "100.50" |
| day accumulator amount | "10" | "10" |
| days applied | "3" | "3" |
| coinsurance percent of a day | "70" | "70" |
"""

from __future__ import annotations

import httpx

from tests.integration.conftest import Tenant
from tests.integration.test_claims import (
    acc,
    claim,
    detail,
    detail_json,
    enrolled,
    feed,
    line,
    new_member,
    record,
    schedule,
    simulated,
)

ACCUMULATORS = [
    acc("DED", "deductible", "500"),
    acc("OOP", "maximum", "3000.0", kind="out_of_pocket"),
    acc("SNF", "day", "10.000"),
    acc("REV", "reversion", levels=[{"from_day": 1, "coinsurance_percent": "70.00"}]),
    acc("COB", "cob", "0"),
]


async def setup(client: httpx.AsyncClient, tenant: Tenant) -> str:
    member = new_member()
    await record(
        client,
        tenant,
        schedule(accumulators=ACCUMULATORS),
        enrolled(member),
        claim(
            "c1",
            member,
            line(
                "2026-03-01",
                {"DED": "100.5", "OOP": "100.5", "SNF": "3", "REV": "3", "COB": "40"},
                thru_date="2026-03-03",
                days=3,
                allowed="900",
                patient_responsibility="25.5",
            ),
        ),
    )
    return member


async def test_summary_and_cob_rows(client: httpx.AsyncClient, tenant: Tenant) -> None:
    member = await setup(client, tenant)
    answer = await client.get(
        f"/v1/members/{member}/accumulators",
        params={"effective_date": "2026-06-30"},
        headers=tenant.auth("reader"),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    figures = {
        row["code"]: (row["schedule_amount"], row["applied_amount"], row["remaining_amount"])
        for row in body["items"]
    }
    assert figures == {
        "DED": ("500.00", "100.50", "399.50"),
        "OOP": ("3000.00", "100.50", "2899.50"),
        "SNF": ("10", "3", "7"),
        "REV": ("0", "3", "0"),
    }
    [cob] = body["cob"]
    assert (cob["schedule_amount"], cob["bank_amount"]) == ("0.00", "40.00")


async def test_simulated_claim_lines(client: httpx.AsyncClient, tenant: Tenant) -> None:
    member = await setup(client, tenant)
    body = await simulated(
        client, tenant, member, line("2026-04-01", allowed="1000", days=2, thru_date="2026-04-02")
    )
    [share] = body["claim_lines"]
    assert (share["deductible"], share["coinsurance"], share["member_total"]) == (
        "399.50",
        "180.15",  # 600.50 at the reversion level's 70%: the member's 30%
        "579.65",
    )
    assert share["plan_paid"] == "420.35"
    applied = {a["accumulator_code"]: a["amount"] for a in share["applied"]}
    assert applied["DED"] == "399.50"
    assert applied["SNF"] == "2"


async def test_detail_json_csv_and_html(client: httpx.AsyncClient, tenant: Tenant) -> None:
    member = await setup(client, tenant)
    ded = await detail_json(client, tenant, member, "DED")
    assert [c["amount"] for c in ded["claims"]] == ["100.50"]
    snf = await detail_json(client, tenant, member, "SNF")
    assert [c["amount"] for c in snf["claims"]] == ["3"]
    rev = await detail_json(client, tenant, member, "REV")
    assert {d["coinsurance_percent"] for d in rev["days"]} == {"70"}
    cob = await detail_json(client, tenant, member, "COB")
    assert [(c["amount"], c["oop_amount"]) for c in cob["claims"]] == [("40.00", "25.50")]

    csv_text = (await detail(client, tenant, member, "DED", format="csv")).text
    assert ",100.50," in csv_text.splitlines()[1]
    days_csv = (await detail(client, tenant, member, "REV", format="csv")).text
    assert "2026-03-01,1,1+,70" in days_csv
    page = (await detail(client, tenant, member, "SNF", format="html")).text
    assert "3 days" in page and "3.000" not in page


async def test_feed_figures(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await setup(client, tenant)
    changed = {
        i["data"]["code"]: i["data"] for i in await feed(client, tenant, "accumulator.changed")
    }
    assert changed["DED"]["current"] == {"applied": "100.50", "remaining": "399.50"}
    assert changed["SNF"]["current"] == {"applied": "3", "remaining": "7"}
