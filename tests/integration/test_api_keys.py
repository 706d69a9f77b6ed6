"""The API key lifecycle: names, expiry, listing and revocation, within one tenant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from services.ledger.keys import create_key
from tests.integration.conftest import Tenant, make_tenant


async def _create(client: httpx.AsyncClient, tenant: Tenant, **body: object) -> httpx.Response:
    return await client.post("/v1/api-keys", json=body, headers=tenant.auth("admin"))


async def test_a_named_key_with_an_expiry_is_listed_without_its_secret(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    created = await _create(
        client, tenant, roles=["reader"], name="front desk", expires_at=expires.isoformat()
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["roles"], body["tenant"]) == ("front desk", ["reader"], tenant.name)
    assert datetime.fromisoformat(body["expires_at"]) == expires
    reader = {"Authorization": f"Bearer {body['key']}"}
    assert (await client.get("/v1/ledger/events", headers=reader)).status_code == 200

    listed = await client.get("/v1/api-keys", headers=tenant.auth("admin"))

    assert listed.status_code == 200
    items = {item["key_id"]: item for item in listed.json()["items"]}
    assert len(items) == 6  # the fixture's five role sets and this one
    mine = items[body["key_id"]]
    assert (mine["name"], mine["roles"], mine["status"]) == ("front desk", ["reader"], "active")
    assert datetime.fromisoformat(mine["expires_at"]) == expires
    assert mine["revoked_at"] is None
    assert body["key"] not in listed.text
    for _ in range(50):  # noted by a background write, at most once a minute
        if mine["last_used_at"] is not None:
            break
        await asyncio.sleep(0.05)
        listed = await client.get("/v1/api-keys", headers=tenant.auth("admin"))
        mine = {i["key_id"]: i for i in listed.json()["items"]}[body["key_id"]]
    assert mine["last_used_at"] is not None


async def test_a_revoked_key_answers_401_at_once_also_in_another_process(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
) -> None:
    from services.api.app import create_app
    from services.api.settings import Settings

    created = (await _create(client, tenant, roles=["reader"])).json()
    auth = {"Authorization": f"Bearer {created['key']}"}
    other_app = create_app(Settings(database_url=database_url, delivery_workers=False))
    transport = httpx.ASGITransport(app=other_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://second.test") as second:
        assert (await second.get("/v1/ledger/events", headers=auth)).status_code == 200

        revoked = await client.delete(
            f"/v1/api-keys/{created['key_id']}", headers=tenant.auth("admin")
        )

        assert revoked.status_code == 200
        assert revoked.json()["status"] == "revoked"
        for each in (client, second):
            refused = await each.get("/v1/ledger/events", headers=auth)
            assert refused.status_code == 401
            assert "revoked" in refused.json()["error"]["message"]
        again = await client.delete(
            f"/v1/api-keys/{created['key_id']}", headers=tenant.auth("admin")
        )
        assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    await other_app.state.context.reader.close()


async def test_an_expired_key_answers_401(client: httpx.AsyncClient, tenant: Tenant) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1)
    key, _ = create_key(
        tenant.database, tenant.name, ["reader"], datetime.now(UTC), expires_at=soon
    )
    auth = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/v1/ledger/events", headers=auth)).status_code == 200
    await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.05)

    refused = await client.get("/v1/ledger/events", headers=auth)

    assert refused.status_code == 401
    assert "expired" in refused.json()["error"]["message"]
    listed = await client.get("/v1/api-keys", headers=tenant.auth("admin"))
    assert "expired" in [item["status"] for item in listed.json()["items"]]


async def test_keys_stay_in_their_tenant_and_need_the_admin_role(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
) -> None:
    other = make_tenant(database_url)
    theirs = (await _create(client, other, roles=["reader"])).json()

    assert (
        await client.delete(f"/v1/api-keys/{theirs['key_id']}", headers=tenant.auth("admin"))
    ).status_code == 404
    listed = (await client.get("/v1/api-keys", headers=tenant.auth("admin"))).json()
    assert theirs["key_id"] not in [item["key_id"] for item in listed["items"]]
    assert (
        await client.get("/v1/ledger/events", headers={"Authorization": f"Bearer {theirs['key']}"})
    ).status_code == 200
    for path in ("/v1/api-keys", f"/v1/api-keys/{theirs['key_id']}"):
        method = client.get if path == "/v1/api-keys" else client.delete
        assert (await method(path, headers=tenant.auth("writer"))).status_code == 403
        assert (await method(path)).status_code == 401


async def test_a_past_or_naive_expiry_is_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for expires_at, field in ((past, "expires_at"), ("2030-01-01T00:00:00", "expires_at")):
        answer = await _create(client, tenant, roles=["reader"], expires_at=expires_at)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["details"][0]["field"].endswith(field)
    assert (
        len((await client.get("/v1/api-keys", headers=tenant.auth("admin"))).json()["items"]) == 5
    )
