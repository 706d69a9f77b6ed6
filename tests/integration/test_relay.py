"""The NATS relay against a real JetStream server, on SQLite and PostgreSQL.

The server: the one at 127.0.0.1:4222 if it answers with JetStream, else a throwaway
`nats-server -js` from PATH. Each test gets its own stream and subject prefix (deleted after), so
runs never see each other's messages on a shared server. Derived events are inserted directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.api.relay.nats_client import redact_url
from services.api.relay.publisher import (
    PREFIX_ENV,
    RelayStats,
    ensure_stream,
    relay_pass,
    subject_for,
)
from services.api.relay.store import checkpoints, save_checkpoint
from services.ledger.db import Connection, Database
from services.ledger.leases import Lease, LeaseLost
from tests.conftest import new_tenant

LOCAL_NATS = "nats://127.0.0.1:4222"
ROOT = Path(__file__).resolve().parents[2]
OCCURRED_AT = "2026-11-23T10:00:00.000000Z"
LONG_AGO = "2000-01-01T00:00:00.000000Z"
CLI = [sys.executable, "-m", "services.api.cli", "relay"]


async def _no_report(error: Exception) -> None:
    """Probing a server that may not be there: failures are expected, not news."""


async def _jetstream_at(url: str) -> bool:
    try:
        nc = await nats.connect(
            url,
            connect_timeout=1,
            allow_reconnect=False,
            max_reconnect_attempts=1,  # the default, 60 tries 2 s apart, would take two minutes
            reconnect_time_wait=0.1,
            error_cb=_no_report,
        )
    except (OSError, nats.errors.Error):
        return False
    try:
        await nc.jetstream().account_info()
        return True
    except nats.errors.Error:
        return False
    finally:
        await nc.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
async def nats_url() -> AsyncIterator[str]:
    """A JetStream server: the local one, else one started for this session."""
    if await _jetstream_at(LOCAL_NATS):
        yield LOCAL_NATS
        return
    binary = shutil.which("nats-server")
    if binary is None:
        pytest.fail(
            f"the relay tests need NATS with JetStream: nothing answers at {LOCAL_NATS} and "
            "nats-server is not on PATH (install it or run `nats-server -js`)"
        )
    directory = tempfile.mkdtemp(prefix="benefit-ledger-nats-")
    port = _free_port()
    server = subprocess.Popen(
        [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", directory],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"nats://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while not await _jetstream_at(url):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"nats-server -js on port {port} did not come up")
        await asyncio.sleep(0.1)
    yield url
    server.terminate()
    server.wait(timeout=10)
    shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Bus:
    nc: NATS
    js: JetStreamContext
    url: str
    stream: str
    prefix: str

    async def read(self, tenant: str | None = None) -> list[Msg]:
        """Every message in the stream (or of one tenant), through a pull consumer."""
        subject = f"{self.prefix}.{tenant}.>" if tenant else f"{self.prefix}.>"
        consumer = f"check-{uuid.uuid4().hex[:8]}"
        subscription = await self.js.pull_subscribe(subject, durable=consumer, stream=self.stream)
        pending = (await subscription.consumer_info()).num_pending
        messages: list[Msg] = []
        while len(messages) < pending:
            messages += await subscription.fetch(pending - len(messages), timeout=2)
        await subscription.unsubscribe()
        await self.js.delete_consumer(self.stream, consumer)
        return messages

    async def stored(self) -> int:
        info = await self.js.stream_info(self.stream)
        return info.state.messages


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    """A connection and a stream of this test's own, on subjects of its own."""
    nc = await nats.connect(nats_url, connect_timeout=2, allow_reconnect=False)
    suffix = uuid.uuid4().hex[:10]
    bus = Bus(nc, nc.jetstream(), nats_url, f"BL_TEST_{suffix.upper()}", f"bl-test-{suffix}")
    await ensure_stream(bus.js, bus.stream, bus.prefix)
    yield bus
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await bus.js.delete_stream(bus.stream)
    await nc.close()


@pytest.fixture
def connection(database_url: str) -> Iterator[Connection]:
    database = Database(database_url)
    database.migrate()
    connection = database.connect()
    yield connection
    connection.close()


def insert_events(
    connection: Connection, tenant: str, types: Sequence[str], start: int = 1
) -> list[str]:
    """Derived events of the tenant with sequences start, start+1, ...; their ids."""
    rows = [
        (tenant, sequence, str(uuid.uuid4()), kind, OCCURRED_AT, sequence, f'{{"n": {sequence}}}')
        for sequence, kind in enumerate(types, start=start)
    ]
    connection.executemany(
        "INSERT INTO derived_events (tenant, sequence, event_id, type, occurred_at, position, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return [row[2] for row in rows]


def payloads(messages: list[Msg]) -> list[dict[str, Any]]:
    return [json.loads(message.data) for message in messages]


def relay_command(bus: Bus, database_url: str, *extra: str) -> list[str]:
    return [*CLI, "--database", database_url, "--nats", bus.url, "--stream", bus.stream, *extra]


def relay_env(bus: Bus) -> dict[str, str]:
    return {**os.environ, PREFIX_ENV: bus.prefix}


def test_subjects_are_single_tokens_and_urls_lose_their_secrets() -> None:
    assert subject_for("benefit-ledger", "t-1", "balance.changed") == (
        "benefit-ledger.t-1.balance.changed"
    )
    assert subject_for("p", "acme.eu west*>", "balance.changed") == (
        "p.acme_eu_west__.balance.changed"
    )
    assert subject_for("p", "", "x") == "p._.x"
    assert redact_url("nats://bob:hunter2@host:4222") == "nats://***@host:4222"
    assert redact_url("nats://tok@a:1,nats://b:2") == "nats://***@a:1,nats://b:2"
    assert redact_url("nats://host:4222") == "nats://host:4222"


async def test_events_go_out_in_order_with_subject_header_and_payload(
    connection: Connection, bus: Bus
) -> None:
    tenant, dotted = new_tenant(), f"acme.{uuid.uuid4().hex[:6]} eu"
    kinds = ["balance.changed"] * 3 + ["accumulation.negative_accrual_flagged", "balance.changed"]
    ids = insert_events(connection, tenant, kinds)
    dotted_ids = insert_events(connection, dotted, ["balance.changed"] * 2)

    published = await relay_pass(
        connection,
        bus.js,
        name=bus.stream,
        prefix=bus.prefix,
        tenants=[tenant, dotted],
        batch_size=2,
    )

    assert published == 7
    messages = await bus.read(tenant)
    assert [m.subject for m in messages] == [f"{bus.prefix}.{tenant}.{kind}" for kind in kinds]
    assert [m.headers and m.headers["Nats-Msg-Id"] for m in messages] == ids
    assert payloads(messages)[3] == {
        "sequence": 4,
        "id": ids[3],
        "type": "accumulation.negative_accrual_flagged",
        "occurred_at": OCCURRED_AT,
        "data": {"n": 4},
        "tenant": tenant,
    }
    assert [p["sequence"] for p in payloads(messages)] == [1, 2, 3, 4, 5]
    dotted_token = dotted.replace(".", "_").replace(" ", "_")
    others = await bus.read(dotted_token)
    assert [m.subject for m in others] == [f"{bus.prefix}.{dotted_token}.balance.changed"] * 2
    assert [(p["tenant"], p["id"]) for p in payloads(others)] == [(dotted, i) for i in dotted_ids]
    done = checkpoints(connection, bus.stream)
    assert (done[tenant], done[dotted]) == (5, 2)
    for each in (tenant, dotted):  # a tenant's lease is given back once it is published
        assert Lease(each, bus.stream).current(connection) is None


async def test_a_second_pass_publishes_only_what_is_new(connection: Connection, bus: Bus) -> None:
    tenant = new_tenant()
    insert_events(connection, tenant, ["balance.changed"] * 3)
    relay = lambda: relay_pass(  # noqa: E731
        connection, bus.js, name=bus.stream, prefix=bus.prefix, tenants=[tenant]
    )

    assert await relay() == 3
    assert await relay() == 0
    assert await bus.stored() == 3
    insert_events(connection, tenant, ["balance.changed"], start=4)
    assert await relay() == 1
    assert [p["sequence"] for p in payloads(await bus.read())] == [1, 2, 3, 4]


async def test_a_crash_before_the_checkpoint_resends_and_jetstream_drops_the_copies(
    connection: Connection, bus: Bus
) -> None:
    tenant = new_tenant()
    insert_events(connection, tenant, ["balance.changed"] * 4)
    assert (
        await relay_pass(connection, bus.js, name=bus.stream, prefix=bus.prefix, tenants=[tenant])
        == 4
    )
    # the crash: 2..4 were acknowledged but the checkpoint still says 1
    connection.execute(
        "UPDATE relay_checkpoints SET sequence = 1 WHERE name = ? AND tenant = ?",
        (bus.stream, tenant),
    )
    insert_events(connection, tenant, ["balance.changed"], start=5)

    stats = RelayStats()
    resent = await relay_pass(
        connection, bus.js, name=bus.stream, prefix=bus.prefix, tenants=[tenant], stats=stats
    )

    assert (resent, stats.duplicates) == (4, 3)
    assert [p["sequence"] for p in payloads(await bus.read(tenant))] == [1, 2, 3, 4, 5]
    assert checkpoints(connection, bus.stream)[tenant] == 5


async def test_relays_of_one_stream_share_the_tenants_and_a_stalled_one_cannot_checkpoint(
    connection: Connection, bus: Bus
) -> None:
    busy, free = new_tenant(), new_tenant()
    insert_events(connection, busy, ["balance.changed"] * 2)
    insert_events(connection, free, ["balance.changed"] * 3)
    first = Lease(busy, bus.stream, holder="first")
    first.acquire(connection)  # the first relay is publishing `busy`
    stats = RelayStats()

    published = await relay_pass(
        connection,
        bus.js,
        name=bus.stream,
        prefix=bus.prefix,
        holder="second",
        tenants=[busy, free],
        stats=stats,
    )

    assert (published, stats.tenants, stats.skipped) == (3, 1, 1)
    assert await bus.read(busy) == []
    assert checkpoints(connection, bus.stream) == {free: 3}

    # the first relay stalls past its lease; the second takes `busy` over and publishes it
    connection.execute(
        "UPDATE tenant_leases SET expires_at = ? WHERE tenant = ? AND name = ?",
        (LONG_AGO, busy, bus.stream),
    )
    second = lambda: relay_pass(  # noqa: E731
        connection, bus.js, name=bus.stream, prefix=bus.prefix, holder="second", tenants=[busy]
    )
    assert await second() == 2
    with pytest.raises(LeaseLost):
        save_checkpoint(connection, first, 1)
    assert checkpoints(connection, bus.stream)[busy] == 2
    assert [p["sequence"] for p in payloads(await bus.read(busy))] == [1, 2]


async def test_a_relay_taking_a_tenant_over_starts_at_its_checkpoint(
    connection: Connection, bus: Bus
) -> None:
    tenant = new_tenant()
    insert_events(connection, tenant, ["balance.changed"] * 3)
    relay = lambda holder: relay_pass(  # noqa: E731
        connection, bus.js, name=bus.stream, prefix=bus.prefix, holder=holder, tenants=[tenant]
    )
    stats = RelayStats()

    assert await relay("first") == 3
    insert_events(connection, tenant, ["balance.changed"], start=4)
    assert (
        await relay_pass(
            connection,
            bus.js,
            name=bus.stream,
            prefix=bus.prefix,
            holder="second",
            tenants=[tenant],
            stats=stats,
        )
        == 1
    )
    assert stats.duplicates == 0
    assert [p["sequence"] for p in payloads(await bus.read(tenant))] == [1, 2, 3, 4]


async def test_the_command_publishes_once_and_exits_0(
    database_url: str, connection: Connection, bus: Bus
) -> None:
    tenant = new_tenant()
    ids = insert_events(connection, tenant, ["balance.changed"] * 3)

    result = await asyncio.to_thread(
        subprocess.run,
        relay_command(bus, database_url, "--once"),
        env=relay_env(bus),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "relay: published" in result.stderr
    assert [p["id"] for p in payloads(await bus.read(tenant))] == ids
    assert checkpoints(connection, bus.stream)[tenant] == 3


async def test_the_command_stops_on_sigterm_with_exit_0(sqlite_url: str, bus: Bus) -> None:
    database = Database(sqlite_url)
    database.migrate()
    connection = database.connect()
    tenant = new_tenant()
    insert_events(connection, tenant, ["balance.changed"] * 2)
    relay = subprocess.Popen(
        relay_command(bus, sqlite_url, "--poll-interval", "0.1"),
        env=relay_env(bus),
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while checkpoints(connection, bus.stream).get(tenant) != 2:
            assert relay.poll() is None and time.monotonic() < deadline, "the relay did not run"
            await asyncio.sleep(0.1)
        relay.terminate()
        _, stderr = await asyncio.to_thread(relay.communicate, timeout=15)
    finally:
        relay.kill()
        connection.close()
    assert relay.returncode == 0, stderr
    assert "relay: stopped" in stderr


def test_unreachable_nats_exits_2_without_the_secret(sqlite_url: str) -> None:
    url = f"nats://relay:hunter2@127.0.0.1:{_free_port()}"
    result = subprocess.run(
        [*CLI, "--once", "--database", sqlite_url, "--nats", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert result.stderr.startswith(
        f"benefit-ledger relay: cannot reach NATS at {redact_url(url)}: "
    ), result.stderr
    assert "hunter2" not in result.stderr
