"""What the webhook tests share: real HTTP receivers in threads, tenants' webhooks cleaned up
after each test, workers with schedules scaled down, and helpers that read the API and tables.

Its fixtures are offered to every integration test by tests/integration/conftest.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI

from services.api.webhooks.worker import WebhookWorker
from services.ledger.db import Database
from services.projections.feed import last_sequence

if TYPE_CHECKING:  # conftest imports this module for its fixtures
    from tests.integration.conftest import Tenant

ALLOW_PRIVATE = "BENEFIT_LEDGER_ALLOW_PRIVATE_WEBHOOKS"
# every retry policy in these tests is in whole seconds, as the API takes it; the workers scale
# the backoff down by BACKOFF_SCALE, so a 1 s wait takes 50 ms
BACKOFF_SCALE = 0.05
FAST_RETRY = {"initial_seconds": 1, "max_seconds": 1, "max_attempts": 4}
DEADLINE_S = 10.0


# --- a receiver: a real HTTP server in a thread -------------------------------------------------


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def sequence(self) -> int:
        return int(json.loads(self.body)["sequence"])


@dataclass
class Receiver:
    """Answers each POST from `script` (status, headers), then 200; records every request.
    Paths under /slow wait for `hold` first (bounded, so nothing hangs past the test)."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    delay: float = 0.0
    requests: list[Request] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)  # a /slow request waits
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, request: Request) -> tuple[int, dict[str, str]]:
        if request.path.startswith("/slow"):
            self.arrived.set()
            self.hold.wait(20)
        time.sleep(self.delay)
        with self.lock:
            self.requests.append(request)
            return self.script.pop(0) if self.script else (200, {})

    def on(self, path: str) -> list[Request]:
        with self.lock:
            return [request for request in self.requests if request.path == path]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, extra = receiver.answer(Request(self.path, headers, body))
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    servers: list[ThreadingHTTPServer] = []

    def start(**options: Any) -> Receiver:
        receiver = Receiver(**options)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
        receiver.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return receiver

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# --- tenants, webhooks, events and workers ------------------------------------------------------


@pytest.fixture
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE, "true")


@pytest.fixture
def hooks(tenant: Tenant) -> Iterator[list[str]]:
    """The tenants of this test; their webhooks are removed at the end, so a worker in a later
    test (the tables are shared by the session) does not call receivers that are gone."""
    tenants = [tenant.name]
    yield tenants
    connection = tenant.database.connect()
    try:
        for name in tenants:
            for table in ("webhook_deliveries", "webhook_redeliveries", "webhooks"):
                connection.execute(f"DELETE FROM {table} WHERE tenant = ?", (name,))
    finally:
        connection.close()


@pytest.fixture
async def workers(app: FastAPI, database_url: str) -> AsyncIterator[Callable[..., WebhookWorker]]:
    """Workers with the app's secret key, no jitter and the backoff scaled down (options
    override these)."""
    made: list[WebhookWorker] = []

    def make(**options: Any) -> WebhookWorker:
        options = {
            "secrets": app.state.webhook_secrets,
            "backoff_scale": BACKOFF_SCALE,
            "jitter": 0.0,
            "poll_interval": 0.05,
            **options,
        }
        worker = WebhookWorker(Database(database_url), **options)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        await worker.aclose()


def add_events(tenant: Tenant, types: list[str]) -> list[int]:
    """Derived events of the tenant with the next sequences, one per type given."""
    connection = tenant.database.connect()
    try:
        with connection.transaction(write=True):
            start = last_sequence(connection, tenant.name)
            rows = [
                (tenant.name, start + offset, f"evt-{uuid.uuid4().hex}", event_type,
                 "2026-11-23T10:00:00.000000Z", start + offset, json.dumps({"n": start + offset}))
                for offset, event_type in enumerate(types, start=1)
            ]  # fmt: skip
            connection.executemany(
                "INSERT INTO derived_events (tenant, sequence, event_id, type, occurred_at, "
                "position, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
    finally:
        connection.close()
    return [row[1] for row in rows]


def balance_events(tenant: Tenant, count: int) -> list[int]:
    return add_events(tenant, ["balance.changed"] * count)


async def register(
    client: httpx.AsyncClient,
    tenant: Tenant,
    url: str,
    types: list[str] | None = None,
    retry: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A webhook with FAST_RETRY unless another retry policy is given."""
    body: dict[str, Any] = {"url": url, "retry": retry or FAST_RETRY}
    if types is not None:
        body["types"] = types
    answer = await client.post("/v1/webhooks", json=body, headers=tenant.auth("subscriber"))
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def deliveries(client: httpx.AsyncClient, tenant: Tenant, webhook_id: str) -> list[Any]:
    answer = await client.get(
        f"/v1/webhooks/{webhook_id}/deliveries", headers=tenant.auth("subscriber")
    )
    assert answer.status_code == 200, answer.text
    items: list[Any] = answer.json()["items"]
    return items


async def until(condition: Callable[[], bool], worker: WebhookWorker | None = None) -> None:
    """Run passes of `worker` (or just wait, while another runs) until `condition` holds."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "not delivered in time"
        if worker is not None:
            await worker.run_once()
        await asyncio.sleep(0.02)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def webhook_row(
    tenant: Tenant, webhook_id: str, columns: str = "cursor_sequence, lease_owner, lease_until"
) -> tuple[Any, ...]:
    connection = tenant.database.connect()
    try:
        return connection.execute(
            f"SELECT {columns} FROM webhooks WHERE tenant = ? AND webhook_id = ?",
            (tenant.name, webhook_id),
        )[0]
    finally:
        connection.close()


async def webhook(client: httpx.AsyncClient, tenant: Tenant, webhook_id: str) -> dict[str, Any]:
    """The endpoint as GET answers it."""
    answer = await client.get(f"/v1/webhooks/{webhook_id}", headers=tenant.auth("subscriber"))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def change(
    client: httpx.AsyncClient, tenant: Tenant, webhook_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.patch(
        f"/v1/webhooks/{webhook_id}", json=body, headers=tenant.auth("subscriber")
    )
