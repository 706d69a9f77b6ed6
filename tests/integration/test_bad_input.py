"""Bad input answers the contract's error shape with precise details and stores nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Tenant, post_events


def event(type_: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": type_, "data": data}


def grant(**overrides: Any) -> dict[str, Any]:
    data = {
        "authorization_id": "line-1",
        "authorization_number": "A-1",
        "member_id": "m-1",
        "payer_id": "p-1",
        "service_code": "S1",
        "frequency": "week",
        "units": "10",
        "start_date": "2026-10-04",
        "end_date": "2026-10-31",
    }
    data.update(overrides)
    return event("authorization.granted", **{k: v for k, v in data.items() if v is not None})


def visit(visit_id: str = "v-1", **overrides: Any) -> dict[str, Any]:
    data = {
        "visit_id": visit_id,
        "member_id": "m-1",
        "payer_id": "p-1",
        "service_code": "S1",
        "service_date": "2026-10-06",
        "units": "4",
    }
    data.update(overrides)
    return event("visit.scheduled", **data)


BAD_BATCHES = {
    "unknown type": ([event("visit.teleported", visit_id="v")], "type"),
    "missing field": ([grant(units=None)], "data.units"),
    "extra field": ([grant(colour="blue")], "data.colour"),
    "negative units": ([grant(units="-3")], "data.units"),
    "non-numeric units": ([grant(units="ten")], "data.units"),
    "impossible date": ([grant(start_date="2026-02-30")], "data.start_date"),
    "end before start": ([grant(start_date="2026-10-31", end_date="2026-10-01")], "data"),
    "amend unknown": (
        [event("authorization.amended", authorization_id="nope", units="1")],
        "data.authorization_id",
    ),
    "status of unknown visit": ([event("visit.missed", visit_id="nope")], "data.visit_id"),
    "mixed frequencies": (
        [grant(), grant(authorization_id="line-2", frequency="month")],
        "data.frequency",
    ),
    "unknown time zone": (
        [event("tenant.settings_changed", time_zone="Mars/Olympus")],
        "data.time_zone",
    ),
    "tenant settings changing nothing": ([event("tenant.settings_changed")], "data"),
    "authorization required neither codes nor all": (
        [event("payer.settings_changed", payer_id="p-1", authorization_required="some")],
        "data.authorization_required.literal['all']",
    ),
    "extra envelope field": ([{**grant(), "colour": "blue"}], "colour"),
    "id not a uuid": ([{**grant(), "id": "not-a-uuid"}], "id"),
}


@pytest.mark.parametrize("case", sorted(BAD_BATCHES))
async def test_bad_batch_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, tenant: Tenant, case: str
):
    events, field = BAD_BATCHES[case]
    answer = await post_events(client, tenant, events)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_event"
    assert any(d["field"] == field for d in error["details"]), error["details"]
    assert all(d["index"] is not None for d in error["details"])
    assert tenant.ledger_count() == 0


async def test_malformed_json(client: httpx.AsyncClient, tenant: Tenant):
    answer = await client.post(
        "/v1/events",
        content=b'{"events": [',
        headers={**tenant.auth(), "content-type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_event"
    assert answer.json()["error"]["details"][0]["field"] == "body"
    assert tenant.ledger_count() == 0


@pytest.mark.parametrize("body", [{}, {"events": []}, {"events": "x"}, [1, 2]])
async def test_empty_or_wrong_envelope(client: httpx.AsyncClient, tenant: Tenant, body: Any):
    answer = await client.post("/v1/events", json=body, headers=tenant.auth())
    assert answer.status_code == 422
    assert answer.json()["error"]["details"]


async def test_batch_is_all_or_nothing(client: httpx.AsyncClient, tenant: Tenant):
    answer = await post_events(client, tenant, [grant(), visit(), grant(units="-1")])
    assert answer.status_code == 422
    assert [d["index"] for d in answer.json()["error"]["details"]] == [2]
    assert tenant.ledger_count() == 0


async def test_each_event_sees_the_ones_before_it(client: httpx.AsyncClient, tenant: Tenant):
    events = [grant(), visit(), event("visit.missed", visit_id="v-1", reason="no show")]
    answer = await post_events(client, tenant, events)
    assert answer.status_code == 200, answer.text
    positions = [result["position"] for result in answer.json()["results"]]
    assert positions == list(range(positions[0], positions[0] + 3))
    body = (await client.get("/v1/visits/v-1", headers=tenant.auth())).json()
    assert body["status"] == "missed"


async def test_retry_is_idempotent_and_reuse_is_refused(client: httpx.AsyncClient, tenant: Tenant):
    first = grant()
    answer = await post_events(client, tenant, [first])
    again = await post_events(client, tenant, [first])
    assert again.status_code == 200
    [result] = again.json()["results"]
    assert result["status"] == "duplicate"
    assert result["position"] == answer.json()["results"][0]["position"]
    assert tenant.ledger_count() == 1

    reused = {**grant(units="99"), "id": first["id"]}
    conflict = await post_events(client, tenant, [reused])
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "event_id_reused"
    assert tenant.ledger_count() == 1


async def test_amending_a_voided_line_is_refused(client: httpx.AsyncClient, tenant: Tenant):
    await post_events(
        client, tenant, [grant(), event("authorization.voided", authorization_id="line-1")]
    )
    answer = await post_events(
        client, tenant, [event("authorization.amended", authorization_id="line-1", units="3")]
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["field"] == "data.authorization_id"
    assert tenant.ledger_count() == 2
