"""The NATS relay's tables (part of the service schema, see services/ledger/schema.py).

`relay_checkpoints`: per relay `name` (its stream) and tenant, the last derived-event sequence
JetStream acknowledged. It only moves forward, so a crash re-sends at most the unacknowledged
tail, which the stream's duplicate window drops by `Nats-Msg-Id`.

`relay_leases`: one row per relay name saying which process may publish until when. A second
relay with the same name stands by instead of interleaving its publishes with the first one's.
Timestamps are fixed-width UTC text, like the rest of the schema, so they compare as strings.
"""

from __future__ import annotations

RELAY_SCHEMA_SQL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS relay_checkpoints (
        name TEXT NOT NULL,
        tenant TEXT NOT NULL,
        sequence BIGINT NOT NULL,
        PRIMARY KEY (name, tenant)
    )""",
    """CREATE TABLE IF NOT EXISTS relay_leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )""",
)
