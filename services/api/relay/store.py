"""The relay's lease and checkpoints in the database: which relay may publish, and how far.

One relay per name (= stream) publishes at a time: it holds a lease row in `relay_leases`, renewed
with every checkpoint. Another relay with the same name stands by until the lease expires. The
checkpoints in `relay_checkpoints` keep, per tenant, the last sequence JetStream acknowledged.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.ledger.codec import format_timestamp
from services.ledger.db import Connection

LEASE_SECONDS = 30.0


class LeaseHeld(Exception):
    """Another relay with the same name is publishing; this one must not interleave with it."""

    def __init__(self, name: str, holder: str, expires_at: str) -> None:
        super().__init__(f"another relay holds the lease of {name}: {holder}")
        self.holder = holder
        self.expires_at = expires_at


class LeaseLost(Exception):
    """This relay stalled past its lease and another took over: stop before racing it."""


def default_holder() -> str:
    """Host, pid and a nonce: readable in `relay_leases`, unique even across restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


_TAKE_LEASE = """INSERT INTO relay_leases (name, holder, expires_at) VALUES (?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
    WHERE relay_leases.holder = excluded.holder OR relay_leases.expires_at < ?"""

_ADVANCE = """INSERT INTO relay_checkpoints (tenant, name, sequence) VALUES (?, ?, ?)
    ON CONFLICT (tenant, name) DO UPDATE SET sequence = excluded.sequence
    WHERE relay_checkpoints.sequence < excluded.sequence"""


@dataclass
class Lease:
    """The right to publish as relay `name`, a row in `relay_leases` valid until it expires.

    Every checkpoint write renews it in the same transaction and fails once someone else holds
    it, so a relay that stalled past its lease stops instead of publishing beside its successor.
    """

    name: str
    holder: str = field(default_factory=default_holder)
    seconds: float = LEASE_SECONDS

    def _expiry(self, now: datetime, fraction: float = 1.0) -> str:
        return format_timestamp(now + timedelta(seconds=self.seconds * fraction))

    def current(self, connection: Connection) -> tuple[str, str] | None:
        """(holder, expires_at) of the lease row, None if nobody ever took it."""
        rows = connection.execute(
            "SELECT holder, expires_at FROM relay_leases WHERE name = ?", (self.name,)
        )
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def acquire(self, connection: Connection) -> None:
        """Take or renew the lease; raise LeaseHeld while another live relay holds it."""
        now = datetime.now(UTC)
        current = self.current(connection)
        if current and current[0] == self.holder and current[1] > self._expiry(now, 0.5):
            return  # still comfortably ours: no write on every idle poll
        with connection.transaction():
            connection.execute(
                _TAKE_LEASE, (self.name, self.holder, self._expiry(now), format_timestamp(now))
            )
            current = self.current(connection)
        if current is None or current[0] != self.holder:
            holder, expires_at = current or ("nobody", "-")
            raise LeaseHeld(self.name, holder, expires_at)

    def fence(self, connection: Connection) -> None:
        """Inside a transaction: renew the lease, or raise LeaseLost if another relay took it."""
        connection.execute(
            "UPDATE relay_leases SET expires_at = ? WHERE name = ? AND holder = ?",
            (self._expiry(datetime.now(UTC)), self.name, self.holder),
        )
        current = self.current(connection)
        if current is None or current[0] != self.holder:
            raise LeaseLost(f"relay {self.name}: the lease passed to {current and current[0]}")

    def release(self, connection: Connection) -> None:
        """Give the lease up, so a successor need not wait for it to expire."""
        connection.execute(
            "DELETE FROM relay_leases WHERE name = ? AND holder = ?", (self.name, self.holder)
        )


def checkpoints(connection: Connection, name: str) -> dict[str, int]:
    """Per tenant, the last sequence relay `name` saw acknowledged."""
    rows = connection.execute(
        "SELECT tenant, sequence FROM relay_checkpoints WHERE name = ?", (name,)
    )
    return {str(tenant): int(sequence) for tenant, sequence in rows}


def save_checkpoint(connection: Connection, lease: Lease, tenant: str, sequence: int) -> None:
    """Record the tenant's events up to `sequence` as acknowledged; it never moves backwards."""
    with connection.transaction():
        lease.fence(connection)
        connection.execute(_ADVANCE, (tenant, lease.name, sequence))


def pending_tenants(
    connection: Connection, name: str, only: Sequence[str] | None = None
) -> list[tuple[str, int]]:
    """(tenant, checkpoint) of every tenant with events past its checkpoint, in one query."""
    done = checkpoints(connection, name)
    rows = connection.execute("SELECT tenant, MAX(sequence) FROM derived_events GROUP BY tenant")
    wanted = set(only) if only is not None else None
    return [
        (str(tenant), done.get(tenant, 0))
        for tenant, last in rows
        if int(last) > done.get(tenant, 0) and (wanted is None or tenant in wanted)
    ]
