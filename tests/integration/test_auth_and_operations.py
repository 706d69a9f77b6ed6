"""Keys, roles and tenant isolation on every endpoint; operations endpoints."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from services.ledger.demo import weekly_example
from tests.integration.conftest import Tenant, make_tenant, post_events

MEMBER_ENDPOINTS = [
    ("GET", "/v1/members/member-1/accumulations", None),
    ("GET", "/v1/members/member-1/accumulations/AUTH-100/T1019", None),
    ("GET", "/v1/members/member-1/accumulations/AUTH-100/T1019/explain", None),
    ("GET", "/v1/members/member-1/accumulations/AUTH-100/T1019/forecast", None),
    ("GET", "/v1/visits/visit-1", None),
]
READER_ENDPOINTS = [
    *MEMBER_ENDPOINTS,
    ("GET", "/v1/reports/exceeding-accumulation", None),
    ("GET", "/v1/reports/utilization", None),
    ("GET", "/v1/reports/authorized-vs-scheduled?from=2026-10-01&to=2026-10-31", None),
    ("GET", "/v1/members", None),
    (
        "POST",
        "/v1/scheduling/check",
        {
            "member_id": "member-1",
            "payer_id": "payer-1",
            "service_code": "T1019",
            "service_date": "2026-10-06",
            "units": "1",
        },
    ),
]
ALL_ENDPOINTS = [
    *READER_ENDPOINTS,
    ("POST", "/v1/events", {"events": weekly_example(date(2026, 10, 4))}),
    ("POST", "/v1/admin/recalculate", {}),
    ("POST", "/v1/api-keys", {"roles": ["reader"]}),
]


@pytest.mark.parametrize(("method", "path", "body"), ALL_ENDPOINTS)
@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc"])
async def test_missing_or_bad_key_is_401(
    client: httpx.AsyncClient, method: str, path: str, body: object, header: str | None
):
    headers = {"Authorization": header} if header else {}
    answer = await client.request(method, path, json=body, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize(("method", "path", "body"), ALL_ENDPOINTS)
async def test_missing_role_is_403(
    client: httpx.AsyncClient, tenant: Tenant, method: str, path: str, body: object
):
    answer = await client.request(method, path, json=body, headers=tenant.auth("subscriber"))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path", "body"), MEMBER_ENDPOINTS)
async def test_another_tenants_member_is_404(
    client: httpx.AsyncClient,
    tenant: Tenant,
    database_url: str,
    method: str,
    path: str,
    body: object,
):
    await post_events(client, tenant, weekly_example(date(2026, 10, 4)))
    mine = await client.request(method, path, json=body, headers=tenant.auth("reader"))
    assert mine.status_code == 200, mine.text
    other = make_tenant(database_url)
    theirs = await client.request(method, path, json=body, headers=other.auth("reader"))
    assert theirs.status_code == 404
    assert theirs.json()["error"]["code"] == "not_found"


async def test_other_tenant_sees_nothing_in_reports(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
):
    await post_events(client, tenant, weekly_example(date(2026, 10, 4)))
    check = {
        "member_id": "member-1",
        "payer_id": "payer-1",
        "service_code": "T1019",
        "service_date": "2026-10-06",
        "units": "1",
    }
    other = make_tenant(database_url)
    answer = await client.post("/v1/scheduling/check", json=check, headers=other.auth("reader"))
    assert answer.json()["available"]["total"] == "0"
    for path in (
        "/v1/reports/exceeding-accumulation",
        "/v1/reports/utilization?as_of=2026-10-14",
        "/v1/reports/authorized-vs-scheduled?from=2026-10-01&to=2026-10-31",
        "/v1/members",
    ):
        mine = await client.get(path, headers=tenant.auth("reader"))
        theirs = await client.get(path, headers=other.auth("reader"))
        assert theirs.status_code == 200, theirs.text
        assert (theirs.json()["items"], theirs.json()["position"]) == ([], 0), path
        if "exceeding" not in path:  # the tenant's own key shows in its own reports
            assert mine.json()["items"], path


async def test_reader_cannot_write(client: httpx.AsyncClient, tenant: Tenant):
    answer = await post_events(client, tenant, weekly_example(date(2026, 10, 4)), who="reader")
    assert answer.status_code == 403
    assert tenant.ledger_count() == 0


async def test_admin_creates_keys_for_its_own_tenant(client: httpx.AsyncClient, tenant: Tenant):
    answer = await client.post(
        "/v1/api-keys", json={"roles": ["writer", "reader"]}, headers=tenant.auth("admin")
    )
    assert answer.status_code == 201
    body = answer.json()
    assert body["tenant"] == tenant.name
    new_key = {"Authorization": f"Bearer {body['key']}"}
    events = weekly_example(date(2026, 10, 4))
    assert (
        await client.post("/v1/events", json={"events": events}, headers=new_key)
    ).status_code == 200
    assert tenant.ledger_count() == len(events)
    bad = await client.post("/v1/api-keys", json={"roles": ["king"]}, headers=tenant.auth("admin"))
    assert bad.status_code == 422


async def test_recalculate_reports_checked_and_corrected(client: httpx.AsyncClient, tenant: Tenant):
    await post_events(client, tenant, weekly_example(date(2026, 10, 4)))
    answer = await client.post("/v1/admin/recalculate", json={}, headers=tenant.auth("admin"))
    assert answer.json() == {"checked": 1, "corrected": 0}
    connection = tenant.database.connect()
    with connection.transaction():
        connection.execute(
            # the last period's balance (the last field of a period row) 7 -> 70
            "UPDATE accumulation_views SET body = REPLACE(body, ',\"7\"]', ',\"70\"]') "
            "WHERE tenant = ?",
            (tenant.name,),
        )
    connection.close()
    one = await client.post(
        "/v1/admin/recalculate", json={"member_id": "member-1"}, headers=tenant.auth("admin")
    )
    assert one.json() == {"checked": 1, "corrected": 1}
    missing = await client.post(
        "/v1/admin/recalculate", json={"member_id": "nobody"}, headers=tenant.auth("admin")
    )
    assert missing.status_code == 404


async def test_health_readiness_metrics_openapi(client: httpx.AsyncClient, tenant: Tenant):
    await post_events(client, tenant, weekly_example(date(2026, 10, 4)))
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    metrics = (await client.get("/metrics")).text
    assert "benefit_ledger_database_up 1.0" in metrics
    assert "benefit_ledger_tenants_lagging 0.0" in metrics
    assert "benefit_ledger_projection_lag_seconds 0.0" in metrics
    schema = (await client.get("/openapi.json")).json()
    assert "/v1/events" in schema["paths"]
    assert "/v1/scheduling/check" in schema["paths"]
