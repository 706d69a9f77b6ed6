"""The database's schema: the ledger, its heads and tags, the read models, projection tracking,
derived events, webhooks and the relay.

Written to run unchanged on SQLite and PostgreSQL. Timestamps are stored as fixed-width UTC text
(`2026-11-23T10:00:00.000000Z`) so they compare correctly as strings in both databases.
"""

from __future__ import annotations

# The webhook tables.
#
# - `webhooks`: one row per endpoint. `cursor_sequence` is the last derived event the endpoint is
#   done with (delivered, given up on, or not of its types); `attempt` and `next_attempt_at` belong
#   to the head event (the first wanted one after the cursor) while it is being retried. The lease
#   columns say which worker may deliver to the endpoint, until when.
# - `webhook_deliveries`: every attempt, numbered per endpoint (`delivery_number` orders them
#   newest first even within one microsecond). Only the lease holder writes here.
# - `webhook_redeliveries`: manual redeliveries asked for through the API, waiting for a worker.
#
# Every primary key and every index but `webhooks_due` begins with the tenant, so the tables can
# be distributed by tenant (Citus: a unique key must hold the distribution column) and a tenant's
# rows stay together. `webhooks_due` serves the workers' scan across all tenants; it is not unique.
# Timestamps are fixed-width UTC text, like the rest of the schema, so they compare as strings.
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

# The NATS relay's tables.
#
# `relay_checkpoints`: per tenant and relay `name` (its stream), the last derived-event sequence
# JetStream acknowledged. It only moves forward, so a crash re-sends at most the unacknowledged
# tail, which the stream's duplicate window drops by `Nats-Msg-Id`. Its key begins with the tenant
# so the table can be distributed by tenant (Citus), like the derived events it follows.
#
# `relay_leases` (schema 2, dropped by 3): one row per relay name, replaced by `tenant_leases`.
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

# Schema 2 as the release that introduced it created it (positions per tenant, tags; schema 1
# had one global order and is not upgraded). Never edit it: a change is a new migration
# (services/ledger/migrations.py), so a database made by any release upgrades the same way.
SCHEMA_V2 = (
    # every primary key and unique index begins with the tenant: the schema distributes by
    # tenant (docs/architecture.md); api_keys and the migration records are the cluster-wide
    # exceptions (reference tables)
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

# 3: leases per tenant (services/ledger/leases.py). Per tenant and job `name` (a relay's
# stream, "tick"): which process does that tenant's share of the job until when, so several
# processes running the same worker share the tenants. Timestamps are fixed-width UTC text, so
# they compare as strings. The cluster-wide relay lease goes (leases are transient: no rows to
# carry over), and so does `schema_version`, replaced by `schema_migrations`.
SCHEMA_V3 = (
    """CREATE TABLE tenant_leases (
        tenant TEXT NOT NULL,
        name TEXT NOT NULL,
        holder TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        PRIMARY KEY (tenant, name)
    )""",
    "DROP TABLE relay_leases",
    "DROP TABLE schema_version",
)

# 4: the API key lifecycle: a name, an expiry, revocation and when the key was last used.
SCHEMA_V4 = (
    "ALTER TABLE api_keys ADD COLUMN name TEXT",
    "ALTER TABLE api_keys ADD COLUMN expires_at TEXT",
    "ALTER TABLE api_keys ADD COLUMN revoked_at TEXT",
    "ALTER TABLE api_keys ADD COLUMN last_used_at TEXT",
    "CREATE INDEX api_keys_tenant ON api_keys (tenant, created_at)",
)

# 5: webhook delivery that keeps up (services/api/webhooks/). Per endpoint: its retry schedule
# (exponential backoff from `retry_initial_seconds`, capped at `retry_max_seconds`, paused after
# `retry_max_attempts` failed attempts at one event; existing endpoints get the defaults), its
# delivery status (failures in a row since the last success, the last success and failure), and
# the secret it replaced at its last rotation, still signing until `previous_secret_expires_at`.
# `secret` holds the secret encrypted (Fernet) from now on: the service encrypts the plaintext
# ones of earlier releases when it starts (that needs the key, which SQL does not have). The
# status and last times are backfilled from the recorded attempts.
SCHEMA_V5 = (
    "ALTER TABLE webhooks ADD COLUMN retry_initial_seconds INTEGER NOT NULL DEFAULT 5",
    "ALTER TABLE webhooks ADD COLUMN retry_max_seconds INTEGER NOT NULL DEFAULT 300",
    "ALTER TABLE webhooks ADD COLUMN retry_max_attempts INTEGER NOT NULL DEFAULT 20",
    "ALTER TABLE webhooks ADD COLUMN previous_secret TEXT",
    "ALTER TABLE webhooks ADD COLUMN previous_secret_expires_at TEXT",
    "ALTER TABLE webhooks ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE webhooks ADD COLUMN last_success_at TEXT",
    "ALTER TABLE webhooks ADD COLUMN last_failure_at TEXT",
    """UPDATE webhooks SET
        last_success_at = (SELECT MAX(d.attempted_at) FROM webhook_deliveries d
            WHERE d.tenant = webhooks.tenant AND d.webhook_id = webhooks.webhook_id
            AND d.outcome = 'succeeded'),
        last_failure_at = (SELECT MAX(d.attempted_at) FROM webhook_deliveries d
            WHERE d.tenant = webhooks.tenant AND d.webhook_id = webhooks.webhook_id
            AND d.outcome <> 'succeeded'),
        consecutive_failures = (SELECT COUNT(*) FROM webhook_deliveries d
            WHERE d.tenant = webhooks.tenant AND d.webhook_id = webhooks.webhook_id
            AND d.outcome <> 'succeeded' AND d.delivery_number > COALESCE(
                (SELECT MAX(s.delivery_number) FROM webhook_deliveries s
                 WHERE s.tenant = d.tenant AND s.webhook_id = d.webhook_id
                 AND s.outcome = 'succeeded'), 0))""",
)

# 6: console sign-out that holds everywhere (services/api/console/session.py). A console session
# cookie names the generation of its key's console sessions it was started in; signing out adds
# one, so every cookie of that key issued before, copies included, is refused at once in every
# process. A column of the key (not a table of sessions): nothing to prune, and the key row is
# read on every console request already.
SCHEMA_V6 = ("ALTER TABLE api_keys ADD COLUMN console_generation INTEGER NOT NULL DEFAULT 0",)

# 7: a member's authorization lines without its visits. The status of a key (accumulation.md
# 2.16) needs the member's `authorization.*` events, which `ledger_events_member` finds only
# among all of the member's events (visits are most of them). A partial index holds the few line
# events alone, so writing a visit costs it nothing; `LINE_EVENTS` is the one spelling of its
# condition, which a query must repeat word for word for either store to use the index.
LINE_EVENTS = (
    "type IN ('authorization.granted', 'authorization.amended', 'authorization.voided', "
    "'authorization.service_removed')"
)
SCHEMA_V7 = (
    f"""CREATE INDEX IF NOT EXISTS ledger_events_member_lines
        ON ledger_events (tenant, member_id, position) WHERE {LINE_EVENTS}""",
)

READ_MODEL_TABLES = ("member_views", "accumulation_views", "visit_views", "projection_tracking")
PROJECTION_NAME = "accumulation"
