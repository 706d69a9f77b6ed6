"""Faults answered honestly: while the database cannot be reached, every route answers 503 in
the contract's error shape with Retry-After, never 500; /readyz says why; once the database is
back the same requests succeed again, without a restart.

On PostgreSQL the outage is made the way it reaches the service: a database of its own stops
accepting connections and its sessions are terminated, the pooled ones (reader and writer)
included. On SQLite: a writer holding the lock past the busy timeout, a file that cannot be
opened. tests/e2e/test_outage_serve.py does the same to a real `serve` process.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psycopg
import pytest
from fastapi import FastAPI

from services.api.app import create_app
from services.api.settings import Settings
from services.ledger import db as ledger_db
from services.ledger.availability import database_unavailable
from services.ledger.db import Database
from services.ledger.demo import weekly_example
from services.ledger.errors import InfrastructureError
from services.ledger.keys import create_key
from tests.conftest import database_name, database_outage, fresh_postgres_database
from tests.unit.test_docs_coverage import endpoints

FIRST_SUNDAY = date(2026, 10, 4)
ALL_ROLES = ["writer", "reader", "supervisor", "admin", "subscriber"]
# routes that answer without the database: the home page, liveness, and the metrics (which
# then say benefit_ledger_database_up 0, so the process's own series stay visible)
WITHOUT_DATABASE = {("GET", "/"), ("GET", "/healthz"), ("GET", "/metrics")}


def visit(visit_id: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "visit.scheduled",
        "data": {
            "visit_id": visit_id,
            "member_id": "member-1",
            "payer_id": "payer-1",
            "service_code": "T1019",
            "service_date": "2026-10-21",
            "units": "2",
        },
    }


PATH_EXAMPLES = {
    "member_id": "member-1",
    "authorization_number": "AUTH-100",
    "service_code": "T1019",
    "visit_id": "visit-1",
    "benefit_id": "benefit-none",
    "code": "DED",
    "key_id": "key-none",
    "webhook_id": "webhook-none",
    "sequence": "1",
}
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/admin/recalculate"): {"member_id": "member-1"},
    ("POST", "/v1/api-keys"): {"roles": ["reader"], "name": "outage test"},
    ("POST", "/v1/feeds/stream-tokens"): {},
    ("POST", "/v1/members/{member_id}/eligibility/reconcile"): {
        "resourceType": "CoverageEligibilityResponse",
        "status": "active",
        "purpose": ["benefit"],
        "patient": {"reference": "Patient/member-1"},
        "created": "2026-07-01T09:30:00Z",
        "request": {"reference": "CoverageEligibilityRequest/r-1"},
        "outcome": "complete",
        "insurer": {"reference": "Organization/acme"},
    },
    ("POST", "/v1/members/{member_id}/accumulators/simulate"): {
        "claim": {"plan_type": "medical", "lines": []}
    },
    ("POST", "/v1/scheduling/check"): {
        "member_id": "member-1",
        "payer_id": "payer-1",
        "service_code": "T1019",
        "service_date": "2026-10-14",
        "units": "2",
    },
    ("POST", "/v1/webhooks"): {"url": "https://hooks.example.com/ledger"},
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{sequence}/redeliver"): None,
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): {},
    ("PATCH", "/v1/webhooks/{webhook_id}"): {"status": "active"},
}
QUERIES = {"/v1/feeds/events/stream": {"limit": "1"}}  # the stream ends after one event


def request_for(method: str, template: str, n: int) -> dict[str, Any]:
    """One example request of a route (a new event each time for POST /v1/events)."""
    path = template
    for name, value in PATH_EXAMPLES.items():
        path = path.replace(f"{{{name}}}", value)
    assert "{" not in path, f"no example value for a parameter of {template}"
    request: dict[str, Any] = {"method": method, "url": path, "params": QUERIES.get(template)}
    if (method, template) == ("POST", "/v1/events"):
        request["json"] = {"events": [visit(f"outage-visit-{n}")]}
    elif method in ("POST", "PATCH"):  # every such route has its body here: none is missed
        request["json"] = BODIES[(method, template)]
    return request


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    key: str
    url: str

    async def call(self, method: str, template: str, n: int = 0) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        return await self.client.request(headers=headers, **request_for(method, template, n))


async def serve_app(url: str) -> AsyncIterator[Service]:
    app = create_app(Settings(database_url=url, delivery_workers=False))
    key = create_key(Database(url), f"t-{uuid.uuid4().hex[:12]}", ALL_ROLES, datetime.now(UTC))[0]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as client:
            service = Service(app, client, key, url)
            seeded = await client.post(
                "/v1/events",
                json={"events": weekly_example(FIRST_SUNDAY)},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert seeded.status_code == 200, seeded.text
            yield service
    finally:
        await app.state.context.reader.close()


@pytest.fixture
async def postgres_service(postgres_server_url: str) -> AsyncIterator[Service]:
    with fresh_postgres_database(postgres_server_url, "benefit_ledger_outage") as url:
        async for service in serve_app(url):
            yield service


def assert_unavailable(answer: httpx.Response, what: str) -> None:
    assert answer.status_code == 503, f"{what}: {answer.status_code} {answer.text[:300]}"
    assert answer.headers["Retry-After"].isdigit(), what
    error = answer.json()["error"]
    assert error["code"] == "unavailable", what
    assert error["message"] == "the database is unavailable; retry later", what
    assert error["details"] == [], what


async def test_every_route_answers_503_while_the_database_is_down_and_works_again_after(
    postgres_service: Service, postgres_server_url: str
):
    service = postgres_service
    routes = sorted(endpoints(service.app), key=lambda route: (route[1], route[0]))
    assert ("POST", "/v1/events") in routes and len(routes) >= 30, "route discovery broke"
    before = {route: await service.call(*route, n=1) for route in routes}
    assert all(answer.status_code < 500 for answer in before.values()), before

    with database_outage(postgres_server_url, service.url):
        during = {route: await service.call(*route, n=2) for route in routes}
        ready = await service.client.get("/readyz")
        metrics = (await service.client.get("/metrics")).text

    for route, answer in during.items():
        if route in WITHOUT_DATABASE:
            assert answer.status_code == 200, route
        elif route == ("GET", "/readyz"):  # its own answer, saying why it is not ready
            assert (answer.status_code, answer.headers["Retry-After"]) == (503, "5")
            assert answer.json() == {"status": "unavailable", "reason": "database unreachable"}
        else:
            assert_unavailable(answer, f"{route[0]} {route[1]}")
    assert ready.json() == {"status": "unavailable", "reason": "database unreachable"}
    assert "benefit_ledger_database_up 0.0" in metrics
    assert 'status_class="5xx"' in metrics  # the process's own series, the 503s among them

    after = {route: await service.call(*route, n=3) for route in routes}
    for route, answer in after.items():
        assert answer.status_code < 500, f"{route}: {answer.status_code} {answer.text[:300]}"
        assert answer.status_code == before[route].status_code, route
    assert after[("POST", "/v1/events")].json()["results"][0]["status"] == "recorded"
    assert (await service.client.get("/readyz")).json() == {"status": "ready"}


async def test_a_write_whose_connection_is_cut_is_answered_503_and_the_next_one_succeeds(
    postgres_service: Service, postgres_server_url: str
):
    """The connection drops in the middle of a write (the writer waits for the tenant's head,
    which another session holds, and its backend is terminated meanwhile)."""
    service = postgres_service
    name = database_name(service.url)
    with psycopg.connect(service.url) as holder:
        holder.execute("SELECT position FROM ledger_heads FOR UPDATE")
        write = asyncio.create_task(service.call("POST", "/v1/events", n=4))
        waiting = await _lock_waiter(postgres_server_url, name)
        with psycopg.connect(postgres_server_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (waiting,))
        answer = await asyncio.wait_for(write, 30)
        holder.rollback()
    assert_unavailable(answer, "the write whose connection was cut")
    again = await service.call("POST", "/v1/events", n=5)
    assert again.status_code == 200, again.text
    assert again.json()["results"][0]["status"] == "recorded"


async def _lock_waiter(server_url: str, name: str) -> int:
    """The backend of the database waiting for a lock (the writer), once there is one."""
    for _ in range(200):
        with psycopg.connect(server_url, autocommit=True) as connection:
            rows = connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                (name,),
            ).fetchall()
        if rows:
            return int(rows[0][0])
        await asyncio.sleep(0.05)
    raise AssertionError("the write never waited for the held head")


async def test_a_sqlite_writer_locked_out_past_the_busy_timeout_is_answered_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(ledger_db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    async for service in serve_app(url):
        other = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
            locked_out = await service.call("POST", "/v1/events", n=6)
            still_read = await service.call("GET", "/v1/members/{member_id}/accumulations")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert_unavailable(locked_out, "a write locked out")
        assert still_read.status_code == 200  # WAL: readers do not wait for the writer
        again = await service.call("POST", "/v1/events", n=7)
        assert again.status_code == 200, again.text


async def test_a_sqlite_file_that_cannot_be_opened_is_answered_503(tmp_path: Path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    app = create_app(
        Settings(database_url=f"sqlite:///{blocker / 'ledger.db'}", delivery_workers=False),
        migrate=False,
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as client:
        read = await client.get(
            "/v1/members/member-1/accumulations", headers={"Authorization": "Bearer bl_any"}
        )
        ready = await client.get("/readyz")
    assert_unavailable(read, "a read of a file that cannot be opened")
    assert (ready.status_code, ready.json()["status"]) == (503, "unavailable")
    assert ready.headers["Retry-After"].isdigit()


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (sqlite3.OperationalError("unable to open database file"), True),
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("no such table: ledger_events"), False),
        (psycopg.OperationalError("server closed the connection unexpectedly"), True),
        (psycopg.errors.AdminShutdown("terminating connection"), True),
        (psycopg.errors.UniqueViolation("duplicate key"), False),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), True),
        (asyncpg.exceptions.UndefinedTableError("relation does not exist"), False),
        (InfrastructureError("cannot open the database"), True),
        (ConnectionRefusedError(111, "refused"), True),
        (ValueError("a bug"), False),
    ],
)
def test_which_failures_mean_the_database_is_unavailable(error: BaseException, unavailable: bool):
    assert database_unavailable(error) is unavailable
