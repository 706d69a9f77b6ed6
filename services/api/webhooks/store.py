"""Database access for webhooks, the API's side: endpoints as registered, changed (status, retry
schedule, secret) and shown, their delivery history and the redeliveries asked for.

The worker's side (leases, attempts, the cursor) is in worker_store.py. Everything here is
synchronous on one `Connection` (callers run it in a thread). An endpoint is known by its tenant
and id together (the tables' keys begin with the tenant, so they can be distributed by tenant),
and every query names both.

A change of status through the API (pause, resume) also takes the lease away, so the worker
holding it stops at its next write instead of writing its own view of the status back. Secrets
are stored encrypted (secret_box.py); this module only moves the encrypted values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from services.api.webhooks.backoff import DEFAULT_RETRY, RetryPolicy
from services.ledger.codec import format_timestamp, parse_timestamp
from services.ledger.db import Connection, Row

ACTIVE = "active"
PAUSED = "paused"
DISABLED = "disabled"
SUCCEEDED = "succeeded"
RETRYING = "retrying"
FAILED = "failed"

ENDPOINT_COLUMNS = (
    "webhook_id, tenant, url, types, secret, status, status_reason, created_at, "
    "cursor_sequence, attempt, next_attempt_at, retry_initial_seconds, retry_max_seconds, "
    "retry_max_attempts, previous_secret, previous_secret_expires_at, consecutive_failures, "
    "last_success_at, last_failure_at"
)
SECRET_COLUMNS = "secret, previous_secret, previous_secret_expires_at"
MAX_PENDING_COUNT = 10_000
DELIVERY_COLUMNS = (
    "sequence, event_id, attempt, manual, attempted_at, status_code, error, outcome, "
    "next_attempt_at"
)


class WebhookKey(NamedTuple):
    """An endpoint's key: its tenant, then its id (unique within the tenant)."""

    tenant: str
    webhook_id: str


@dataclass(frozen=True)
class StoredSecrets:
    """An endpoint's signing secrets, encrypted: the current one and, after a rotation, the one
    it replaced, which signs too until `previous_expires_at`."""

    current: str = field(repr=False)
    previous: str | None = field(default=None, repr=False)
    previous_expires_at: str | None = None

    def in_force(self, now: datetime) -> list[str]:
        """The secrets to sign with at `now`, the current one first."""
        if self.previous is None or self.previous_expires_at is None:
            return [self.current]
        if format_timestamp(now) >= self.previous_expires_at:
            return [self.current]
        return [self.current, self.previous]


@dataclass
class Endpoint:
    """One webhook and its delivery state; the worker changes it and writes it back whole (all
    but its URL, types, secrets and retry policy, which only the API changes)."""

    webhook_id: str
    tenant: str
    url: str
    types: tuple[str, ...]
    secrets: StoredSecrets
    status: str
    status_reason: str | None
    created_at: str
    cursor: int
    attempt: int
    next_attempt_at: str
    retry: RetryPolicy = DEFAULT_RETRY
    consecutive_failures: int = 0
    last_success_at: str | None = None
    last_failure_at: str | None = None

    @property
    def key(self) -> WebhookKey:
        return WebhookKey(self.tenant, self.webhook_id)

    def wants(self, event_type: str) -> bool:
        """No types means every type."""
        return not self.types or event_type in self.types


def endpoint_from_row(row: Row) -> Endpoint:
    return Endpoint(
        webhook_id=row[0],
        tenant=row[1],
        url=row[2],
        types=tuple(json.loads(row[3])),
        secrets=StoredSecrets(row[4], row[14], row[15]),
        status=row[5],
        status_reason=row[6],
        created_at=row[7],
        cursor=int(row[8]),
        attempt=int(row[9]),
        next_attempt_at=row[10],
        retry=RetryPolicy(int(row[11]), int(row[12]), int(row[13])),
        consecutive_failures=int(row[16]),
        last_success_at=row[17],
        last_failure_at=row[18],
    )


# --- the API side -------------------------------------------------------------------------------


def create_webhook(
    connection: Connection,
    *,
    webhook_id: str,
    tenant: str,
    url: str,
    types: Sequence[str],
    secret: str,
    after: int,
    now: datetime,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> Endpoint:
    """A new active endpoint whose first event is the one after sequence `after`; `secret` is
    the encrypted secret."""
    created = format_timestamp(now)
    endpoint = Endpoint(
        webhook_id=webhook_id,
        tenant=tenant,
        url=url,
        types=tuple(types),
        secrets=StoredSecrets(secret),
        status=ACTIVE,
        status_reason=None,
        created_at=created,
        cursor=after,
        attempt=0,
        next_attempt_at=created,
        retry=retry,
    )
    marks = ", ".join("?" for _ in ENDPOINT_COLUMNS.split(","))
    connection.execute(
        f"INSERT INTO webhooks ({ENDPOINT_COLUMNS}) VALUES ({marks})",
        (
            webhook_id,
            tenant,
            url,
            json.dumps(list(types)),
            secret,
            ACTIVE,
            None,
            created,
            after,
            0,
            created,
            retry.initial_seconds,
            retry.max_seconds,
            retry.max_attempts,
            None,
            None,
            0,
            None,
            None,
        ),
    )
    return endpoint


def list_webhooks(connection: Connection, tenant: str) -> list[Endpoint]:
    rows = connection.execute(
        f"SELECT {ENDPOINT_COLUMNS} FROM webhooks WHERE tenant = ? ORDER BY created_at, webhook_id",
        (tenant,),
    )
    return [endpoint_from_row(row) for row in rows]


def get_webhook(connection: Connection, tenant: str, webhook_id: str) -> Endpoint | None:
    """The tenant's endpoint, or None (also when it belongs to another tenant)."""
    rows = connection.execute(
        f"SELECT {ENDPOINT_COLUMNS} FROM webhooks WHERE tenant = ? AND webhook_id = ?",
        (tenant, webhook_id),
    )
    return endpoint_from_row(rows[0]) if rows else None


def change_retry(
    connection: Connection,
    tenant: str,
    webhook_id: str,
    initial_seconds: int | None,
    max_seconds: int | None,
    max_attempts: int | None,
) -> RetryPolicy | None:
    """Replace the given parts of the retry policy (None keeps a part); returns the policy now in
    force, or None when there is no such endpoint. Raises ValueError when the result would
    start above its cap (the caller's transaction then rolls the change back)."""
    rows = connection.execute(
        "UPDATE webhooks SET retry_initial_seconds = COALESCE(?, retry_initial_seconds), "
        "retry_max_seconds = COALESCE(?, retry_max_seconds), "
        "retry_max_attempts = COALESCE(?, retry_max_attempts) "
        "WHERE tenant = ? AND webhook_id = ? "
        "RETURNING retry_initial_seconds, retry_max_seconds, retry_max_attempts",
        (initial_seconds, max_seconds, max_attempts, tenant, webhook_id),
    )
    if not rows:
        return None
    initial, cap, attempts = (int(value) for value in rows[0])
    if initial > cap:
        raise ValueError("initial_seconds may not exceed max_seconds")
    return RetryPolicy(initial, cap, attempts)


def resume(connection: Connection, tenant: str, webhook_id: str, now: datetime) -> None:
    """A paused or disabled endpoint active again: its head event (where delivery stopped) is
    due now, with a fresh count of attempts. An active endpoint is left as it is."""
    connection.execute(
        "UPDATE webhooks SET status = ?, status_reason = NULL, attempt = 0, next_attempt_at = ?, "
        "lease_owner = NULL, lease_until = NULL "
        "WHERE tenant = ? AND webhook_id = ? AND status <> ?",
        (ACTIVE, format_timestamp(now), tenant, webhook_id, ACTIVE),
    )


def pause(connection: Connection, tenant: str, webhook_id: str, reason: str) -> None:
    """Stop deliveries (events go on queueing behind the cursor) and take the lease away, so a
    worker in the middle of a send records nothing more; a paused endpoint is left as it is."""
    connection.execute(
        "UPDATE webhooks SET status = ?, status_reason = ?, lease_owner = NULL, "
        "lease_until = NULL WHERE tenant = ? AND webhook_id = ? AND status <> ?",
        (PAUSED, reason, tenant, webhook_id, PAUSED),
    )


def rotate_secret(
    connection: Connection,
    tenant: str,
    webhook_id: str,
    secret: str,
    previous_expires_at: datetime | None,
) -> bool:
    """Make `secret` (encrypted) the endpoint's secret; the one it replaces goes on signing until
    `previous_expires_at` (None: not at all). A secret replaced earlier stops at once. False when
    there is no such endpoint."""
    if previous_expires_at is None:
        sql = (
            "UPDATE webhooks SET secret = ?, previous_secret = NULL, "
            "previous_secret_expires_at = NULL "
        )
        params: tuple[Any, ...] = (secret,)
    else:
        sql = (
            "UPDATE webhooks SET secret = ?, previous_secret = secret, "
            "previous_secret_expires_at = ? "
        )
        params = (secret, format_timestamp(previous_expires_at))
    rows = connection.execute(
        sql + "WHERE tenant = ? AND webhook_id = ? RETURNING webhook_id",
        (*params, tenant, webhook_id),
    )
    return bool(rows)


def pending_count(
    connection: Connection, endpoint: Endpoint, limit: int = MAX_PENDING_COUNT
) -> int:
    """Events after the cursor of the endpoint's types, counted up to `limit`."""
    wanted = ""
    if endpoint.types:
        wanted = f" AND type IN ({', '.join('?' for _ in endpoint.types)})"
    rows = connection.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM derived_events WHERE tenant = ? AND sequence > ?"
        f"{wanted} LIMIT ?) AS pending",
        (endpoint.tenant, endpoint.cursor, *endpoint.types, limit),
    )
    return int(rows[0][0])


def delete_webhook(connection: Connection, tenant: str, webhook_id: str) -> bool:
    """Delete the endpoint and its history. The endpoint row goes first: on PostgreSQL that
    waits for a worker's open record transaction, so no attempt is written after the purge."""
    with connection.transaction():
        deleted = connection.execute(
            "DELETE FROM webhooks WHERE tenant = ? AND webhook_id = ? RETURNING webhook_id",
            (tenant, webhook_id),
        )
        if not deleted:
            return False
        for table in ("webhook_deliveries", "webhook_redeliveries"):
            connection.execute(
                f"DELETE FROM {table} WHERE tenant = ? AND webhook_id = ?", (tenant, webhook_id)
            )
    return True


def list_deliveries(
    connection: Connection, tenant: str, webhook_id: str, limit: int
) -> list[dict[str, Any]]:
    """Attempts, newest first."""
    rows = connection.execute(
        f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant = ? AND webhook_id = ? "
        "ORDER BY delivery_number DESC LIMIT ?",
        (tenant, webhook_id, limit),
    )
    return [
        {
            "sequence": int(row[0]),
            "event_id": row[1],
            "attempt": int(row[2]),
            "manual": bool(row[3]),
            "attempted_at": parse_timestamp(row[4]),
            "status_code": row[5],
            "error": row[6],
            "outcome": row[7],
            "next_attempt_at": parse_timestamp(row[8]) if row[8] else None,
        }
        for row in rows
    ]


def was_attempted(connection: Connection, tenant: str, webhook_id: str, sequence: int) -> bool:
    rows = connection.execute(
        "SELECT 1 FROM webhook_deliveries WHERE tenant = ? AND webhook_id = ? AND sequence = ? "
        "LIMIT 1",
        (tenant, webhook_id, sequence),
    )
    return bool(rows)


def queue_redelivery(
    connection: Connection, tenant: str, webhook_id: str, sequence: int, now: datetime
) -> None:
    """Ask the workers to send an event again (once more if it is already queued: a no-op)."""
    connection.execute(
        "INSERT INTO webhook_redeliveries (tenant, webhook_id, sequence, requested_at) "
        "SELECT tenant, webhook_id, ?, ? FROM webhooks WHERE tenant = ? AND webhook_id = ? "
        "ON CONFLICT (tenant, webhook_id, sequence) DO NOTHING",
        (sequence, format_timestamp(now), tenant, webhook_id),
    )
