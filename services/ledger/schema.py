"""The schema: the ledger, its heads and tags, the read models and projection tracking.

Written to run unchanged on SQLite and PostgreSQL. Timestamps are stored as fixed-width UTC text
(`2026-11-23T10:00:00.000000Z`) so they compare correctly as strings in both databases.
"""

from __future__ import annotations

from services.api.relay_schema import RELAY_SCHEMA_SQL
from services.api.webhooks.schema import WEBHOOK_SCHEMA_SQL

SCHEMA_VERSION = 2  # 2: positions per tenant, tags; 1 had one global order

SCHEMA_SQL = (
    # every primary key and unique index begins with the tenant: the schema distributes by
    # tenant (docs/architecture.md); api_keys, schema_version and relay_leases are the
    # cluster-wide exceptions (reference tables)
    """CREATE TABLE IF NOT EXISTS ledger_events (
        tenant TEXT NOT NULL,
        position BIGINT NOT NULL,
        event_id TEXT NOT NULL,
        type TEXT NOT NULL,
        member_id TEXT,
        payer_id TEXT,
        data TEXT NOT NULL,
        body_hash TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        tags TEXT NOT NULL,
        PRIMARY KEY (tenant, position),
        UNIQUE (tenant, event_id)
    )""",
    """CREATE INDEX IF NOT EXISTS ledger_events_member
        ON ledger_events (tenant, member_id, position)""",
    """CREATE INDEX IF NOT EXISTS ledger_events_tenant_wide ON ledger_events (tenant, position)
        WHERE member_id IS NULL""",
    # known_at: the tenant's last position recorded by a moment (recorded_at grows with
    # position within a tenant), found by one backward step on this index
    """CREATE INDEX IF NOT EXISTS ledger_events_recorded_position
        ON ledger_events (tenant, recorded_at, position)""",
    # one row per tenant: its last position and recorded time. Writers lock it (FOR UPDATE), so
    # a tenant's positions are gap-free and commit in order while tenants never wait on each other
    """CREATE TABLE IF NOT EXISTS ledger_heads (
        tenant TEXT NOT NULL,
        position BIGINT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (tenant)
    )""",
    # what each event concerns (member:M, payer:P, visit:V ...): conditional appends and the
    # rules' reference lookups query it
    """CREATE TABLE IF NOT EXISTS ledger_tags (
        tenant TEXT NOT NULL,
        tag TEXT NOT NULL,
        position BIGINT NOT NULL,
        PRIMARY KEY (tenant, tag, position)
    )""",
    """CREATE TABLE IF NOT EXISTS alert_marks (
        tenant TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        scope TEXT NOT NULL,
        PRIMARY KEY (tenant, kind, subject, scope)
    )""",
    """CREATE TABLE IF NOT EXISTS api_keys (
        key_id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        roles TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS member_views (
        tenant TEXT NOT NULL,
        member_id TEXT NOT NULL,
        position BIGINT NOT NULL,
        flags TEXT NOT NULL,
        PRIMARY KEY (tenant, member_id)
    )""",
    """CREATE TABLE IF NOT EXISTS accumulation_views (
        tenant TEXT NOT NULL,
        member_id TEXT NOT NULL,
        authorization_number TEXT NOT NULL,
        service_code TEXT NOT NULL,
        accumulates INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (tenant, member_id, authorization_number, service_code)
    )""",
    """CREATE TABLE IF NOT EXISTS visit_views (
        tenant TEXT NOT NULL,
        visit_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (tenant, visit_id)
    )""",
    "CREATE INDEX IF NOT EXISTS visit_views_member ON visit_views (tenant, member_id)",
    """CREATE TABLE IF NOT EXISTS projection_tracking (
        tenant TEXT NOT NULL,
        name TEXT NOT NULL,
        position BIGINT NOT NULL,
        PRIMARY KEY (tenant, name)
    )""",
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    # derived events (subscriptions): written with the rows that cause them, never rebuilt
    """CREATE TABLE IF NOT EXISTS derived_events (
        tenant TEXT NOT NULL,
        sequence BIGINT NOT NULL,
        event_id TEXT NOT NULL,
        type TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        position BIGINT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (tenant, sequence),
        UNIQUE (tenant, event_id)
    )""",
    """CREATE TABLE IF NOT EXISTS key_versions (
        tenant TEXT NOT NULL,
        member_id TEXT NOT NULL,
        authorization_number TEXT NOT NULL,
        service_code TEXT NOT NULL,
        version BIGINT NOT NULL,
        PRIMARY KEY (tenant, member_id, authorization_number, service_code)
    )""",
    *WEBHOOK_SCHEMA_SQL,
    *RELAY_SCHEMA_SQL,
)

READ_MODEL_TABLES = ("member_views", "accumulation_views", "visit_views", "projection_tracking")
PROJECTION_NAME = "accumulation"
