"""Webhooks end to end on SQLite and PostgreSQL: the API, and the worker delivering to real
HTTP receivers on 127.0.0.1 (allowed through BENEFIT_LEDGER_ALLOW_PRIVATE_WEBHOOKS).

Derived events are inserted straight into `derived_events`, as the append path writes them.
Retry schedules are scaled down to fractions of a second; time is only ever bounded from below
or given generous deadlines. Pausing, resuming, the delivery status, retry timing and secrets
(rotation, encryption at rest) are in test_webhook_control.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from services.api.webhooks import store
from services.api.webhooks.signing import new_secret, verify
from services.api.webhooks.ssrf import UrlRefused, blocked_reason, check_url
from services.api.webhooks.worker import WebhookWorker
from services.projections.feed import last_sequence
from tests.integration.conftest import make_tenant
from tests.integration.webhooks_support import (
    ALLOW_PRIVATE,
    DEADLINE_S,
    FAST_RETRY,
    add_events,
    balance_events,
    change,
    deliveries,
    moment,
    register,
    until,
    webhook,
    webhook_row,
)

# --- the API ------------------------------------------------------------------------------------


async def test_register_list_get_delete(client, tenant, hooks, allow_private):
    created = await register(client, tenant, "http://127.0.0.1:9/hook", ["balance.changed"])
    assert set(created) >= {"id", "url", "types", "secret", "status", "created_at"}
    assert created["secret"].startswith("whsec_")
    assert created["types"] == ["balance.changed"] and created["status"] == "active"
    auth = tenant.auth("subscriber")

    listed = (await client.get("/v1/webhooks", headers=auth)).json()["items"]
    assert [item["id"] for item in listed] == [created["id"]]
    assert "secret" not in listed[0]
    one = await client.get(f"/v1/webhooks/{created['id']}", headers=auth)
    assert one.status_code == 200 and "secret" not in one.json()
    assert one.json()["url"] == "http://127.0.0.1:9/hook"
    assert one.json() == listed[0]
    assert one.json()["retry"] == FAST_RETRY
    assert one.json()["delivery"] == {
        "consecutive_failures": 0,
        "last_success_at": None,
        "last_failure_at": None,
        "pending": 0,
        "next_attempt_at": None,
    }
    assert one.json()["previous_secret_expires_at"] is None

    assert (await client.delete(f"/v1/webhooks/{created['id']}", headers=auth)).status_code == 204
    gone = await client.get(f"/v1/webhooks/{created['id']}", headers=auth)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert (await client.get("/v1/webhooks", headers=auth)).json()["items"] == []


@pytest.mark.parametrize(
    "url", ["ftp://example.com/hook", "file:///etc/passwd", "javascript:alert(1)", "http:///x"]
)
async def test_only_http_and_https_urls(client, tenant, url, allow_private):
    answer = await client.post("/v1/webhooks", json={"url": url}, headers=tenant.auth("subscriber"))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert [detail["field"] for detail in error["details"]] == ["url"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
async def test_private_addresses_refused_without_the_setting(client, tenant, url, monkeypatch):
    monkeypatch.delenv(ALLOW_PRIVATE, raising=False)
    answer = await client.post("/v1/webhooks", json={"url": url}, headers=tenant.auth("subscriber"))
    assert answer.status_code == 422, answer.text
    details = answer.json()["error"]["details"]
    assert [detail["field"] for detail in details] == ["url"]
    assert "address" in details[0]["problem"]


async def test_unknown_types_refused(client, tenant, allow_private):
    answer = await client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "types": ["balance.changed", "balance.chnaged"]},
        headers=tenant.auth("subscriber"),
    )
    assert answer.status_code == 422
    assert [d["field"] for d in answer.json()["error"]["details"]] == ["types"]


def test_address_checks():
    assert blocked_reason(ipaddress.ip_address("93.184.216.34")) is None
    assert blocked_reason(ipaddress.ip_address("2606:4700::1111")) is None
    for address in ("127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                    "100.64.0.1", "224.0.0.1", "240.0.0.1", "0.0.0.0", "::1", "fe80::1", "fc00::1",
                    "::ffff:10.0.0.1", "2002:7f00:1::", "64:ff9b::a00:1"):  # fmt: skip
        assert blocked_reason(ipaddress.ip_address(address)) is not None, address
    assert check_url("https://93.184.216.34:8443/x", allow_private=False).port == 8443
    assert check_url("http://127.0.0.1/x", allow_private=True).addresses[0].is_loopback
    with pytest.raises(UrlRefused, match="loopback"):
        check_url("http://127.0.0.1/x", allow_private=False)


async def test_roles_and_tenant_isolation(client, tenant, hooks, allow_private, database_url):
    created = await register(client, tenant, "http://127.0.0.1:9/hook")
    other = make_tenant(database_url)
    hooks.append(other.name)
    base = f"/v1/webhooks/{created['id']}"
    paths = [
        ("GET", base),
        ("PATCH", base),
        ("POST", f"{base}/rotate-secret"),
        ("GET", f"{base}/deliveries"),
        ("POST", f"{base}/deliveries/1/redeliver"),
        ("DELETE", base),
    ]
    for method, path in [*paths, ("GET", "/v1/webhooks"), ("POST", "/v1/webhooks")]:
        body: dict[str, Any] | None = {"url": "http://127.0.0.1:9/x"} if method == "POST" else None
        if method == "PATCH":
            body = {"status": "paused"}
        assert (await client.request(method, path, json=body)).status_code == 401
        answer = await client.request(method, path, json=body, headers=tenant.auth("reader"))
        assert answer.status_code == 403, path
    for method, path in paths:
        body = {"status": "paused"} if method == "PATCH" else None
        answer = await client.request(method, path, json=body, headers=other.auth("subscriber"))
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found"
    theirs = await client.get("/v1/webhooks", headers=other.auth("subscriber"))
    assert theirs.json()["items"] == []
    admin = await client.get(base, headers=tenant.auth("admin"))
    assert admin.status_code == 200  # admin holds every role of its tenant
    assert admin.json()["status"] == "active"  # nothing above changed it


# --- delivery -----------------------------------------------------------------------------------


async def test_signed_delivery_of_new_events_of_the_chosen_types(
    client, tenant, hooks, allow_private, receivers, workers
):
    balance_events(tenant, 2)  # history: never sent
    receiver = receivers()
    only = await register(client, tenant, receiver.url("/balance"), ["balance.changed"])
    every = await register(client, tenant, receiver.url("/all"))
    sequences = add_events(
        tenant, ["balance.changed", "accumulation.negative_accrual_flagged", "balance.changed"]
    )
    worker = workers()
    await until(lambda: len(receiver.on("/balance")) == 2 and len(receiver.on("/all")) == 3, worker)

    assert [r.sequence for r in receiver.on("/all")] == sequences
    assert [r.sequence for r in receiver.on("/balance")] == [sequences[0], sequences[2]]
    for path, secret in (("/balance", only["secret"]), ("/all", every["secret"])):
        for request in receiver.on(path):
            verify(secret, request.headers, request.body)  # raises when it does not verify
            event = json.loads(request.body)
            assert set(event) == {"sequence", "id", "type", "occurred_at", "data"}
            assert request.headers["webhook-id"] == event["id"]
            assert request.headers["content-type"] == "application/json"
            assert event["occurred_at"] == "2026-11-23T10:00:00.000000Z"
    assert await worker.run_once() == 0
    assert webhook_row(tenant, only["id"])[0] == sequences[2]  # past the skipped type too
    listed = await deliveries(client, tenant, only["id"])
    assert [(d["sequence"], d["outcome"], d["status_code"]) for d in listed] == [
        (sequences[2], "succeeded", 200),
        (sequences[0], "succeeded", 200),
    ]


async def test_failing_receiver_is_retried_then_succeeds(
    client, tenant, hooks, allow_private, receivers, workers
):
    receiver = receivers(script=[(500, {}), (500, {})])
    created = await register(client, tenant, receiver.url())
    [sequence] = balance_events(tenant, 1)
    await until(lambda: len(receiver.requests) == 3, workers())

    ids = {request.headers["webhook-id"] for request in receiver.requests}
    assert len(ids) == 1  # the same id on every attempt: receivers deduplicate on it
    for request in receiver.requests:
        verify(created["secret"], request.headers, request.body)
    listed = await deliveries(client, tenant, created["id"])
    assert [(d["attempt"], d["outcome"], d["status_code"]) for d in listed] == [
        (3, "succeeded", 200),
        (2, "retrying", 500),
        (1, "retrying", 500),
    ]
    assert {d["sequence"] for d in listed} == {sequence}
    assert {d["event_id"] for d in listed} == ids
    assert listed[1]["error"] == "HTTP 500" and listed[1]["next_attempt_at"] is not None
    assert listed[0]["next_attempt_at"] is None and listed[0]["error"] is None


async def test_gone_disables_the_endpoint(client, tenant, hooks, allow_private, receivers, workers):
    receiver = receivers(script=[(410, {})])
    created = await register(client, tenant, receiver.url())
    [first, _] = balance_events(tenant, 2)
    worker = workers()
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    assert len(receiver.requests) == 1

    auth = tenant.auth("subscriber")
    shown = (await client.get(f"/v1/webhooks/{created['id']}", headers=auth)).json()
    assert shown["status"] == "disabled" and "410" in shown["status_reason"]
    [attempt] = await deliveries(client, tenant, created["id"])
    assert (attempt["sequence"], attempt["outcome"], attempt["status_code"]) == (
        first,
        "failed",
        410,
    )
    again = await client.post(
        f"/v1/webhooks/{created['id']}/deliveries/{first}/redeliver", headers=auth
    )
    assert again.status_code == 422


async def test_too_many_requests_waits_for_retry_after(
    client, tenant, hooks, allow_private, receivers, workers
):
    receiver = receivers(script=[(429, {"Retry-After": "1"})])
    created = await register(client, tenant, receiver.url())
    balance_events(tenant, 1)
    worker = workers()  # the schedule alone would retry after 50 ms
    assert await worker.run_once() == 1
    [first] = await deliveries(client, tenant, created["id"])
    assert first["outcome"] == "retrying" and first["status_code"] == 429
    wait = moment(first["next_attempt_at"]) - moment(first["attempted_at"])
    assert wait.total_seconds() >= 0.99
    assert await worker.run_once() == 0  # not due before Retry-After

    await until(lambda: len(receiver.requests) == 2, worker)
    second, _ = await deliveries(client, tenant, created["id"])
    assert second["outcome"] == "succeeded"
    gap = moment(second["attempted_at"]) - moment(first["attempted_at"])
    assert gap.total_seconds() >= 0.99


async def test_exhausted_retries_pause_the_endpoint_and_resuming_starts_at_that_event(
    client, tenant, hooks, allow_private, receivers, workers
):
    receiver = receivers(script=[(503, {})] * 3)
    retry = {"initial_seconds": 1, "max_seconds": 1, "max_attempts": 3}
    created = await register(client, tenant, receiver.url(), retry=retry)
    first, second = balance_events(tenant, 2)
    worker = workers()
    await until(lambda: len(receiver.requests) == 3, worker)
    assert await worker.run_once() == 0  # paused: nothing more is sent
    third = balance_events(tenant, 1)[0]  # and events queue behind the head
    assert await worker.run_once() == 0
    assert [r.sequence for r in receiver.requests] == [first] * 3
    listed = await deliveries(client, tenant, created["id"])
    assert [(d["sequence"], d["attempt"], d["outcome"]) for d in listed] == [
        (first, 3, "failed"),
        (first, 2, "retrying"),
        (first, 1, "retrying"),
    ]
    paused = await webhook(client, tenant, created["id"])
    assert paused["status"] == "paused"
    assert f"3 attempts at sequence {first} failed" in paused["status_reason"]
    assert "HTTP 503" in paused["status_reason"]
    status = paused["delivery"]
    assert (status["consecutive_failures"], status["pending"]) == (3, 3)
    assert status["last_success_at"] is None and status["next_attempt_at"] is None
    assert status["last_failure_at"] == listed[0]["attempted_at"]

    auth = tenant.auth("subscriber")
    base = f"/v1/webhooks/{created['id']}/deliveries"
    refused = await client.post(f"{base}/{first}/redeliver", headers=auth)
    assert refused.status_code == 422 and "paused" in refused.json()["error"]["message"]

    resumed = await change(client, tenant, created["id"], {"status": "active"})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "active" and resumed.json()["status_reason"] is None
    assert resumed.json()["delivery"]["next_attempt_at"] is not None  # due now
    await until(lambda: len(receiver.requests) == 6, worker)
    assert [r.sequence for r in receiver.requests[3:]] == [first, second, third]
    latest = await deliveries(client, tenant, created["id"])
    assert [(d["sequence"], d["attempt"], d["outcome"]) for d in latest[:3]] == [
        (third, 1, "succeeded"),
        (second, 1, "succeeded"),
        (first, 1, "succeeded"),  # counted from 1 again after resuming
    ]
    status = (await webhook(client, tenant, created["id"]))["delivery"]
    assert (status["consecutive_failures"], status["pending"]) == (0, 0)
    assert status["last_success_at"] == latest[0]["attempted_at"]
    assert status["next_attempt_at"] is None

    queued = await client.post(f"{base}/{first}/redeliver", headers=auth)
    assert queued.status_code == 202
    assert queued.json() == {"webhook_id": created["id"], "sequence": first, "status": "queued"}
    assert (await client.post(f"{base}/{third + 50}/redeliver", headers=auth)).status_code == 404
    await until(lambda: len(receiver.requests) == 7, worker)
    assert receiver.requests[-1].sequence == first
    again = (await deliveries(client, tenant, created["id"]))[0]
    assert (again["sequence"], again["attempt"], again["manual"], again["outcome"]) == (
        first,
        4,
        True,
        "succeeded",
    )
    limited = await client.get(f"{base}?limit=2", headers=auth)
    assert len(limited.json()["items"]) == 2
    assert (await client.get(f"{base}?limit=0", headers=auth)).status_code == 422


async def test_address_is_checked_again_at_delivery(
    client, tenant, hooks, receivers, workers, monkeypatch
):
    monkeypatch.setenv(ALLOW_PRIVATE, "true")
    receiver = receivers()
    created = await register(client, tenant, receiver.url())
    monkeypatch.delenv(ALLOW_PRIVATE)  # as if the name now resolved to a private address
    balance_events(tenant, 1)
    worker = workers()
    assert await worker.run_once() == 1
    [refused] = await deliveries(client, tenant, created["id"])
    assert refused["outcome"] == "retrying" and refused["status_code"] is None
    assert "refused" in refused["error"] and "loopback" in refused["error"]
    assert receiver.requests == []

    monkeypatch.setenv(ALLOW_PRIVATE, "true")
    await until(lambda: len(receiver.requests) == 1, worker)


async def test_slow_receiver_does_not_hold_back_another(
    client, tenant, hooks, allow_private, receivers, workers
):
    receiver = receivers()
    slow = await register(client, tenant, receiver.url("/slow"))
    await register(client, tenant, receiver.url("/fast"))
    sequences = balance_events(tenant, 3)
    stop = asyncio.Event()
    running = asyncio.create_task(workers(timeout=10.0).run(stop))
    try:
        await until(lambda: len(receiver.on("/fast")) == 3)
        assert [r.sequence for r in receiver.on("/fast")] == sequences
        assert await deliveries(client, tenant, slow["id"]) == []  # its first send still waits
    finally:
        stop.set()
        await asyncio.wait_for(running, DEADLINE_S)
        receiver.hold.set()
    assert webhook_row(tenant, slow["id"])[1] is None  # stopping let go of the lease


def _in_thread(worker: WebhookWorker) -> Callable[[], None]:
    """Run the worker on its own event loop in another thread; returns how to stop it."""
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        box["loop"], box["stop"] = asyncio.get_running_loop(), asyncio.Event()
        started.set()
        await worker.run(box["stop"])

    thread = threading.Thread(target=asyncio.run, args=(main(),))
    thread.start()
    started.wait(DEADLINE_S)

    def stop() -> None:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(DEADLINE_S)
        assert not thread.is_alive()

    return stop


async def test_two_workers_deliver_each_event_once_in_order(
    client, tenant, hooks, allow_private, receivers, workers
):
    receiver = receivers()
    paths = ("/a", "/b", "/c")
    for path in paths:
        await register(client, tenant, receiver.url(path))
    stop = asyncio.Event()
    here = asyncio.create_task(workers(worker_id="here").run(stop))
    stop_there = _in_thread(workers(worker_id="there"))
    sequences: list[int] = []
    try:
        for _ in range(6):
            sequences += balance_events(tenant, 5)
            await asyncio.sleep(0.03)
        await until(lambda: all(len(receiver.on(path)) >= len(sequences) for path in paths))
        await asyncio.sleep(0.3)  # a duplicate, were there one, would arrive now
    finally:
        stop.set()
        stop_there()
        await asyncio.wait_for(here, DEADLINE_S)
    for path in paths:
        assert [r.sequence for r in receiver.on(path)] == sequences, path


async def test_worker_cancelled_mid_batch_then_a_new_one(
    client, tenant, hooks, allow_private, receivers, workers
):
    receiver = receivers(delay=0.03)
    created = await register(client, tenant, receiver.url())
    sequences = balance_events(tenant, 20)
    running = asyncio.create_task(workers(worker_id="first").run(asyncio.Event()))
    await until(lambda: len(receiver.requests) >= 5)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(running, DEADLINE_S)
    assert len(receiver.requests) < 20, "the batch was not interrupted"
    assert webhook_row(tenant, created["id"])[1] is None

    await until(lambda: len(receiver.requests) >= 20, workers(worker_id="second"))
    received = [r.sequence for r in receiver.requests]
    collapsed = [s for i, s in enumerate(received) if i == 0 or received[i - 1] != s]
    assert collapsed == sequences  # in order, none lost; only the one in flight may come twice
    assert len(received) <= len(sequences) + 1
    listed = await deliveries(client, tenant, created["id"])
    assert sorted(d["sequence"] for d in listed if d["outcome"] == "succeeded") == sequences


async def test_a_live_lease_is_respected_and_a_stale_one_taken_over(
    client, tenant, hooks, allow_private, receivers, workers
):
    receiver = receivers()
    created = await register(client, tenant, receiver.url())
    balance_events(tenant, 2)
    connection = tenant.database.connect()
    try:
        lease = (
            "UPDATE webhooks SET lease_owner = 'crashed', lease_until = ? "
            "WHERE tenant = ? AND webhook_id = ?"
        )
        connection.execute(lease, ("2999-01-01T00:00:00.000000Z", tenant.name, created["id"]))
        worker = workers()
        assert await worker.run_once() == 0
        assert receiver.requests == []
        expired = ("2000-01-01T00:00:00.000000Z", tenant.name, created["id"])
        connection.execute(lease, expired)
        assert await worker.run_once() == 2
    finally:
        connection.close()
    assert len(receiver.requests) == 2


async def test_redelivering_the_waiting_head_retries_it_now(
    client, tenant, hooks, allow_private, receivers, workers
):
    receiver = receivers(script=[(500, {})])
    retry = {"initial_seconds": 3600, "max_seconds": 3600, "max_attempts": 2}
    created = await register(client, tenant, receiver.url(), retry=retry)
    [sequence] = balance_events(tenant, 1)
    worker = workers(backoff_scale=1.0)
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0  # an hour's backoff
    answer = await client.post(
        f"/v1/webhooks/{created['id']}/deliveries/{sequence}/redeliver",
        headers=tenant.auth("subscriber"),
    )
    assert answer.status_code == 202
    await until(lambda: len(receiver.requests) == 2, worker)
    latest = (await deliveries(client, tenant, created["id"]))[0]
    assert (latest["attempt"], latest["manual"], latest["outcome"]) == (2, False, "succeeded")
    assert webhook_row(tenant, created["id"])[0] == sequence


async def test_the_same_id_in_two_tenants_is_two_endpoints(
    app, client, tenant, hooks, allow_private, receivers, workers, database_url
):
    """Endpoints are keyed by (tenant, webhook_id): another tenant's endpoint with the same id
    has its own cursor, attempts, redeliveries and lease, and outlives the first one's deletion."""
    receiver = receivers()
    mine = await register(client, tenant, receiver.url("/mine"))
    other = make_tenant(database_url)
    hooks.append(other.name)
    their_secret = new_secret()
    connection = other.database.connect()
    try:
        store.create_webhook(
            connection,
            webhook_id=mine["id"],
            tenant=other.name,
            url=receiver.url("/theirs"),
            types=[],
            secret=app.state.webhook_secrets.seal(their_secret),
            after=last_sequence(connection, other.name),
            now=datetime.now(UTC),
        )
    finally:
        connection.close()
    [own] = balance_events(tenant, 1)
    their_sequences = balance_events(other, 2)
    worker = workers()
    await until(lambda: len(receiver.on("/mine")) == 1 and len(receiver.on("/theirs")) == 2, worker)
    assert [r.sequence for r in receiver.on("/theirs")] == their_sequences
    for request in receiver.on("/theirs"):
        verify(their_secret, request.headers, request.body)
    verify(mine["secret"], receiver.on("/mine")[0].headers, receiver.on("/mine")[0].body)
    assert [d["sequence"] for d in await deliveries(client, tenant, mine["id"])] == [own]
    listed = await deliveries(client, other, mine["id"])
    assert [d["sequence"] for d in listed] == their_sequences[::-1]

    base = f"/v1/webhooks/{mine['id']}"
    auth = other.auth("subscriber")
    again = await client.post(f"{base}/deliveries/{their_sequences[0]}/redeliver", headers=auth)
    assert again.status_code == 202
    await until(lambda: len(receiver.on("/theirs")) == 3, worker)
    assert len(receiver.on("/mine")) == 1
    assert (await client.delete(base, headers=tenant.auth("subscriber"))).status_code == 204
    assert (await client.get(base, headers=auth)).status_code == 200
    assert len(await deliveries(client, other, mine["id"])) == 3
