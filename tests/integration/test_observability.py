"""Observability: JSON log lines with request ids, no member ids at INFO, Prometheus metrics.

The log tests read what the service's own handler (services/api/logs.py) writes, line by line as
JSON; the metric tests read /metrics as Prometheus parses it, before and after the work.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from services.api import ticker
from services.api.app import create_app
from services.api.deps import Context
from services.api.logs import make_handler
from services.api.settings import Settings
from services.api.tracing import setup_tracing
from services.api.webhooks.worker import WebhookWorker
from services.ledger.db import Database
from services.ledger.demo import weekly_example
from tests.integration.conftest import Tenant, make_tenant, post_events

GENERATED_ID = re.compile(r"[0-9a-f]{32}")
FIRST_SUNDAY = date(2026, 10, 4)
ACCUMULATIONS = "/v1/members/{member_id}/accumulations"
DETAIL = "/v1/members/{member_id}/accumulations/{authorization_number}/{service_code}"


# --- capturing the log lines -------------------------------------------------------------------


class Lines:
    """What the service's JSON handler wrote, parsed; every line must be one JSON object."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def of(self, request_id: str) -> list[dict[str, Any]]:
        return [line for line in self.all() if line.get("request_id") == request_id]

    def access(self) -> list[dict[str, Any]]:
        return [line for line in self.all() if line["logger"] == "benefit_ledger.access"]


@pytest.fixture
def lines() -> Iterator[Lines]:
    """The service's loggers at DEBUG into a JSON handler for the test (the level is restored)."""
    stream = io.StringIO()
    handler = make_handler("json", stream)
    logger = logging.getLogger("benefit_ledger")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield Lines(stream)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
async def own_app(database_url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A fresh app (so a fresh metrics registry) with three routes of the test's own: one that
    logs from the event loop, one that logs from a worker thread, one that fails."""
    app = create_app(Settings(database_url=database_url), migrate=False)
    inside = logging.getLogger("benefit_ledger.test")

    @app.get("/test/async/{thing}")
    async def logs_async(thing: str) -> dict[str, str]:
        inside.info("inside the async route")
        return {"thing": thing}

    @app.get("/test/sync")
    def logs_in_thread() -> dict[str, str]:
        inside.warning("inside the sync route", extra={"answer": 42})
        return {"ok": "yes"}

    @app.get("/test/boom/{thing}")
    async def fails(thing: str) -> None:
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as client:
        yield app, client
    await app.state.context.reader.close()


def scrape(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a /metrics answer by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def metrics(client: httpx.AsyncClient) -> dict[Any, float]:
    answer = await client.get("/metrics")
    assert answer.status_code == 200, answer.text
    return scrape(answer.text)


# --- request ids --------------------------------------------------------------------------------


async def test_every_line_of_a_request_carries_its_id(
    own_app: tuple[FastAPI, httpx.AsyncClient], lines: Lines
):
    _, client = own_app
    for path, logged in (("/test/async/a1", "inside the async route"), ("/test/sync", None)):
        answer = await client.get(path)
        assert answer.status_code == 200
        request_id = answer.headers["x-request-id"]
        assert GENERATED_ID.fullmatch(request_id)
        mine = lines.of(request_id)
        messages = [line["message"] for line in mine]
        assert messages[-1].startswith("GET /test/")  # the access line comes last
        if logged:
            assert logged in messages
    sync = [line for line in lines.all() if line["message"] == "inside the sync route"]
    assert len(sync) == 1  # logged from the thread pool, with the id and its own field
    assert sync[0]["request_id"] == answer.headers["x-request-id"]
    assert sync[0]["answer"] == 42
    assert (sync[0]["level"], sync[0]["logger"]) == ("WARNING", "benefit_ledger.test")
    assert datetime.fromisoformat(sync[0]["time"].replace("Z", "+00:00")) <= datetime.now(UTC)
    assert len({line["request_id"] for line in lines.access()}) == 2  # two requests, two ids


async def test_access_line_names_the_route_template_status_duration_and_tenant(
    client: httpx.AsyncClient, tenant: Tenant, lines: Lines
):
    member_id = f"member-{uuid.uuid4().hex[:8]}"
    await post_events(client, tenant, weekly_example(FIRST_SUNDAY, member_id))
    answer = await client.get(f"/v1/members/{member_id}/accumulations", headers=tenant.auth())
    assert answer.status_code == 200
    [access] = [
        line for line in lines.of(answer.headers["x-request-id"]) if line["level"] == "INFO"
    ]
    assert access["logger"] == "benefit_ledger.access"
    assert access["message"].startswith(f"GET {ACCUMULATIONS} 200 ")
    assert (access["method"], access["route"], access["status"]) == ("GET", ACCUMULATIONS, 200)
    assert access["tenant"] == tenant.name
    assert 0 < access["duration_ms"] < 60_000
    unknown = await client.get(
        "/v1/members/x/accumulations", headers={"Authorization": "Bearer no"}
    )
    [refused] = [
        line for line in lines.of(unknown.headers["x-request-id"]) if line["level"] == "INFO"
    ]
    assert (refused["status"], "tenant" in refused) == (401, False)
    missing = await client.get(f"/v1/no-such-page/{member_id}")
    [lost] = [line for line in lines.of(missing.headers["x-request-id"]) if line["level"] == "INFO"]
    assert (lost["route"], lost["status"]) == ("unmatched", 404)


async def test_a_sane_incoming_request_id_is_echoed(client: httpx.AsyncClient, lines: Lines):
    for sent in ("req-7f3a.b:01", "0af7651916cd43dd8448eb211c80319c", "x" * 128):
        answer = await client.get("/healthz", headers={"X-Request-Id": sent})
        assert answer.headers["x-request-id"] == sent
        assert [line.get("route") for line in lines.of(sent)] == [None, "/healthz"]


async def test_an_invalid_incoming_request_id_is_replaced(client: httpx.AsyncClient, lines: Lines):
    for sent in ("x" * 129, "two words", "id;rm -rf", '{"json":1}', ""):
        answer = await client.get("/healthz", headers={"X-Request-Id": sent})
        replaced = answer.headers["x-request-id"]
        assert replaced != sent and GENERATED_ID.fullmatch(replaced), sent
        assert lines.of(replaced) and not lines.of(sent)
    assert "two words" not in lines.stream.getvalue()


async def test_an_unexpected_error_is_logged_with_the_request_id(
    own_app: tuple[FastAPI, httpx.AsyncClient], lines: Lines
):
    _, client = own_app
    answer = await client.get("/test/boom/member-secret", headers={"X-Request-Id": "boom-1"})
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert answer.headers["x-request-id"] == "boom-1"
    mine = lines.of("boom-1")
    error = next(line for line in mine if line["level"] == "ERROR")
    assert error["message"] == "unexpected error on GET /test/boom/{thing}"
    assert "RuntimeError: boom" in error["exception"]
    access = next(line for line in mine if line["message"].startswith("GET "))
    assert (access["status"], access["route"]) == (500, "/test/boom/{thing}")
    assert all("member-secret" not in json.dumps(line) for line in mine if line["level"] != "DEBUG")


# --- member ids ----------------------------------------------------------------------------------


async def test_no_member_id_at_info_while_recording_a_visit_and_reading_a_balance(
    client: httpx.AsyncClient, tenant: Tenant, lines: Lines
):
    member_id = f"member-{uuid.uuid4().hex}"
    recorded = await post_events(client, tenant, weekly_example(FIRST_SUNDAY, member_id))
    assert recorded.status_code == 200, recorded.text
    detail = DETAIL.format(
        member_id=member_id, authorization_number="AUTH-100", service_code="T1019"
    )
    balance = await client.get(detail, params={"as_of": "2026-10-31"}, headers=tenant.auth())
    assert balance.status_code == 200, balance.text
    listed = await client.get(f"/v1/members/{member_id}/accumulations", headers=tenant.auth())
    assert listed.status_code == 200
    every = lines.all()
    shown = [line for line in every if line["level"] != "DEBUG"]
    assert [line["route"] for line in shown] == ["/v1/events", DETAIL, ACCUMULATIONS]
    assert all(member_id not in json.dumps(line) for line in shown)
    # the raw paths are there at DEBUG, where they may be: the check above would have seen them
    paths = [line["path"] for line in every if line["message"] == "request path"]
    assert f"/v1/members/{member_id}/accumulations" in paths


# --- metrics -------------------------------------------------------------------------------------


async def test_request_latency_histogram_by_route_template(
    client: httpx.AsyncClient, tenant: Tenant
):
    member_id = f"member-{uuid.uuid4().hex}"
    name = "benefit_ledger_http_request_duration_seconds"
    labels = {"method": "GET", "route": ACCUMULATIONS, "status_class": "2xx"}
    await post_events(client, tenant, weekly_example(FIRST_SUNDAY, member_id))
    before = await metrics(client)
    for _ in range(3):
        answer = await client.get(f"/v1/members/{member_id}/accumulations", headers=tenant.auth())
        assert answer.status_code == 200
    await client.get(f"/v1/members/{member_id}/accumulations")  # no key: 401
    after = await metrics(client)
    assert value(after, f"{name}_count", **labels) - value(before, f"{name}_count", **labels) == 3
    refused = {**labels, "status_class": "4xx"}
    assert value(after, f"{name}_count", **refused) - value(before, f"{name}_count", **refused) == 1
    spent = value(after, f"{name}_sum", **labels) - value(before, f"{name}_sum", **labels)
    assert 0 < spent < 60
    slowest = {**labels, "le": "+Inf"}
    assert value(after, f"{name}_bucket", **slowest) == value(after, f"{name}_count", **labels)
    assert value(after, f"{name}_count", method="GET", route="/metrics", status_class="2xx") >= 1
    for (_, sample_labels), _ in after.items():  # bounded labels: never a member or a tenant
        assert all(member_id not in v and tenant.name not in v for _, v in sample_labels)


async def test_events_recorded_counter_grows_by_type(client: httpx.AsyncClient, tenant: Tenant):
    events = weekly_example(FIRST_SUNDAY, f"member-{uuid.uuid4().hex}")
    name = "benefit_ledger_events_recorded_total"
    before = await metrics(client)
    assert (await post_events(client, tenant, events)).status_code == 200
    middle = await metrics(client)
    assert (await post_events(client, tenant, events)).status_code == 200  # all duplicates
    after = await metrics(client)
    grew = {
        kind: value(middle, name, type=kind) - value(before, name, type=kind)
        for kind in ("payer.settings_changed", "authorization.granted", "visit.confirmed")
    }
    assert grew == {"payer.settings_changed": 1, "authorization.granted": 1, "visit.confirmed": 4}
    assert value(after, name, type="visit.confirmed") == value(middle, name, type="visit.confirmed")
    duplicates = "benefit_ledger_events_duplicate_total"
    assert value(after, duplicates) - value(middle, duplicates) == len(events)
    # the process's traffic, summed over tenants; the ledger's own size is no key-less figure
    assert not any(sample[0] == "benefit_ledger_events" for sample in after)


def _derived_count(database: Database, tenant: str | None = None) -> int:
    connection = database.connect()
    try:
        if tenant is None:
            rows = connection.execute("SELECT COUNT(*) FROM derived_events")
        else:
            rows = connection.execute(
                "SELECT COUNT(*) FROM derived_events WHERE tenant = ?", (tenant,)
            )
    finally:
        connection.close()
    return int(rows[0][0])


def _checkpoint(database: Database, tenant: str, name: str, sequence: int | None) -> None:
    connection = database.connect()
    try:
        with connection.transaction(write=True):
            connection.execute(
                "DELETE FROM relay_checkpoints WHERE tenant = ? AND name = ?", (tenant, name)
            )
            if sequence is not None:
                connection.execute(
                    "INSERT INTO relay_checkpoints (tenant, name, sequence) VALUES (?, ?, ?)",
                    (tenant, name, sequence),
                )
    finally:
        connection.close()


def _occurred_at(database: Database, tenant: str, sequence: int, at: str | None = None) -> str:
    """A derived event's occurred_at; with `at`, set to it first (the old value is answered)."""
    connection = database.connect()
    try:
        with connection.transaction(write=True):
            (found,) = connection.execute(
                "SELECT occurred_at FROM derived_events WHERE tenant = ? AND sequence = ?",
                (tenant, sequence),
            )[0]
            if at is not None:
                connection.execute(
                    "UPDATE derived_events SET occurred_at = ? WHERE tenant = ? AND sequence = ?",
                    (at, tenant, sequence),
                )
    finally:
        connection.close()
    return str(found)


async def _relay_lag(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, int]:
    answer = await client.get("/v1/admin/status", headers=tenant.auth("admin"))
    assert answer.status_code == 200, answer.text
    lag: dict[str, int] = answer.json()["relay_lag"]
    return lag


async def test_relay_lag_per_stream(client: httpx.AsyncClient, tenant: Tenant):
    """Without a key, the age of the oldest derived event each stream has not published (all
    tenants); with the tenant's admin key, its own count per stream."""
    name, stream = "benefit_ledger_relay_lag_seconds", f"OBS_{uuid.uuid4().hex[:8]}"
    before = await metrics(client)
    assert (name, frozenset({("stream", "BENEFIT_LEDGER")})) in before  # before any relay ran
    await post_events(client, tenant, weekly_example(FIRST_SUNDAY, "member-1"))
    derived = _derived_count(tenant.database, tenant.name)
    assert derived > 0
    assert (await _relay_lag(client, tenant))["BENEFIT_LEDGER"] == derived
    long_ago = "2001-01-01T00:00:00.000000Z"  # older than any other test's derived event
    was = _occurred_at(tenant.database, tenant.name, derived, long_ago)
    try:
        _checkpoint(tenant.database, tenant.name, "BENEFIT_LEDGER", derived - 1)
        _checkpoint(tenant.database, tenant.name, stream, derived)
        lag = await _relay_lag(client, tenant)
        assert (lag["BENEFIT_LEDGER"], lag[stream]) == (1, 0)
        relayed = await metrics(client)
        since_2001_s = (datetime.now(UTC) - datetime(2001, 1, 1, tzinfo=UTC)).total_seconds()
        # the unpublished event of 2001 is the oldest of BENEFIT_LEDGER; the new stream has
        # published all of this tenant's, so only other tenants' recent ones wait there
        assert value(relayed, name, stream="BENEFIT_LEDGER") >= since_2001_s - 60
        assert 0 <= value(relayed, name, stream=stream) < since_2001_s - 60
        assert not any(sample[0] == "benefit_ledger_relay_lag_events" for sample in relayed)
    finally:
        _occurred_at(tenant.database, tenant.name, derived, was)
        _checkpoint(tenant.database, tenant.name, "BENEFIT_LEDGER", None)
        _checkpoint(tenant.database, tenant.name, stream, None)


async def test_tick_runs_and_last_run(
    own_app: tuple[FastAPI, httpx.AsyncClient], database_url: str, monkeypatch: pytest.MonkeyPatch
):
    app, client = own_app
    ctx: Context = app.state.context
    tenant = make_tenant(database_url)
    today = datetime.now(UTC).date()
    sunday = today - timedelta(days=(today.weekday() + 1) % 7 + 7)  # week 2 of 4 is today's
    await client.post(
        "/v1/events",
        json={"events": weekly_example(sunday, "member-1")[:2]},
        headers=tenant.auth(),
    )
    fresh = await metrics(client)
    assert value(fresh, "benefit_ledger_tick_runs_total", outcome="ok") == 0
    assert value(fresh, "benefit_ledger_tick_last_run_timestamp_seconds") == 0
    derived_before = _derived_count(ctx.database)
    started = time.time()
    await _one_tick(ctx)
    ticked = await metrics(client)
    emitted = _derived_count(ctx.database) - derived_before
    assert emitted >= 1  # at least this tenant's new week
    assert value(ticked, "benefit_ledger_tick_runs_total", outcome="ok") == 1
    assert value(ticked, "benefit_ledger_tick_runs_total", outcome="error") == 0
    assert value(ticked, "benefit_ledger_tick_events_emitted_total") == emitted
    last = value(ticked, "benefit_ledger_tick_last_run_timestamp_seconds")
    assert started <= last <= time.time()

    def broken(database: Database) -> int:
        raise RuntimeError("the database is gone")

    monkeypatch.setattr(ticker, "tick", broken)
    await _one_tick(ctx)
    failed = await metrics(client)
    assert value(failed, "benefit_ledger_tick_runs_total", outcome="error") == 1
    assert value(failed, "benefit_ledger_tick_last_run_timestamp_seconds") == last


async def _one_tick(ctx: Context) -> None:
    """One pass of the schedule `serve` runs: stopped as soon as it has ticked once."""
    stop = asyncio.Event()

    def runs() -> float:
        registry = ctx.metrics.registry
        return sum(
            registry.get_sample_value("benefit_ledger_tick_runs_total", {"outcome": outcome}) or 0
            for outcome in ("ok", "error")
        )

    done = runs()
    task = asyncio.create_task(ticker.tick_schedule(ctx, 3600, stop))
    deadline = time.monotonic() + 30
    while runs() == done:
        assert time.monotonic() < deadline, "the tick did not run"
        await asyncio.sleep(0.02)
    stop.set()
    await task


class _Answering(BaseHTTPRequestHandler):
    status = 503
    received: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        type(self).received.append(self.path)
        self.send_response(type(self).status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


async def test_webhook_deliveries_and_failures(
    own_app: tuple[FastAPI, httpx.AsyncClient],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
):
    app, client = own_app
    ctx: Context = app.state.context
    monkeypatch.setenv("BENEFIT_LEDGER_ALLOW_PRIVATE_WEBHOOKS", "true")
    handler = type("Handler", (_Answering,), {"status": 503, "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    tenant = make_tenant(database_url)
    worker = WebhookWorker(
        Database(database_url),
        secrets=app.state.webhook_secrets,
        backoff_scale=0.05,  # the first retry after 50 ms
        jitter=0.0,
        metrics=ctx.metrics,
    )
    try:
        fresh = await metrics(client)
        for result in ("succeeded", "retrying", "failed"):
            assert value(fresh, "benefit_ledger_webhook_deliveries_total", result=result) == 0
        created = await client.post(
            "/v1/webhooks",
            json={
                "url": f"http://127.0.0.1:{server.server_address[1]}/hook",
                "retry": {"initial_seconds": 1, "max_seconds": 1},
            },
            headers=tenant.auth("subscriber"),
        )
        assert created.status_code == 201, created.text
        await post_events(client, tenant, weekly_example(FIRST_SUNDAY, "member-1"))
        failing = await worker.run_once()  # head of line: one attempt, answered 503
        handler.status = 200
        await asyncio.sleep(0.06)  # the retry is due
        delivered = await worker.run_once()
        after = await metrics(client)
        by_result = {
            result: value(after, "benefit_ledger_webhook_deliveries_total", result=result)
            for result in ("succeeded", "retrying", "failed")
        }
        assert (failing, delivered) == (1, _derived_count(tenant.database, tenant.name))
        assert by_result == {"succeeded": delivered, "retrying": 1, "failed": 0}
        assert value(after, "benefit_ledger_webhook_failures_total", status_class="5xx") == 1
        assert value(after, "benefit_ledger_webhook_failures_total", status_class="none") == 0
        assert len(handler.received) == failing + delivered
    finally:
        await worker.aclose()
        server.shutdown()
        server.server_close()
        connection = tenant.database.connect()
        try:
            for table in ("webhook_deliveries", "webhook_redeliveries", "webhooks"):
                connection.execute(f"DELETE FROM {table} WHERE tenant = ?", (tenant.name,))
        finally:
            connection.close()


# --- tracing --------------------------------------------------------------------------------------


def test_tracing_is_off_without_an_endpoint_and_says_why_without_the_sdk(lines: Lines):
    assert setup_tracing(FastAPI(), {}) is False
    if importlib.util.find_spec("opentelemetry.sdk") is not None:
        pytest.skip("the OpenTelemetry SDK is installed: tracing would start for the process")
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert setup_tracing(FastAPI(), endpoint) is False
    [warning] = [line for line in lines.all() if line["logger"] == "benefit_ledger.tracing"]
    assert warning["level"] == "WARNING"
    assert warning["message"].startswith("OTEL_EXPORTER_OTLP_ENDPOINT is set but")
