"""Leases per tenant: which process does a tenant's share of a background job, until when.

Several processes run the same workers (the relay of a stream, the period tick); each takes a
tenant's work only while it holds that tenant's lease, a row in `tenant_leases` keyed
(tenant, name) with a holder and an expiry. A process that finds the lease held by a live
holder skips the tenant this round, so processes share tenants instead of repeating each other's
work. Every write that must not race a successor is fenced on still holding the lease (`fence`,
inside the write's transaction), so a holder that stalled past its expiry stops instead of
writing beside the one that took over. Timestamps are fixed-width UTC text, so they compare as
strings on both stores.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.ledger.codec import format_timestamp
from services.ledger.db import Connection

LEASE_SECONDS = 30.0


class LeaseHeld(Exception):
    """Another live process holds the tenant's lease: leave the tenant to it."""

    def __init__(self, lease: Lease, holder: str, expires_at: str) -> None:
        super().__init__(
            f"{holder} holds the {lease.name} lease of tenant {lease.tenant!r} until {expires_at}"
        )
        self.holder = holder
        self.expires_at = expires_at


class LeaseLost(Exception):
    """This holder stalled past its lease and another took over: stop before racing it."""


def default_holder() -> str:
    """Host, pid and a nonce: readable in `tenant_leases`, unique even across restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


_TAKE = """INSERT INTO tenant_leases (tenant, name, holder, expires_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (tenant, name) DO UPDATE
    SET holder = excluded.holder, expires_at = excluded.expires_at
    WHERE tenant_leases.holder = excluded.holder OR tenant_leases.expires_at < ?"""


@dataclass
class Lease:
    """The right to do job `name` for `tenant`, valid until it expires unless renewed."""

    tenant: str
    name: str
    holder: str = field(default_factory=default_holder)
    seconds: float = LEASE_SECONDS

    def _expiry(self, now: datetime, fraction: float = 1.0) -> str:
        return format_timestamp(now + timedelta(seconds=self.seconds * fraction))

    def current(self, connection: Connection) -> tuple[str, str] | None:
        """(holder, expires_at) of the lease row, None if nobody holds or ever took it."""
        rows = connection.execute(
            "SELECT holder, expires_at FROM tenant_leases WHERE tenant = ? AND name = ?",
            (self.tenant, self.name),
        )
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def acquire(self, connection: Connection) -> None:
        """Take or renew the lease; raise LeaseHeld while another live holder has it."""
        now = datetime.now(UTC)
        current = self.current(connection)
        if current and current[0] == self.holder and current[1] > self._expiry(now, 0.5):
            return  # still comfortably ours: no write on every idle poll
        with connection.transaction():
            connection.execute(
                _TAKE,
                (self.tenant, self.name, self.holder, self._expiry(now), format_timestamp(now)),
            )
            current = self.current(connection)
        if current is None or current[0] != self.holder:
            holder, expires_at = current or ("nobody", "-")
            raise LeaseHeld(self, holder, expires_at)

    def try_acquire(self, connection: Connection) -> bool:
        """Take or renew the lease; False (nothing raised) while another holder has it."""
        try:
            self.acquire(connection)
        except LeaseHeld:
            return False
        return True

    def fence(self, connection: Connection) -> None:
        """Inside a transaction: renew the lease, or raise LeaseLost if another took it."""
        connection.execute(
            "UPDATE tenant_leases SET expires_at = ? WHERE tenant = ? AND name = ? AND holder = ?",
            (self._expiry(datetime.now(UTC)), self.tenant, self.name, self.holder),
        )
        current = self.current(connection)
        if current is None or current[0] != self.holder:
            raise LeaseLost(
                f"{self.name} of tenant {self.tenant!r}: the lease passed to "
                f"{current and current[0]}"
            )

    def release(self, connection: Connection) -> None:
        """Give the lease up, so another process need not wait for it to expire."""
        connection.execute(
            "DELETE FROM tenant_leases WHERE tenant = ? AND name = ? AND holder = ?",
            (self.tenant, self.name, self.holder),
        )


def release_all(connection: Connection, name: str, holder: str) -> None:
    """Give up every tenant's `name` lease this holder has (a worker shutting down)."""
    connection.execute("DELETE FROM tenant_leases WHERE name = ? AND holder = ?", (name, holder))
