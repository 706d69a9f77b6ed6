"""Writers in many tenants or in one, and batched ingest on two `serve` processes.

Each measurement gets its own fresh database. `concurrent`: 16 writers in a closed loop, each
posting WRITE_BATCH events at a time (5 visits, scheduled + confirmed) for its own members, with
the writers in 16 tenants (one key each) or all in one tenant; everything else is the same, so the
two rates differ only by what tenants share in the write path. `two_processes`: the batched ingest
of bench/ingest.py (500-event batches, each followed until the balance query reflects it) with 16
posters, one per tenant, on two `serve` processes over one database: each poster posts to one
process and follows its batches on the other.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Sequence
from contextlib import ExitStack

import httpx

from bench.common import api_keys, log, median, percentile, serve
from bench.ingest import BATCH, Poster, Visits, post_and_follow, seed
from bench.loadgen import Connection

WRITERS = 16
WRITE_BATCH = 10  # events per POST: small enough that the write path, not the payload, is timed
TENANTS = 16


def _tenants(count: int) -> list[str]:
    return [f"bench-tenant-{number:02d}" for number in range(count)]


def _seed(base_url: str, key: str, members: Sequence[int]) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        seed(client, members)


async def _closed_loop(
    base_url: str, keys: list[str], visits: list[Visits], seconds: float
) -> tuple[int, float]:
    """One keep-alive connection per writer, each posting with its own key; events recorded and
    the elapsed time."""
    connections = [await Connection.open(base_url) for _ in keys]
    deadline = time.perf_counter() + seconds
    recorded = 0

    async def one(connection: Connection, key: str, mine: Visits) -> None:
        nonlocal recorded
        headers = {"Authorization": f"Bearer {key}"}
        while time.perf_counter() < deadline:
            body = json.dumps({"events": mine.batch(WRITE_BATCH)[1]}).encode()
            status, answer = await connection.post("/v1/events", headers, body)
            if status != 200:
                raise RuntimeError(f"answered {status}: {answer[:300]!r}")
            recorded += WRITE_BATCH

    started = time.perf_counter()
    try:
        await asyncio.gather(*map(one, connections, keys, visits))
    finally:
        for connection in connections:
            connection.close()
    return recorded, time.perf_counter() - started


def concurrent(database_url: str, scale: float, tenants: int) -> dict[str, float]:
    """16 writers spread over `tenants` tenants (16 or 1); writer w has members of its own."""
    per_writer = max(4, int(5000 * scale / WRITERS))
    seconds = max(2.0, 15.0 * scale)
    keys = api_keys(database_url, _tenants(tenants))
    owners = [keys[writer % tenants] for writer in range(WRITERS)]
    members = [range(w * per_writer, (w + 1) * per_writer) for w in range(WRITERS)]
    with serve(database_url) as server:
        log(f"writers: seeding {WRITERS * per_writer:,} members in {tenants} tenant(s)")
        for tenant, key in enumerate(keys):
            _seed(server.base_url, key, [m for mine in members[tenant::tenants] for m in mine])
        log(f"writers: {WRITERS} writers, {WRITE_BATCH} events a POST, {tenants} tenant(s), "
            f"{seconds:.0f} s")  # fmt: skip
        visits = [
            Visits(per_writer, seed=100 + w, prefix=f"writer-{w}", first=members[w].start)
            for w in range(WRITERS)
        ]
        recorded, elapsed = asyncio.run(_closed_loop(server.base_url, owners, visits, seconds))
    name = "writers_1_tenant" if tenants == 1 else f"writers_{tenants}_tenants"
    return {f"{name}_events_per_s": round(recorded / elapsed)}


def two_processes(database_url: str, scale: float) -> dict[str, float]:
    """Batched ingest from 16 posters, one per tenant, over two `serve` processes."""
    per_tenant = max(4, int(5000 * scale / TENANTS))
    rounds = max(2, math.ceil(200 * scale / TENANTS))  # batches per poster
    keys = api_keys(database_url, _tenants(TENANTS))
    with ExitStack() as stack:
        servers = [stack.enter_context(serve(database_url)) for _ in range(2)]
        urls = [server.base_url for server in servers]
        log(f"ingest 2 processes: seeding {TENANTS} tenants of {per_tenant:,} members")
        for tenant, key in enumerate(keys):
            _seed(urls[tenant % 2], key, range(per_tenant))
        posters = []
        for tenant, key in enumerate(keys):
            visits = Visits(per_tenant, seed=200 + tenant, prefix=f"batched-{tenant}")
            work = [visits.batch() for _ in range(rounds)]
            posters.append(Poster(urls[tenant % 2], urls[(tenant + 1) % 2], key, work))
        log(f"ingest 2 processes: {TENANTS * rounds} batches of {BATCH} visit events, "
            f"{TENANTS} posters")  # fmt: skip
        lags, elapsed = post_and_follow(posters)
    return {
        "ingest_batched_2proc_events_per_s": round(TENANTS * rounds * BATCH / elapsed),
        "projection_lag_2proc_p50_ms": round(median(lags) * 1000, 2),
        "projection_lag_2proc_p99_ms": round(percentile(lags, 0.99) * 1000, 2),
    }
