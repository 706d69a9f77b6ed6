"""Numbers are written evenly in every answer (api.md Conventions), over HTTP on both stores:
`fraction_used` 2 of 3 is "0.6667" (never "0.6666666666666666666666666667"), an amount limit
writes money with 2 decimals whatever was sent ("1000" -> "1000.00"), and units sent as "2.50"
come back "2.5"."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.conftest import Tenant, post_events


def event(type_: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": type_, "data": data}


def limit(benefit_id: str, amount: str, unit: str) -> dict[str, Any]:
    return event(
        "benefit.limit_defined",
        benefit_id=benefit_id,
        member_id="m-1",
        payer_id="payer-1",
        benefit_code=benefit_id.upper(),
        service_codes=["S1"],
        limit=amount,
        unit=unit,
        period={"type": "calendar_year"},
    )


def visit(visit_id: str, day: str, units: str = "1") -> dict[str, Any]:
    return event(
        "visit.confirmed",
        visit_id=visit_id,
        member_id="m-1",
        payer_id="payer-1",
        service_code="S1",
        service_date=day,
        units=units,
    )


async def test_fractions_money_and_units_are_written_by_one_rule(
    client: httpx.AsyncClient, tenant: Tenant
):
    events = [limit("pt", "3", "visits"), limit("dollars", "1000", "amount")]
    events += [visit(f"v{day}", f"2026-03-0{day}") for day in (1, 2)]
    events.append(
        event(
            "benefit.usage_verified",
            benefit_id="dollars",
            as_of="2026-03-01",
            used="200",
            source="payer portal",
        )
    )
    assert (await post_events(client, tenant, events)).status_code == 200
    report = await client.get(
        "/v1/reports/benefits-near-limit",
        params={"as_of": "2026-03-31", "threshold": "0.5"},
        headers=tenant.auth("reader"),
    )
    body = report.json()
    assert body["threshold"] == "0.5000"
    [pt] = body["items"]
    assert (pt["limit"], pt["used"], pt["remaining"], pt["fraction_used"]) == (
        "3",
        "2",
        "1",
        "0.6667",
    )
    benefits = await client.get(
        "/v1/members/m-1/benefits", params={"as_of": "2026-03-31"}, headers=tenant.auth()
    )
    items = {item["benefit_id"]: item for item in benefits.json()["items"]}
    dollars = items["dollars"]
    assert (dollars["limit"], dollars["used"], dollars["remaining"]) == (
        "1000.00",
        "200.00",
        "800.00",
    )
    assert items["pt"]["thresholds"] == ["0.8000", "1.0000"]


async def test_units_come_back_normalized(client: httpx.AsyncClient, tenant: Tenant):
    grant = event(
        "authorization.granted",
        authorization_id="line-1",
        authorization_number="A-1",
        member_id="m-1",
        payer_id="payer-1",
        service_code="S1",
        frequency="week",
        units="10.000",
        start_date="2026-10-04",
        end_date="2026-10-10",
    )
    settings = event("payer.settings_changed", payer_id="payer-1", allow_accumulation=True)
    answer = await post_events(
        client, tenant, [settings, grant, visit("v1", "2026-10-05", "12.50")]
    )
    [warning] = answer.json()["results"][2]["warnings"]
    assert (warning["code"], warning["shortfall"]) == ("insufficient_units", "2.5")
    assert warning["message"].startswith("2.5 units")
    detail = await client.get(
        "/v1/members/m-1/accumulations/A-1/S1",
        params={"as_of": "2026-10-10"},
        headers=tenant.auth(),
    )
    [period] = detail.json()["periods"]
    assert (period["authorized"], period["used"], period["unauthorized"], period["balance"]) == (
        "10",
        "12.5",
        "2.5",
        "-2.5",
    )
    visit_answer = (await client.get("/v1/visits/v1", headers=tenant.auth())).json()
    assert (visit_answer["units"], visit_answer["allocation"]["unauthorized"]) == ("12.5", "2.5")
