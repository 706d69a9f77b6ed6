"""The ASGI app on each database, an httpx client, and a fresh tenant with keys per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.api.app import create_app
from services.api.settings import Settings
from services.ledger.db import Database
from services.ledger.keys import create_key
from tests.conftest import new_tenant
from tests.integration.webhooks_support import (  # noqa: F401 (fixtures of the webhook tests)
    allow_private,
    hooks,
    receivers,
    workers,
)


@pytest.fixture(scope="session")
def app(database_url: str) -> FastAPI:
    return create_app(Settings(database_url=database_url))


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as client:
        yield client
    await app.state.context.reader.close()  # before the session's database is dropped


@dataclass
class Tenant:
    """A tenant of its own for one test, with one key per role set."""

    name: str
    database: Database
    keys: dict[str, str]

    def auth(self, who: str = "writer") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def ledger_count(self) -> int:
        connection = self.database.connect()
        try:
            rows = connection.execute(
                "SELECT COUNT(*) FROM ledger_events WHERE tenant = ?", (self.name,)
            )
        finally:
            connection.close()
        return int(rows[0][0])


ROLE_SETS = {
    "writer": ["writer", "reader"],
    "reader": ["reader"],
    "supervisor": ["writer", "reader", "supervisor"],
    "admin": ["admin"],
    "subscriber": ["subscriber"],
}


def make_tenant(database_url: str) -> Tenant:
    database = Database(database_url)
    name = new_tenant()
    now = datetime.now(UTC)
    keys = {who: create_key(database, name, roles, now)[0] for who, roles in ROLE_SETS.items()}
    return Tenant(name, database, keys)


@pytest.fixture
def tenant(app: FastAPI, database_url: str) -> Tenant:
    return make_tenant(database_url)


async def post_events(
    client: httpx.AsyncClient, tenant: Tenant, events: list[dict[str, Any]], who: str = "writer"
) -> httpx.Response:
    return await client.post("/v1/events", json={"events": events}, headers=tenant.auth(who))
