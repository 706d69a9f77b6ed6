"""The schema: the ledger, its lookup indexes, the read models and projection tracking.

Written to run unchanged on SQLite and PostgreSQL. Timestamps are stored as fixed-width UTC text
(`2026-11-23T10:00:00.000000Z`) so they compare correctly as strings in both databases.
"""

from __future__ import annotations

from services.api.relay_schema import RELAY_SCHEMA_SQL
from services.api.webhooks.schema import WEBHOOK_SCHEMA_SQL

SCHEMA_VERSION = 1

SCHEMA_SQL = (
    """CREATE TABLE IF NOT EXISTS ledger_events (
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
    )""",
    """CREATE INDEX IF NOT EXISTS ledger_events_member
        ON ledger_events (tenant, member_id, position)""",
    """CREATE INDEX IF NOT EXISTS ledger_events_tenant_wide ON ledger_events (tenant, position)
        WHERE member_id IS NULL""",
    # known_at: the last position recorded by a moment (recorded_at grows with position), found
    # by one backward step on this index; MAX(position) over a recorded_at range scanned it
    """CREATE INDEX IF NOT EXISTS ledger_events_recorded_position
        ON ledger_events (recorded_at, position)""",
    "DROP INDEX IF EXISTS ledger_events_recorded",
    """CREATE TABLE IF NOT EXISTS authorization_index (
        tenant TEXT NOT NULL,
        authorization_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        payer_id TEXT NOT NULL,
        PRIMARY KEY (tenant, authorization_id)
    )""",
    """CREATE INDEX IF NOT EXISTS authorization_index_payer
        ON authorization_index (tenant, payer_id, member_id)""",
    """CREATE TABLE IF NOT EXISTS visit_index (
        tenant TEXT NOT NULL,
        visit_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        payer_id TEXT NOT NULL,
        PRIMARY KEY (tenant, visit_id)
    )""",
    """CREATE TABLE IF NOT EXISTS benefit_index (
        tenant TEXT NOT NULL,
        benefit_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        payer_id TEXT NOT NULL,
        PRIMARY KEY (tenant, benefit_id)
    )""",
    "CREATE INDEX IF NOT EXISTS benefit_index_member ON benefit_index (tenant, member_id)",
    # claims by id (payer_id holds the claim's plan type) and enrollments by family
    """CREATE TABLE IF NOT EXISTS claim_index (
        tenant TEXT NOT NULL,
        claim_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        payer_id TEXT NOT NULL,
        PRIMARY KEY (tenant, claim_id)
    )""",
    """CREATE TABLE IF NOT EXISTS enrollment_index (
        tenant TEXT NOT NULL,
        member_id TEXT NOT NULL,
        schedule_id TEXT NOT NULL,
        family_id TEXT
    )""",
    """CREATE INDEX IF NOT EXISTS enrollment_index_family
        ON enrollment_index (tenant, family_id, member_id)""",
    # alerts emitted once (a threshold per benefit period, a renewal per key and end date, a
    # visit outside coverage): neither a replay nor a second crossing repeats one
    """CREATE TABLE IF NOT EXISTS alert_marks (
        tenant TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        scope TEXT NOT NULL,
        PRIMARY KEY (tenant, kind, subject, scope)
    )""",
    "CREATE INDEX IF NOT EXISTS visit_index_payer ON visit_index (tenant, payer_id, member_id)",
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
        name TEXT PRIMARY KEY,
        position BIGINT NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    # derived events (subscriptions): written with the rows that cause them, never rebuilt
    """CREATE TABLE IF NOT EXISTS derived_events (
        tenant TEXT NOT NULL,
        sequence BIGINT NOT NULL,
        event_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        position BIGINT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (tenant, sequence)
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
