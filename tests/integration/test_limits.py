"""Requests outside what an endpoint takes: unknown query parameters (422 naming them) and
bodies over the configured size (413, before the body is read whole; nothing stored)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from fastapi import FastAPI

from services.api.app import create_app
from services.api.settings import Settings
from services.ledger.demo import weekly_example
from tests.integration.conftest import Tenant, post_events

LIMIT = 4096


@pytest.fixture
async def small(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(
        Settings(database_url=database_url, delivery_workers=False, max_body_bytes=LIMIT)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://small.test") as client:
        yield client
    await app.state.context.reader.close()


def _events(count: int) -> list[dict[str, object]]:
    base = weekly_example(date(2026, 10, 4))
    visits = [e for e in base if e["type"] == "visit.confirmed"]
    return base[:1] + [dict(visits[0], id=str(uuid.uuid4())) for _ in range(count)]


async def test_a_misspelled_query_parameter_is_refused_not_ignored(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await post_events(client, tenant, weekly_example(date(2026, 10, 4)))
    path = "/v1/members/member-1/accumulations"

    typo = await client.get(path, params={"asof": "2026-10-10"}, headers=tenant.auth("reader"))

    assert typo.status_code == 422
    error = typo.json()["error"]
    assert error["code"] == "invalid_request"
    assert "asof" in error["message"]
    assert error["details"][0]["field"] == "asof"
    assert "as_of" in error["details"][0]["problem"]
    right = await client.get(path, params={"as_of": "2026-10-10"}, headers=tenant.auth("reader"))
    assert right.status_code == 200
    assert (await client.get("/healthz", params={"verbose": "1"})).status_code == 422


async def test_a_body_over_the_limit_is_refused_with_413_and_stores_nothing(
    small: httpx.AsyncClient, tenant: Tenant
) -> None:
    body = json.dumps({"events": _events(40)}).encode()
    assert len(body) > LIMIT

    declared = await small.post("/v1/events", content=body, headers=tenant.auth())

    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(body), 512):
            yield body[start : start + 512]

    chunked = await small.post("/v1/events", content=chunks(), headers=tenant.auth())

    assert chunked.status_code == 413
    assert chunked.json()["error"]["code"] == "payload_too_large"
    assert tenant.ledger_count() == 0
    fits = await small.post("/v1/events", json={"events": _events(1)}, headers=tenant.auth())
    assert fits.status_code == 200, fits.text


async def test_a_large_body_on_a_typed_endpoint_is_413_too(
    small: httpx.AsyncClient, tenant: Tenant
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"member_id": "' + b"x" * (2 * LIMIT) + b'"}'

    answer = await small.post(
        "/v1/admin/recalculate", content=chunks(), headers=tenant.auth("admin")
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"
