"""Database access for webhooks: endpoints, their leases, delivery attempts and redeliveries.

Everything here is synchronous on one `Connection` (callers run it in a thread). Writes that
belong to a delivery are fenced by the lease: they only apply while `lease_owner` is still the
caller (`UPDATE ... WHERE lease_owner = ? RETURNING`), so a worker that lost its lease can never
move a cursor another worker now owns. Each transaction starts with a write, so SQLite takes its
write lock at once and waits on `busy_timeout` instead of failing on a stale read snapshot.

An endpoint is known by its tenant and id together (the tables' keys begin with the tenant, so
they can be distributed by tenant), and every query names both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from services.ledger.codec import format_timestamp, parse_timestamp
from services.ledger.db import Connection, Row
from services.projections.feed import read_events

ACTIVE = "active"
DISABLED = "disabled"
SUCCEEDED = "succeeded"
RETRYING = "retrying"
FAILED = "failed"

_ENDPOINT_COLUMNS = (
    "webhook_id, tenant, url, types, secret, status, status_reason, created_at, "
    "cursor_sequence, attempt, next_attempt_at"
)
_DELIVERY_COLUMNS = (
    "sequence, event_id, attempt, manual, attempted_at, status_code, error, outcome, "
    "next_attempt_at"
)


class WebhookKey(NamedTuple):
    """An endpoint's key: its tenant, then its id (unique within the tenant)."""

    tenant: str
    webhook_id: str


class LeaseLostError(Exception):
    """The endpoint is no longer ours (lease taken over, or the webhook deleted)."""


@dataclass
class Endpoint:
    """One webhook and its delivery state; the worker changes it and writes it back whole."""

    webhook_id: str
    tenant: str
    url: str
    types: tuple[str, ...]
    secret: str
    status: str
    status_reason: str | None
    created_at: str
    cursor: int
    attempt: int
    next_attempt_at: str

    @property
    def key(self) -> WebhookKey:
        return WebhookKey(self.tenant, self.webhook_id)

    def wants(self, event_type: str) -> bool:
        """No types means every type."""
        return not self.types or event_type in self.types


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt as recorded; `manual` attempts are numbered after earlier ones."""

    sequence: int
    event_id: str
    attempt: int
    manual: bool
    attempted_at: str
    status_code: int | None
    error: str | None
    outcome: str
    next_attempt_at: str | None


def _endpoint(row: Row) -> Endpoint:
    return Endpoint(
        webhook_id=row[0],
        tenant=row[1],
        url=row[2],
        types=tuple(json.loads(row[3])),
        secret=row[4],
        status=row[5],
        status_reason=row[6],
        created_at=row[7],
        cursor=int(row[8]),
        attempt=int(row[9]),
        next_attempt_at=row[10],
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
) -> Endpoint:
    """A new active endpoint whose first event is the one after sequence `after`."""
    created = format_timestamp(now)
    connection.execute(
        f"INSERT INTO webhooks ({_ENDPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        ),
    )
    return Endpoint(
        webhook_id, tenant, url, tuple(types), secret, ACTIVE, None, created, after, 0, created
    )


def list_webhooks(connection: Connection, tenant: str) -> list[Endpoint]:
    rows = connection.execute(
        f"SELECT {_ENDPOINT_COLUMNS} FROM webhooks WHERE tenant = ? "
        "ORDER BY created_at, webhook_id",
        (tenant,),
    )
    return [_endpoint(row) for row in rows]


def get_webhook(connection: Connection, tenant: str, webhook_id: str) -> Endpoint | None:
    """The tenant's endpoint, or None (also when it belongs to another tenant)."""
    rows = connection.execute(
        f"SELECT {_ENDPOINT_COLUMNS} FROM webhooks WHERE tenant = ? AND webhook_id = ?",
        (tenant, webhook_id),
    )
    return _endpoint(rows[0]) if rows else None


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
        f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant = ? AND webhook_id = ? "
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


# --- the worker side ----------------------------------------------------------------------------


def due_webhooks(connection: Connection, now: datetime, limit: int) -> list[WebhookKey]:
    """Active, unleased endpoints with work now: a new event after the cursor once the head's
    backoff is over, or a queued redelivery (which does not wait for the backoff)."""
    moment = format_timestamp(now)
    rows = connection.execute(
        "SELECT w.tenant, w.webhook_id FROM webhooks w "
        "WHERE w.status = ? AND (w.lease_until IS NULL OR w.lease_until < ?) AND ("
        " (w.next_attempt_at <= ? AND EXISTS (SELECT 1 FROM derived_events d"
        "   WHERE d.tenant = w.tenant AND d.sequence > w.cursor_sequence))"
        " OR EXISTS (SELECT 1 FROM webhook_redeliveries r"
        "   WHERE r.tenant = w.tenant AND r.webhook_id = w.webhook_id)"
        ") ORDER BY w.next_attempt_at LIMIT ?",
        (ACTIVE, moment, moment, limit),
    )
    return [WebhookKey(row[0], row[1]) for row in rows]


def claim(
    connection: Connection, key: WebhookKey, owner: str, now: datetime, until: datetime
) -> Endpoint | None:
    """Take the endpoint's lease if it is free or expired; None when another worker holds it.
    The conditional UPDATE is atomic on both databases, so only one claimant gets the row."""
    rows = connection.execute(
        "UPDATE webhooks SET lease_owner = ?, lease_until = ? "
        "WHERE tenant = ? AND webhook_id = ? AND status = ? "
        "AND (lease_until IS NULL OR lease_until < ?) "
        f"RETURNING {_ENDPOINT_COLUMNS}",
        (owner, format_timestamp(until), key.tenant, key.webhook_id, ACTIVE, format_timestamp(now)),
    )
    return _endpoint(rows[0]) if rows else None


def renew(connection: Connection, key: WebhookKey, owner: str, until: datetime) -> bool:
    """Extend our lease before a send; False when it is no longer ours."""
    rows = connection.execute(
        "UPDATE webhooks SET lease_until = ? WHERE tenant = ? AND webhook_id = ? "
        "AND lease_owner = ? AND status = ? RETURNING webhook_id",
        (format_timestamp(until), key.tenant, key.webhook_id, owner, ACTIVE),
    )
    return bool(rows)


def release(connection: Connection, key: WebhookKey, owner: str) -> None:
    connection.execute(
        "UPDATE webhooks SET lease_owner = NULL, lease_until = NULL "
        "WHERE tenant = ? AND webhook_id = ? AND lease_owner = ?",
        (key.tenant, key.webhook_id, owner),
    )


def _save_endpoint(connection: Connection, endpoint: Endpoint, owner: str) -> None:
    rows = connection.execute(
        "UPDATE webhooks SET cursor_sequence = ?, attempt = ?, next_attempt_at = ?, status = ?, "
        "status_reason = ? WHERE tenant = ? AND webhook_id = ? AND lease_owner = ? "
        "RETURNING webhook_id",
        (
            endpoint.cursor,
            endpoint.attempt,
            endpoint.next_attempt_at,
            endpoint.status,
            endpoint.status_reason,
            endpoint.tenant,
            endpoint.webhook_id,
            owner,
        ),
    )
    if not rows:
        raise LeaseLostError(endpoint.webhook_id)


def save_cursor(connection: Connection, endpoint: Endpoint, owner: str) -> bool:
    """Write the endpoint's state alone (after skipping events of other types)."""
    try:
        _save_endpoint(connection, endpoint, owner)
    except LeaseLostError:
        return False
    return True


def record(connection: Connection, endpoint: Endpoint, owner: str, attempt: Attempt) -> bool:
    """Write an attempt and the endpoint state it leads to, atomically; a manual attempt also
    leaves the redelivery queue. False (nothing written) when the lease is no longer ours."""
    try:
        with connection.transaction():
            _save_endpoint(connection, endpoint, owner)
            number = attempt.attempt
            if attempt.manual:
                rows = connection.execute(
                    "SELECT COALESCE(MAX(attempt), 0) + 1 FROM webhook_deliveries "
                    "WHERE tenant = ? AND webhook_id = ? AND sequence = ?",
                    (endpoint.tenant, endpoint.webhook_id, attempt.sequence),
                )
                number = int(rows[0][0])
                drop_redelivery(connection, endpoint.key, attempt.sequence)
            connection.execute(
                "INSERT INTO webhook_deliveries (tenant, webhook_id, delivery_number, "
                f"{_DELIVERY_COLUMNS}) VALUES (?, ?, (SELECT COALESCE(MAX(delivery_number), 0) "
                "+ 1 FROM webhook_deliveries WHERE tenant = ? AND webhook_id = ?), "
                "?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    endpoint.tenant,
                    endpoint.webhook_id,
                    endpoint.tenant,
                    endpoint.webhook_id,
                    attempt.sequence,
                    attempt.event_id,
                    number,
                    int(attempt.manual),
                    attempt.attempted_at,
                    attempt.status_code,
                    attempt.error,
                    attempt.outcome,
                    attempt.next_attempt_at,
                ),
            )
    except LeaseLostError:
        return False
    return True


def queued_redeliveries(connection: Connection, key: WebhookKey) -> list[int]:
    rows = connection.execute(
        "SELECT sequence FROM webhook_redeliveries WHERE tenant = ? AND webhook_id = ? "
        "ORDER BY requested_at, sequence",
        (key.tenant, key.webhook_id),
    )
    return [int(row[0]) for row in rows]


def drop_redelivery(connection: Connection, key: WebhookKey, sequence: int) -> None:
    connection.execute(
        "DELETE FROM webhook_redeliveries WHERE tenant = ? AND webhook_id = ? AND sequence = ?",
        (key.tenant, key.webhook_id, sequence),
    )


def event_at(connection: Connection, tenant: str, sequence: int) -> dict[str, Any] | None:
    """The tenant's derived event with this sequence, as the feed gives it."""
    items = read_events(connection, tenant, sequence - 1, 1)
    return items[0] if items and items[0]["sequence"] == sequence else None


def events_after(connection: Connection, tenant: str, after: int, limit: int) -> list[Any]:
    """The next derived events of every type: the worker skips unwanted ones itself, so the
    cursor can move past them without racing a concurrent commit."""
    return read_events(connection, tenant, after, limit)
