"""The webhook tables (part of the service schema, see services/ledger/schema.py).

- `webhooks`: one row per endpoint. `cursor_sequence` is the last derived event the endpoint is
  done with (delivered, given up on, or not of its types); `attempt` and `next_attempt_at` belong
  to the head event (the first wanted one after the cursor) while it is being retried. The lease
  columns say which worker may deliver to the endpoint, until when.
- `webhook_deliveries`: every attempt, numbered per endpoint (`delivery_number` orders them
  newest first even within one microsecond). Only the lease holder writes here.
- `webhook_redeliveries`: manual redeliveries asked for through the API, waiting for a worker.

Every primary key and every index but `webhooks_due` begins with the tenant, so the tables can
be distributed by tenant (Citus: a unique key must hold the distribution column) and a tenant's
rows stay together. `webhooks_due` serves the workers' scan across all tenants; it is not unique.
Timestamps are fixed-width UTC text, like the rest of the schema, so they compare as strings.
"""

from __future__ import annotations

WEBHOOK_SCHEMA_SQL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS webhooks (
        tenant TEXT NOT NULL,
        webhook_id TEXT NOT NULL,
        url TEXT NOT NULL,
        types TEXT NOT NULL,
        secret TEXT NOT NULL,
        status TEXT NOT NULL,
        status_reason TEXT,
        created_at TEXT NOT NULL,
        cursor_sequence BIGINT NOT NULL,
        attempt INTEGER NOT NULL,
        next_attempt_at TEXT NOT NULL,
        lease_owner TEXT,
        lease_until TEXT,
        PRIMARY KEY (tenant, webhook_id)
    )""",
    "CREATE INDEX IF NOT EXISTS webhooks_tenant ON webhooks (tenant, created_at)",
    "CREATE INDEX IF NOT EXISTS webhooks_due ON webhooks (status, next_attempt_at)",
    """CREATE TABLE IF NOT EXISTS webhook_deliveries (
        tenant TEXT NOT NULL,
        webhook_id TEXT NOT NULL,
        delivery_number BIGINT NOT NULL,
        sequence BIGINT NOT NULL,
        event_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        manual INTEGER NOT NULL,
        attempted_at TEXT NOT NULL,
        status_code INTEGER,
        error TEXT,
        outcome TEXT NOT NULL,
        next_attempt_at TEXT,
        PRIMARY KEY (tenant, webhook_id, delivery_number)
    )""",
    """CREATE INDEX IF NOT EXISTS webhook_deliveries_sequence
        ON webhook_deliveries (tenant, webhook_id, sequence)""",
    """CREATE TABLE IF NOT EXISTS webhook_redeliveries (
        tenant TEXT NOT NULL,
        webhook_id TEXT NOT NULL,
        sequence BIGINT NOT NULL,
        requested_at TEXT NOT NULL,
        PRIMARY KEY (tenant, webhook_id, sequence)
    )""",
)
