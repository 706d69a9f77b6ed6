"""The hardware's limit: raw asyncpg COPY, single-row INSERTs on 16 connections, a sequential read.

The table has the ledger's columns, types and indexes; each row carries a realistic JSON body.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

import asyncpg

from bench.common import log

TABLE = """CREATE TABLE baseline_events (
    position BIGINT PRIMARY KEY,
    tenant TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    member_id TEXT,
    payer_id TEXT,
    data TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    UNIQUE (tenant, event_id)
)"""
INDEX = "CREATE INDEX ON baseline_events (tenant, member_id, position)"
COLUMNS = [
    "position", "tenant", "event_id", "type", "member_id", "payer_id", "data", "body_hash",
    "recorded_at",
]  # fmt: skip
COPY_CHUNK = 50_000


def _row(position: int) -> tuple[object, ...]:
    member = f"member-{position % 5000}"
    data = {
        "member_id": member,
        "payer_id": "payer-1",
        "service_code": "T1019",
        "service_date": "2026-11-03",
        "units": "8",
        "visit_id": f"visit-{position}",
    }
    return (
        position,
        "bench",
        str(uuid.uuid4()),
        "visit.scheduled",
        member,
        "payer-1",
        json.dumps(data, sort_keys=True, separators=(",", ":")),
        uuid.uuid4().hex + uuid.uuid4().hex,
        datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )


async def _copy(url: str, rows: int) -> float:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(TABLE)
        await connection.execute(INDEX)
        records = [_row(position) for position in range(1, rows + 1)]
        started = time.perf_counter()
        for start in range(0, rows, COPY_CHUNK):
            await connection.copy_records_to_table(
                "baseline_events", records=records[start : start + COPY_CHUNK], columns=COLUMNS
            )
        return rows / (time.perf_counter() - started)
    finally:
        await connection.close()


async def _insert_16(url: str, seconds: float, first: int) -> float:
    statement = (
        "INSERT INTO baseline_events (position, tenant, event_id, type, member_id, payer_id, "
        "data, body_hash, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )
    counter = iter(range(first, first + 100_000_000))
    deadline = time.perf_counter() + seconds
    done = 0

    async def client() -> None:
        nonlocal done
        connection = await asyncpg.connect(url)
        try:
            while time.perf_counter() < deadline:
                await connection.execute(statement, *_row(next(counter)))
                done += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(16)))
    return done / (time.perf_counter() - started)


async def _sequential_read(url: str) -> float:
    connection = await asyncpg.connect(url)
    try:
        count = 0
        started = time.perf_counter()
        async with connection.transaction():
            cursor = connection.cursor("SELECT * FROM baseline_events ORDER BY position")
            async for _ in cursor:
                count += 1
        return count / (time.perf_counter() - started)
    finally:
        await connection.close()


def run(database_url: str, scale: float) -> dict[str, float]:
    rows = max(10_000, int(1_000_000 * scale))
    seconds = max(2.0, 10.0 * scale)
    log(f"baseline: COPY {rows:,} rows")
    copy = asyncio.run(_copy(database_url, rows))
    log(f"baseline: single-row INSERT on 16 connections for {seconds:.0f} s")
    insert = asyncio.run(_insert_16(database_url, seconds, rows + 1))
    log("baseline: sequential read")
    read = asyncio.run(_sequential_read(database_url))
    return {
        "copy_rows_per_s": round(copy),
        "insert_16conn_rows_per_s": round(insert),
        "seq_read_rows_per_s": round(read),
    }
