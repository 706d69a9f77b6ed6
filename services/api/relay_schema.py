"""The NATS relay's tables (part of the service schema, see services/ledger/schema.py).

`relay_checkpoints`: per tenant and relay `name` (its stream), the last derived-event sequence
JetStream acknowledged. It only moves forward, so a crash re-sends at most the unacknowledged
tail, which the stream's duplicate window drops by `Nats-Msg-Id`. Its key begins with the tenant
so the table can be distributed by tenant (Citus), like the derived events it follows.

`relay_leases`: one row per relay name saying which process may publish until when. A second
relay with the same name stands by instead of interleaving its publishes with the first one's.
The lease is cluster-wide, not a tenant's, so it stays keyed by name alone (a Citus reference
table). Timestamps are fixed-width UTC text, like the rest of the schema, so they compare as
strings.
"""

from __future__ import annotations

RELAY_SCHEMA_SQL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS relay_checkpoints (
        tenant TEXT NOT NULL,
        name TEXT NOT NULL,
        sequence BIGINT NOT NULL,
        PRIMARY KEY (tenant, name)
    )""",
    """CREATE TABLE IF NOT EXISTS relay_leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )""",
)
