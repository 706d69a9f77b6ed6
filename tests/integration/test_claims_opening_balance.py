"""`accumulator.opening_balance` through the HTTP API (accumulation.md 2.17), on SQLite and
PostgreSQL: the worked example of tests/unit/test_claims_opening_balance.py in the summary, the
simulation and the claims history report (an "opening balance" row), a family's figure, known_at,
and the 422s (nothing stored)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Tenant, post_events
from tests.integration.test_claims import (
    acc,
    by_code,
    claim,
    detail,
    detail_json,
    enrolled,
    event,
    line,
    listing,
    new_member,
    record,
    schedule,
    simulated,
)

ACCUMULATORS = [
    acc("DED", "deductible", "500"),
    acc("FDED", "deductible", "1000", level="family"),
    acc("MAX", "maximum", "1000", kind="benefit", per="illness"),
]


def opening(**data: Any) -> dict[str, Any]:
    defaults = {"schedule_id": "MED", "as_of": "2026-03-31", "source": "old claims system"}
    return event("accumulator.opening_balance", **{**defaults, **data})


async def worked_example(client: httpx.AsyncClient, tenant: Tenant) -> tuple[str, dict]:
    member = new_member()
    await record(
        client,
        tenant,
        schedule(accumulators=ACCUMULATORS),
        enrolled(member),
        claim("c1", member, line("2026-03-15", {"DED": "100"})),
        claim("c2", member, line("2026-03-31", {"DED": "20"})),
    )
    recorded = await record(
        client,
        tenant,
        opening(member_id=member, accumulator_code="DED", applied="350", reference="MIG-1"),
    )
    await record(client, tenant, claim("c3", member, line("2026-04-10", {"DED": "50"})))
    return member, recorded


async def test_the_summary_counts_the_figure_and_the_lines_after_it(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    member, recorded = await worked_example(client, tenant)
    body = await listing(client, tenant, member, effective="2026-06-30")
    ded = by_code(body)["DED"]
    assert (ded["applied_amount"], ded["remaining_amount"]) == ("400.00", "100.00")
    next_year = by_code(await listing(client, tenant, member, effective="2027-01-05"))["DED"]
    assert next_year["applied_amount"] == "0.00"

    moment = datetime.fromisoformat(recorded["results"][0]["recorded_at"])
    answer = await client.get(
        f"/v1/members/{member}/accumulators",
        params={
            "effective_date": "2026-06-30",
            "known_at": (moment - timedelta(microseconds=1)).isoformat(),
        },
        headers=tenant.auth("reader"),
    )
    assert answer.status_code == 200, answer.text
    assert by_code(answer.json())["DED"]["applied_amount"] == "120.00"  # c1 + c2, before it


async def test_the_simulation_starts_from_the_figure(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    member, _ = await worked_example(client, tenant)
    body = await simulated(client, tenant, member, line("2026-05-01", allowed="300.00"))
    [share] = body["claim_lines"]
    assert share["deductible"] == "100.00"  # 500 - 400 left
    assert by_code(body)["DED"]["applied_amount"] == "500.00"


async def test_the_claims_history_report_shows_an_opening_balance_row(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    member, recorded = await worked_example(client, tenant)
    body = await detail_json(client, tenant, member, "DED", effective="2026-06-30")
    rows = [
        (c["reference_number"], c["status"], c["from_date"], c["amount"]) for c in body["claims"]
    ]
    assert rows == [
        ("MIG-1", "opening_balance", "2026-03-31", "350.00"),
        ("REF-c3", "paid", "2026-04-10", "50.00"),
    ]
    opening_row = body["claims"][0]
    assert opening_row["claim_id"] == recorded["results"][0]["id"]
    assert opening_row["billing_provider"] == "old claims system"
    csv_text = (await detail(client, tenant, member, "DED", "2026-06-30", format="csv")).text
    assert "MIG-1,opening_balance,old claims system" in csv_text
    page = (await detail(client, tenant, member, "DED", "2026-06-30", format="html")).text
    assert "opening_balance" in page and "350.00" in page


async def test_a_family_figure_counts_for_every_member(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first, second = new_member(), new_member()
    await record(
        client,
        tenant,
        schedule(accumulators=ACCUMULATORS),
        enrolled(first, family_id="FAM"),
        enrolled(second, family_id="FAM"),
        claim("c1", second, line("2026-03-20", {"FDED": "100"})),  # in the figure
        opening(family_id="FAM", accumulator_code="FDED", applied="600"),
        claim("c2", second, line("2026-04-20", {"FDED": "150"})),
    )
    for member in (first, second):
        body = await listing(client, tenant, member, effective="2026-06-30")
        assert by_code(body)["FDED"]["applied_amount"] == "750.00", member


async def test_a_per_illness_figure_names_its_illness(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    member = new_member()
    await record(
        client,
        tenant,
        schedule(accumulators=ACCUMULATORS),
        enrolled(member),
        opening(member_id=member, accumulator_code="MAX", applied="300", illness="J18"),
    )
    body = await listing(client, tenant, member, effective="2026-06-30")
    rows = {(r["code"], r["illness"]): r["applied_amount"] for r in body["items"]}
    assert rows[("MAX", "J18")] == "300.00"


@pytest.mark.parametrize(
    "data, field, problem",
    [
        (
            {"schedule_id": "NOPE", "accumulator_code": "DED"},
            "data.schedule_id",
            "unknown schedule NOPE",
        ),
        (
            {"accumulator_code": "XYZ"},
            "data.accumulator_code",
            "no accumulator XYZ in schedule MED",
        ),
        (
            {"accumulator_code": "DED", "family_id": "FAM"},
            "data.family_id",
            "give member_id or family_id, not both",
        ),
        (
            {"accumulator_code": "DED", "member_id": None},
            "data.member_id",
            "required: member_id or family_id",
        ),
        (
            {"accumulator_code": "FDED"},
            "data.member_id",
            "FDED is a family accumulator: give family_id",
        ),
        (
            {"accumulator_code": "MAX"},
            "data.illness",
            "MAX is kept per illness: name the illness",
        ),
        (
            {"accumulator_code": "DED", "tooth": "3"},
            "data.tooth",
            "DED is not kept per tooth",
        ),
        (
            {"accumulator_code": "FDED", "member_id": None, "family_id": "NONE"},
            "data.family_id",
            "no member is enrolled in family NONE",
        ),
    ],
    ids=[
        "unknown-schedule",
        "unknown-code",
        "both",
        "neither",
        "family-by-member",
        "per-illness-without",
        "not-per-tooth",
        "unknown-family",
    ],
)
async def test_a_bad_opening_balance_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, tenant: Tenant, data: dict[str, Any], field: str, problem: str
) -> None:
    member = new_member()
    await record(
        client,
        tenant,
        schedule(accumulators=ACCUMULATORS),
        enrolled(member, family_id="FAM"),
    )
    before = tenant.ledger_count()
    fields = {"member_id": member, "applied": "10", **data}
    bad = opening(**{k: v for k, v in fields.items() if v is not None})
    answer = await post_events(client, tenant, [bad])
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_event"
    assert error["details"] == [{"index": 0, "field": field, "problem": problem}]
    assert tenant.ledger_count() == before
