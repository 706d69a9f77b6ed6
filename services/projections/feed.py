"""The feed of derived events: what subscribers read, in sequence order per tenant.

A derived event is `{"sequence", "id", "type", "occurred_at", "data"}` (api.md, Subscriptions).
Rows are written by the append path and `tick` under the ledger lock, so per tenant the sequence
is gap-free and commits in order: a reader asking for `sequence > after` never misses one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from services.ledger.codec import parse_timestamp
from services.ledger.db import Connection, Row
from services.projections.reads import Reader

FEED_COLUMNS = "sequence, event_id, type, occurred_at, data"
DERIVED_TYPES = (
    "balance.changed",
    "accumulation.negative_accrual_flagged",
    "benefit.threshold_crossed",
    "authorization.renewal_due",
    "visit.not_eligible",
    "accumulator.changed",
    "accumulator.met",
)


def feed_item(row: Row) -> dict[str, Any]:
    """A stored row as the contract's derived event (occurred_at as a UTC datetime)."""
    sequence, event_id, event_type, occurred_at, data = row
    return {
        "sequence": int(sequence),
        "id": event_id,
        "type": event_type,
        "occurred_at": parse_timestamp(occurred_at),
        "data": json.loads(data),
    }


def _select(types: Sequence[str] | None) -> tuple[str, tuple[Any, ...]]:
    sql = f"SELECT {FEED_COLUMNS} FROM derived_events WHERE tenant = ? AND sequence > ?"
    extra: tuple[Any, ...] = ()
    if types:
        sql += f" AND type IN ({', '.join('?' for _ in types)})"
        extra = tuple(types)
    return sql + " ORDER BY sequence LIMIT ?", extra


def read_events(
    connection: Connection,
    tenant: str,
    after: int,
    limit: int,
    types: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Up to `limit` derived events of the tenant after sequence `after`, in order (sync)."""
    sql, extra = _select(types)
    rows = connection.execute(sql, (tenant, after, *extra, limit))
    return [feed_item(row) for row in rows]


async def read_feed(
    reader: Reader,
    tenant: str,
    after: int,
    limit: int,
    types: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The same, through the async reader."""
    sql, extra = _select(types)
    rows = await reader.fetch(sql, (tenant, after, *extra, limit))
    return [feed_item(row) for row in rows]


def last_sequence(connection: Connection, tenant: str) -> int:
    """The tenant's last derived event's sequence, 0 before the first."""
    rows = connection.execute(
        "SELECT MAX(sequence) FROM derived_events WHERE tenant = ?", (tenant,)
    )
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def tenants_with_events(connection: Connection) -> list[str]:
    return [row[0] for row in connection.execute("SELECT DISTINCT tenant FROM derived_events")]


def as_json(item: dict[str, Any]) -> dict[str, Any]:
    """A feed item ready for json.dumps: occurred_at as RFC 3339 UTC text (`...Z`)."""
    occurred = item["occurred_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {**item, "occurred_at": occurred}
