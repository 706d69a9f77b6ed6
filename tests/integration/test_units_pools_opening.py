"""Rules 2.12 (units from clock times), 2.13 (shared pools) and 2.17 (opening balances) through
the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.conftest import Tenant, post_events

MEMBER, PAYER, NUMBER = "member-1", "payer-1", "AUTH-100"
ACCUMULATION = f"/v1/members/{MEMBER}/accumulations"


def event(type_: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": type_, "data": data}


def settings(**changes: Any) -> dict[str, Any]:
    return event("payer.settings_changed", payer_id=PAYER, **changes)


def grant(line: str = "L1", **code: Any) -> dict[str, Any]:
    return event(
        "authorization.granted",
        authorization_id=line,
        authorization_number=NUMBER,
        member_id=MEMBER,
        payer_id=PAYER,
        frequency="week",
        units="10",
        start_date="2026-10-04",
        end_date="2026-10-31",
        **(code or {"service_code": "T1019"}),
    )


def visit(type_: str, visit_id: str, day: str, code: str = "T1019", **more: Any) -> dict[str, Any]:
    return event(
        type_,
        visit_id=visit_id,
        member_id=MEMBER,
        payer_id=PAYER,
        service_code=code,
        service_date=day,
        **more,
    )


async def detail(client: httpx.AsyncClient, tenant: Tenant, code: str, **params: str) -> Any:
    answer = await client.get(
        f"{ACCUMULATION}/{NUMBER}/{code}", params=params, headers=tenant.auth("reader")
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_clocked_visit_gives_units_back_and_shows_its_times(
    client: httpx.AsyncClient, tenant: Tenant
):
    setup = [settings(allow_accumulation=True, include_scheduled_units=True), grant()]
    setup.append(visit("visit.scheduled", "v1", "2026-10-05", units="4"))
    assert (await post_events(client, tenant, setup)).status_code == 200
    clocked = event(
        "visit.confirmed",
        visit_id="v1",
        clock_in="2026-10-05T09:00:00-05:00",
        clock_out="2026-10-05T12:08:00-05:00",
    )
    answer = await post_events(client, tenant, [clocked])
    assert answer.status_code == 200, answer.text
    week1 = (await detail(client, tenant, "T1019", as_of="2026-10-05"))["periods"][0]
    assert (week1["used"], week1["balance"]) == ("3.25", "6.75")  # 4 -> 3.25: 0.75 back
    shown = (await client.get("/v1/visits/v1", headers=tenant.auth("reader"))).json()
    assert (shown["units"], shown["clock_in"], shown["clock_out"]) == (
        "3.25",
        "2026-10-05T09:00:00-05:00",
        "2026-10-05T12:08:00-05:00",
    )
    # 12:07 rounds down to 3; a settings change replays the clocked visit in 15-minute units
    unscheduled = visit(
        "visit.confirmed",
        "v2",
        "2026-10-12",
        clock_in="2026-10-12T09:00:00Z",
        clock_out="2026-10-12T12:07:00Z",
    )
    assert (await post_events(client, tenant, [unscheduled])).status_code == 200
    v2 = (await client.get("/v1/visits/v2", headers=tenant.auth("reader"))).json()
    assert v2["units"] == "3"
    assert (await post_events(client, tenant, [settings(unit_minutes=15)])).status_code == 200
    shown = (await client.get("/v1/visits/v1", headers=tenant.auth("reader"))).json()
    assert shown["units"] == "13"
    week1 = (await detail(client, tenant, "T1019", as_of="2026-10-05"))["periods"][0]
    assert (week1["used"], week1["unauthorized"]) == ("13", "3")


async def test_bad_clock_times_are_refused_with_precise_details(
    client: httpx.AsyncClient, tenant: Tenant
):
    assert (await post_events(client, tenant, [grant()])).status_code == 200
    nine = "2026-10-05T09:00:00-05:00"
    bad = [
        visit("visit.confirmed", "a", "2026-10-05", units="3", clock_in=nine, clock_out=nine),
        visit("visit.confirmed", "b", "2026-10-05", clock_in=nine),
        visit("visit.confirmed", "c", "2026-10-05", clock_in=nine, clock_out="2026-10-05T08:00Z"),
        visit("visit.confirmed", "d", "2026-10-05", clock_in=nine, clock_out="2026-10-06T15:00Z"),
        visit("visit.confirmed", "e", "2026-10-05", clock_in="2026-10-05T09:00", clock_out=nine),
    ]
    before = tenant.ledger_count()
    answer = await post_events(client, tenant, bad)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_event"
    fields = {(d["index"], d["field"]) for d in error["details"]}
    assert {
        (0, "data.units"),
        (1, "data.clock_out"),
        (2, "data.clock_out"),
        (3, "data.clock_out"),
        (4, "data.clock_in"),
    } <= fields
    assert tenant.ledger_count() == before


async def test_a_pool_is_shared_by_its_codes_and_named_in_answers(
    client: httpx.AsyncClient, tenant: Tenant
):
    pool = {"pool": "HOME-CARE", "service_codes": ["T1019", "S5125"]}
    events = [settings(allow_accumulation=True), grant(**pool)]
    events += [
        visit("visit.confirmed", "v1", "2026-10-05", units="6"),
        visit("visit.confirmed", "v2", "2026-10-06", code="S5125", units="3"),
    ]
    assert (await post_events(client, tenant, events)).status_code == 200
    listed = await client.get(ACCUMULATION, headers=tenant.auth("reader"))
    [item] = listed.json()["items"]
    assert (item["service_code"], item["service_codes"]) == ("HOME-CARE", ["S5125", "T1019"])
    week1 = (await detail(client, tenant, "HOME-CARE", as_of="2026-10-05"))["periods"][0]
    assert (week1["used"], week1["balance"]) == ("9", "1")
    shown = (await client.get("/v1/visits/v2", headers=tenant.auth("reader"))).json()
    assert shown["key"] == {"authorization_number": NUMBER, "service_code": "HOME-CARE"}
    proposal = {"member_id": MEMBER, "payer_id": PAYER, "service_code": "S5125"}
    proposal |= {"service_date": "2026-10-07", "units": "1"}
    check = await client.post("/v1/scheduling/check", json=proposal, headers=tenant.auth("reader"))
    assert (check.json()["authorization_number"], check.json()["service_code"]) == (
        NUMBER,
        "HOME-CARE",  # the key's name, as in every answer (2.13)
    )
    explained = await client.get(
        f"{ACCUMULATION}/{NUMBER}/HOME-CARE/explain", headers=tenant.auth("reader")
    )
    assert [e["type"] for e in explained.json()["events"]] == [
        "payer.settings_changed",
        "authorization.granted",
        "visit.confirmed",
        "visit.confirmed",
    ]


async def test_a_code_in_two_keys_is_refused_also_within_one_batch(
    client: httpx.AsyncClient, tenant: Tenant
):
    batch = [grant(), grant("L2", pool="HOME-CARE", service_codes=["S5125", "T1019"])]
    answer = await post_events(client, tenant, batch)
    assert answer.status_code == 422
    [detail_] = answer.json()["error"]["details"]
    assert (detail_["index"], detail_["field"]) == (1, "data.service_codes")
    assert "T1019 already belongs" in detail_["problem"]
    assert tenant.ledger_count() == 0
    both = grant(service_code="T1019", pool="P", service_codes=["T1019"])
    neither = grant("L3", service_code=None)
    answer = await post_events(client, tenant, [both, neither])
    fields = {(d["index"], d["field"]) for d in answer.json()["error"]["details"]}
    assert fields == {(0, "data.service_code"), (1, "data.service_code")}


async def test_an_opening_balance_continues_the_key(client: httpx.AsyncClient, tenant: Tenant):
    events = [settings(allow_accumulation=True), grant()]
    events += [
        visit("visit.confirmed", "v1", "2026-10-12", units="3"),
        visit("visit.confirmed", "v2", "2026-10-19", units="4"),
    ]
    assert (await post_events(client, tenant, events)).status_code == 200
    before = await detail(client, tenant, "T1019", as_of="2026-10-19")
    opening = event(
        "accumulation.opening_balance",
        member_id=MEMBER,
        payer_id=PAYER,
        authorization_number=NUMBER,
        service_code="T1019",
        as_of="2026-10-14",
        balance="6",
        source="previous system",
        reference="export 42",
    )
    answer = await post_events(client, tenant, [opening])
    assert answer.status_code == 200, answer.text
    after = await detail(client, tenant, "T1019", as_of="2026-10-19")
    assert [p["balance"] for p in after["periods"]] == ["10", "6", "12"]
    assert after["raw_balance"] == "12"
    # as known before the opening was recorded: the ledger's own balance
    known = await detail(client, tenant, "T1019", as_of="2026-10-19", known_at=before["known_at"])
    assert [p["balance"] for p in known["periods"]] == ["10", "17", "23"]
    explained = await client.get(
        f"{ACCUMULATION}/{NUMBER}/T1019/explain",
        params={"as_of": "2026-10-19"},
        headers=tenant.auth("reader"),
    )
    last = explained.json()["events"][-1]
    assert last["type"] == "accumulation.opening_balance"
    assert (last["effect"]["raw_balance_before"], last["effect"]["raw_balance_after"]) == (
        "23",
        "12",
    )


async def test_an_opening_balance_for_an_unknown_key_is_refused(
    client: httpx.AsyncClient, tenant: Tenant
):
    assert (await post_events(client, tenant, [grant()])).status_code == 200
    before = tenant.ledger_count()
    opening = event(
        "accumulation.opening_balance",
        member_id=MEMBER,
        payer_id=PAYER,
        authorization_number=NUMBER,
        service_code="G0151",
        as_of="2026-10-14",
        balance="-2",
        source="previous system",
    )
    answer = await post_events(client, tenant, [opening])
    assert answer.status_code == 422
    [detail_] = answer.json()["error"]["details"]
    assert (detail_["index"], detail_["field"]) == (0, "data.service_code")
    assert tenant.ledger_count() == before
