"""Webhook delivery that keeps up, on SQLite and PostgreSQL with real HTTP receivers: each
endpoint's retry schedule, pausing and resuming without loss, the delivery status, secret
rotation with both signatures during the overlap, and secrets encrypted at rest, never logged.

Retry policies are given in whole seconds, as the API takes them, and the workers scale the
backoff down (webhooks_support.BACKOFF_SCALE: 1 s is 50 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.api.webhooks.signing import SignatureError, verify
from services.api.webhooks.worker import WebhookWorker
from tests.conftest import TEST_SECRET_KEY
from tests.integration.conftest import Tenant
from tests.integration.webhooks_support import (
    BACKOFF_SCALE,
    DEADLINE_S,
    balance_events,
    change,
    deliveries,
    moment,
    register,
    until,
    webhook,
    webhook_row,
)

MICROSECOND = 1e-6


@contextlib.asynccontextmanager
async def running(worker: WebhookWorker) -> AsyncIterator[None]:
    """The worker polling in the background for the block's duration."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, DEADLINE_S)


async def cursor_reaches(tenant: Tenant, webhook_id: str, sequence: int) -> None:
    """Until the worker has recorded the endpoint done with `sequence` (a receiver sees a request
    before the worker writes its outcome)."""
    deadline = time.monotonic() + DEADLINE_S
    while webhook_row(tenant, webhook_id)[0] < sequence:
        assert time.monotonic() < deadline, f"the cursor did not reach {sequence} in time"
        await asyncio.sleep(0.02)


def _waits(listed: list[dict[str, Any]]) -> list[float]:
    """next_attempt_at - attempted_at of each retrying attempt, oldest first."""
    return [
        (moment(d["next_attempt_at"]) - moment(d["attempted_at"])).total_seconds()
        for d in reversed(listed)
        if d["outcome"] == "retrying"
    ]


# --- the retry schedule -------------------------------------------------------------------------


async def test_retries_follow_the_endpoints_own_schedule_then_it_is_paused(
    client, tenant, hooks, allow_private, receivers, workers
):
    receiver = receivers(script=[(500, {})] * 5)
    retry = {"initial_seconds": 1, "max_seconds": 4, "max_attempts": 5}
    created = await register(client, tenant, receiver.url(), retry=retry)
    [sequence] = balance_events(tenant, 1)
    worker = workers()
    await until(lambda: len(receiver.requests) == 5, worker)
    assert await worker.run_once() == 0

    listed = await deliveries(client, tenant, created["id"])
    assert [(d["attempt"], d["outcome"]) for d in reversed(listed)] == [
        (1, "retrying"), (2, "retrying"), (3, "retrying"), (4, "retrying"), (5, "failed"),
    ]  # fmt: skip
    expected = [BACKOFF_SCALE * seconds for seconds in (1, 2, 4, 4)]  # doubling, capped at 4
    assert _waits(listed) == pytest.approx(expected, abs=2 * MICROSECOND)
    attempted = [moment(d["attempted_at"]) for d in reversed(listed)]
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(attempted)]
    assert all(gap >= wait - MICROSECOND for gap, wait in zip(gaps, expected, strict=True))
    shown = await webhook(client, tenant, created["id"])
    assert shown["status"] == "paused" and str(sequence) in shown["status_reason"]


async def test_jitter_shortens_each_wait_by_at_most_a_fifth(
    client, tenant, hooks, allow_private, receivers, workers
):
    receiver = receivers(script=[(503, {})] * 4)
    retry = {"initial_seconds": 2, "max_seconds": 8, "max_attempts": 10}
    created = await register(client, tenant, receiver.url(), retry=retry)
    balance_events(tenant, 1)
    await until(lambda: len(receiver.requests) == 5, workers(jitter=0.2))
    waits = _waits(await deliveries(client, tenant, created["id"]))
    for wait, full in zip(waits, (2, 4, 8, 8), strict=True):
        assert (
            0.8 * full * BACKOFF_SCALE - MICROSECOND <= wait <= full * BACKOFF_SCALE + MICROSECOND
        )


async def test_the_default_schedule_and_its_bounds(client, tenant, hooks, allow_private):
    auth = tenant.auth("subscriber")
    answer = await client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=auth)
    assert answer.status_code == 201
    created = answer.json()
    assert created["retry"] == {"initial_seconds": 5, "max_seconds": 300, "max_attempts": 20}
    assert answer.headers["cache-control"] == "no-store"
    assert webhook_row(tenant, created["id"], "retry_max_attempts") == (20,)

    for retry in (
        {"initial_seconds": 0},
        {"initial_seconds": 3601, "max_seconds": 86400},
        {"max_seconds": 86401},
        {"max_attempts": 0},
        {"max_attempts": 101},
        {"initial_seconds": 60, "max_seconds": 30},
        {"initial_seconds": "5"},
        {"initial_seconds": 2.5},
        {"backoff": "linear"},
    ):
        body = {"url": "http://127.0.0.1:9/x", "retry": retry}
        refused = await client.post("/v1/webhooks", json=body, headers=auth)
        assert refused.status_code == 422, retry
        assert refused.json()["error"]["code"] == "invalid_request"
        assert refused.json()["error"]["details"][0]["field"].startswith("body.retry"), retry


async def test_changing_the_schedule_keeps_the_parts_not_given(
    client, tenant, hooks, allow_private
):
    created = await register(client, tenant, "http://127.0.0.1:9/x")
    changed = await change(client, tenant, created["id"], {"retry": {"max_attempts": 7}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["retry"] == {"initial_seconds": 1, "max_seconds": 1, "max_attempts": 7}
    both = {"retry": {"initial_seconds": 10, "max_seconds": 600}}
    assert (await change(client, tenant, created["id"], both)).json()["retry"] == {
        "initial_seconds": 10,
        "max_seconds": 600,
        "max_attempts": 7,
    }
    above = await change(client, tenant, created["id"], {"retry": {"initial_seconds": 900}})
    assert above.status_code == 422
    assert [d["field"] for d in above.json()["error"]["details"]] == ["retry"]
    assert (await webhook(client, tenant, created["id"]))["retry"]["initial_seconds"] == 10
    for body in (
        {"status": "disabled"},
        {"url": "http://127.0.0.1:9/y"},
        {"retry": {"max_attempts": 0}},
    ):
        assert (await change(client, tenant, created["id"], body)).status_code == 422, body
    missing = await change(client, tenant, "wh_nobody", {"status": "paused"})
    assert missing.status_code == 404
    assert (await change(client, tenant, "wh_nobody", {"retry": {}})).status_code == 404


# --- pausing and resuming -----------------------------------------------------------------------


async def test_paused_endpoints_queue_and_resume_in_order_without_loss(
    client, tenant, hooks, allow_private, receivers, workers
):
    receiver = receivers()
    created = await register(client, tenant, receiver.url())
    before = balance_events(tenant, 3)
    async with running(workers()):
        await cursor_reaches(tenant, created["id"], before[-1])
        paused = await change(client, tenant, created["id"], {"status": "paused"})
        assert paused.status_code == 200
        assert paused.json()["status"] == "paused"
        assert paused.json()["status_reason"].startswith("paused through the API at ")
        again = await change(client, tenant, created["id"], {"status": "paused"})
        assert again.json()["status_reason"] == paused.json()["status_reason"]  # left as it was
        during = balance_events(tenant, 4)
        await asyncio.sleep(0.4)  # eight polls: nothing is sent while paused
        assert len(receiver.requests) == 3
        status = (await webhook(client, tenant, created["id"]))["delivery"]
        assert (status["pending"], status["next_attempt_at"]) == (4, None)

        resumed = await change(client, tenant, created["id"], {"status": "active"})
        assert resumed.json()["status"] == "active"
        await cursor_reaches(tenant, created["id"], during[-1])
    assert [r.sequence for r in receiver.requests] == before + during
    status = (await webhook(client, tenant, created["id"]))["delivery"]
    assert (status["pending"], status["consecutive_failures"]) == (0, 0)


async def test_a_pause_in_the_middle_of_a_send_stops_the_worker_and_the_event_is_sent_again(
    client, tenant, hooks, allow_private, receivers, workers
):
    receiver = receivers()
    created = await register(client, tenant, receiver.url("/slow"))
    sequences = balance_events(tenant, 3)
    async with running(workers(timeout=10.0)):
        assert await asyncio.to_thread(receiver.arrived.wait, DEADLINE_S)  # the first send is held
        assert (
            await change(client, tenant, created["id"], {"status": "paused"})
        ).status_code == 200
        receiver.hold.set()  # the receiver acknowledges the send in flight
        await until(lambda: len(receiver.requests) == 1)
        await asyncio.sleep(0.3)
        assert len(receiver.requests) == 1  # nothing after the pause
        assert await deliveries(client, tenant, created["id"]) == []  # the attempt was not written
        assert webhook_row(tenant, created["id"])[0] == sequences[0] - 1  # the cursor did not move
        await change(client, tenant, created["id"], {"status": "active"})
        await cursor_reaches(tenant, created["id"], sequences[-1])
    # at least once, in order: the event in flight at the pause comes again
    assert [r.sequence for r in receiver.requests] == [sequences[0], *sequences]


async def test_an_endpoint_disabled_by_410_resumes_at_the_event_it_refused(
    client, tenant, hooks, allow_private, receivers, workers
):
    receiver = receivers(script=[(410, {})])
    created = await register(client, tenant, receiver.url())
    sequences = balance_events(tenant, 2)
    worker = workers()
    await until(lambda: len(receiver.requests) == 1, worker)
    assert (await webhook(client, tenant, created["id"]))["status"] == "disabled"
    assert (await change(client, tenant, created["id"], {"status": "active"})).status_code == 200
    await until(lambda: len(receiver.requests) == 3, worker)
    assert [r.sequence for r in receiver.requests] == [sequences[0], *sequences]


async def test_the_delivery_status_while_failing_and_after(
    client, tenant, hooks, allow_private, receivers, workers
):
    receiver = receivers(script=[(500, {}), (502, {})])
    retry = {"initial_seconds": 60, "max_seconds": 60, "max_attempts": 5}
    created = await register(client, tenant, receiver.url(), ["balance.changed"], retry=retry)
    balance_events(tenant, 3)
    worker = workers(backoff_scale=1.0)
    assert await worker.run_once() == 1
    listed = await deliveries(client, tenant, created["id"])
    items = (await client.get("/v1/webhooks", headers=tenant.auth("subscriber"))).json()["items"]
    shown = await webhook(client, tenant, created["id"])
    assert items == [shown]
    status = shown["delivery"]
    assert status == {
        "consecutive_failures": 1,
        "last_success_at": None,
        "last_failure_at": listed[0]["attempted_at"],
        "pending": 3,
        "next_attempt_at": listed[0]["next_attempt_at"],
    }
    waited = moment(status["next_attempt_at"]) - moment(status["last_failure_at"])
    assert waited.total_seconds() == pytest.approx(60.0, abs=MICROSECOND)  # no jitter here

    due_now = (
        "UPDATE webhooks SET next_attempt_at = '2000-01-01T00:00:00.000000Z' "
        "WHERE tenant = ? AND webhook_id = ?"
    )
    _execute(tenant, due_now, (tenant.name, created["id"]))
    assert await worker.run_once() == 1  # 502, and again a minute's wait
    assert (await webhook(client, tenant, created["id"]))["delivery"]["consecutive_failures"] == 2
    _execute(tenant, due_now, (tenant.name, created["id"]))
    assert await worker.run_once() == 3
    status = (await webhook(client, tenant, created["id"]))["delivery"]
    latest = await deliveries(client, tenant, created["id"])
    assert status["consecutive_failures"] == 0 and status["pending"] == 0
    assert status["last_success_at"] == latest[0]["attempted_at"]
    assert status["last_failure_at"] == latest[3]["attempted_at"]
    assert status["next_attempt_at"] is None


def _execute(tenant: Tenant, sql: str, params: tuple[Any, ...]) -> list[Any]:
    connection = tenant.database.connect()
    try:
        return connection.execute(sql, params)
    finally:
        connection.close()


# --- secrets ------------------------------------------------------------------------------------


async def rotate(client, tenant: Tenant, webhook_id: str, **body: Any) -> dict[str, Any]:
    answer = await client.post(
        f"/v1/webhooks/{webhook_id}/rotate-secret",
        json=body or None,
        headers=tenant.auth("subscriber"),
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    rotated: dict[str, Any] = answer.json()
    return rotated


def _verifies(secret: str, request: Any) -> bool:
    try:
        verify(secret, request.headers, request.body)
    except SignatureError:
        return False
    return True


async def test_rotation_signs_with_both_secrets_during_the_overlap_then_the_new_one_only(
    client, tenant, hooks, allow_private, receivers, workers
):
    receiver = receivers()
    created = await register(client, tenant, receiver.url())
    first = created["secret"]
    worker = workers()
    balance_events(tenant, 1)
    await until(lambda: len(receiver.requests) == 1, worker)
    assert len(receiver.requests[0].headers["webhook-signature"].split()) == 1

    rotated = await rotate(client, tenant, created["id"])  # the default overlap: 24 h
    second = rotated["secret"]
    assert second.startswith("whsec_") and second != first and rotated["id"] == created["id"]
    overlap = moment(rotated["previous_secret_expires_at"]) - datetime.now(UTC)
    assert 86390 < overlap.total_seconds() <= 86400
    shown = await webhook(client, tenant, created["id"])
    assert shown["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]
    assert "secret" not in shown
    balance_events(tenant, 1)
    await until(lambda: len(receiver.requests) == 2, worker)
    during = receiver.requests[1]
    assert len(during.headers["webhook-signature"].split()) == 2
    assert _verifies(first, during) and _verifies(second, during)

    third = (await rotate(client, tenant, created["id"], overlap_seconds=1))["secret"]
    balance_events(tenant, 1)
    await until(lambda: len(receiver.requests) == 3, worker)
    request = receiver.requests[2]
    assert _verifies(third, request) and _verifies(second, request)
    assert not _verifies(first, request)  # rotated out twice: gone at once

    await asyncio.sleep(1.1)  # the overlap is over
    balance_events(tenant, 1)
    await until(lambda: len(receiver.requests) == 4, worker)
    after = receiver.requests[3]
    assert len(after.headers["webhook-signature"].split()) == 1
    assert _verifies(third, after) and not _verifies(second, after)
    assert (await webhook(client, tenant, created["id"]))["previous_secret_expires_at"] is None
    columns = "previous_secret, previous_secret_expires_at"
    assert webhook_row(tenant, created["id"], columns) == (None, None)  # forgotten

    none = await rotate(client, tenant, created["id"], overlap_seconds=0)
    assert none["previous_secret_expires_at"] is None
    for overlap_seconds in (-1, 7 * 86400 + 1, "1"):
        refused = await client.post(
            f"/v1/webhooks/{created['id']}/rotate-secret",
            json={"overlap_seconds": overlap_seconds},
            headers=tenant.auth("subscriber"),
        )
        assert refused.status_code == 422, overlap_seconds


async def test_secrets_are_encrypted_at_rest_and_never_logged(
    app, client, tenant, hooks, allow_private, receivers, workers, caplog
):
    caplog.set_level(logging.DEBUG)
    receiver = receivers(script=[(500, {}), (410, {})])
    created = await register(client, tenant, receiver.url())
    worker = workers()
    balance_events(tenant, 1)
    await until(lambda: len(receiver.requests) == 2, worker)  # a retry, then disabled (logged)
    rotated = await rotate(client, tenant, created["id"])
    await change(client, tenant, created["id"], {"status": "active"})
    await until(lambda: len(receiver.requests) == 3, worker)
    assert _verifies(created["secret"], receiver.requests[2])
    assert _verifies(rotated["secret"], receiver.requests[2])

    connection = tenant.database.connect()
    try:
        [row] = connection.execute(
            "SELECT * FROM webhooks WHERE tenant = ? AND webhook_id = ?",
            (tenant.name, created["id"]),
        )
    finally:
        connection.close()
    stored = " ".join(str(value) for value in row)
    box = app.state.webhook_secrets
    for secret in (created["secret"], rotated["secret"]):
        assert secret not in stored
        assert secret.removeprefix("whsec_") not in stored
    current, previous = webhook_row(tenant, created["id"], "secret, previous_secret")
    assert current.startswith("fernet:") and previous.startswith("fernet:")
    assert (box.open(current), box.open(previous)) == (rotated["secret"], created["secret"])
    assert "keys hidden" in repr(box)

    logged = caplog.text + " ".join(repr(record.__dict__) for record in caplog.records)
    assert "disabled" in logged  # the worker did log, about this very endpoint
    for secret in (created["secret"], rotated["secret"], TEST_SECRET_KEY):
        assert secret not in logged
        assert secret.removeprefix("whsec_") not in logged


def _stopped(metrics: str) -> float:
    line = next(x for x in metrics.splitlines() if x.startswith("benefit_ledger_webhooks_stopped "))
    return float(line.split()[1])


async def test_metrics_count_the_stopped_endpoints(client, tenant, hooks, allow_private):
    hook = await register(client, tenant, "http://127.0.0.1:9/hook")
    before = _stopped((await client.get("/metrics")).text)

    paused = await change(client, tenant, hook["id"], {"status": "paused"})

    assert paused.status_code == 200, paused.text
    assert _stopped((await client.get("/metrics")).text) == before + 1
    await change(client, tenant, hook["id"], {"status": "active"})
    assert _stopped((await client.get("/metrics")).text) == before
