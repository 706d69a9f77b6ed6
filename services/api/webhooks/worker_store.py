"""Database access for webhooks, the worker's side: due endpoints, their leases, delivery
attempts, the cursor, and the redelivery queue.

Everything here is synchronous on one `Connection` (callers run it in a thread). Writes that
belong to a delivery are fenced by the lease: they only apply while `lease_owner` is still the
caller (`UPDATE ... WHERE lease_owner = ? RETURNING`), so a worker that lost its lease (taken
over, or taken away by a pause or deletion through the API) can never move a cursor or write a
status. Each transaction starts with a write, so SQLite takes its write lock at once and waits on
`busy_timeout` instead of failing on a stale read snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.api.webhooks import store
from services.api.webhooks.store import (
    DELIVERY_COLUMNS,
    ENDPOINT_COLUMNS,
    SECRET_COLUMNS,
    Endpoint,
    StoredSecrets,
    WebhookKey,
    endpoint_from_row,
)
from services.ledger.codec import format_timestamp
from services.ledger.db import Connection
from services.projections.feed import read_events


class LeaseLostError(Exception):
    """The endpoint is no longer ours (lease taken over or taken away, or the webhook deleted)."""


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
        (store.ACTIVE, moment, moment, limit),
    )
    return [WebhookKey(row[0], row[1]) for row in rows]


def claim(
    connection: Connection, key: WebhookKey, owner: str, now: datetime, until: datetime
) -> Endpoint | None:
    """Take the endpoint's lease if it is free or expired; None when another worker holds it.
    The conditional UPDATE is atomic on both databases, so only one claimant gets the row. A
    rotated-out secret past its overlap is forgotten on the way."""
    moment = format_timestamp(now)
    rows = connection.execute(
        "UPDATE webhooks SET lease_owner = ?, lease_until = ?, "
        "previous_secret = CASE WHEN previous_secret_expires_at <= ? THEN NULL "
        "ELSE previous_secret END, "
        "previous_secret_expires_at = CASE WHEN previous_secret_expires_at <= ? THEN NULL "
        "ELSE previous_secret_expires_at END "
        "WHERE tenant = ? AND webhook_id = ? AND status = ? "
        "AND (lease_until IS NULL OR lease_until < ?) "
        f"RETURNING {ENDPOINT_COLUMNS}",
        (
            owner,
            format_timestamp(until),
            moment,
            moment,
            key.tenant,
            key.webhook_id,
            store.ACTIVE,
            moment,
        ),
    )
    return endpoint_from_row(rows[0]) if rows else None


def renew(
    connection: Connection, key: WebhookKey, owner: str, until: datetime
) -> StoredSecrets | None:
    """Extend our lease before a send, and read the secrets to sign it with (a rotation applies
    from the next send on); None when the lease is no longer ours or the endpoint not active."""
    rows = connection.execute(
        "UPDATE webhooks SET lease_until = ? WHERE tenant = ? AND webhook_id = ? "
        f"AND lease_owner = ? AND status = ? RETURNING {SECRET_COLUMNS}",
        (format_timestamp(until), key.tenant, key.webhook_id, owner, store.ACTIVE),
    )
    return StoredSecrets(*rows[0]) if rows else None


def release(connection: Connection, key: WebhookKey, owner: str) -> None:
    connection.execute(
        "UPDATE webhooks SET lease_owner = NULL, lease_until = NULL "
        "WHERE tenant = ? AND webhook_id = ? AND lease_owner = ?",
        (key.tenant, key.webhook_id, owner),
    )


def _save_endpoint(connection: Connection, endpoint: Endpoint, owner: str) -> None:
    rows = connection.execute(
        "UPDATE webhooks SET cursor_sequence = ?, attempt = ?, next_attempt_at = ?, status = ?, "
        "status_reason = ?, consecutive_failures = ?, last_success_at = ?, last_failure_at = ? "
        "WHERE tenant = ? AND webhook_id = ? AND lease_owner = ? RETURNING webhook_id",
        (
            endpoint.cursor,
            endpoint.attempt,
            endpoint.next_attempt_at,
            endpoint.status,
            endpoint.status_reason,
            endpoint.consecutive_failures,
            endpoint.last_success_at,
            endpoint.last_failure_at,
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
                f"{DELIVERY_COLUMNS}) VALUES (?, ?, (SELECT COALESCE(MAX(delivery_number), 0) "
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
