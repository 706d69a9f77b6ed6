"""The relay's checkpoints in the database: how far each tenant's events were published.

`relay_checkpoints` keeps, per tenant and relay name (= stream), the last sequence JetStream
acknowledged. Relays of the same name share the tenants through leases per tenant
(services/ledger/leases.py): a tenant's events are published by one relay at a time, and every
checkpoint is fenced on still holding that tenant's lease.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.ledger.db import Connection
from services.ledger.leases import Lease

_ADVANCE = """INSERT INTO relay_checkpoints (tenant, name, sequence) VALUES (?, ?, ?)
    ON CONFLICT (tenant, name) DO UPDATE SET sequence = excluded.sequence
    WHERE relay_checkpoints.sequence < excluded.sequence"""


def checkpoints(connection: Connection, name: str) -> dict[str, int]:
    """Per tenant, the last sequence relay `name` saw acknowledged."""
    rows = connection.execute(
        "SELECT tenant, sequence FROM relay_checkpoints WHERE name = ?", (name,)
    )
    return {str(tenant): int(sequence) for tenant, sequence in rows}


def checkpoint(connection: Connection, tenant: str, name: str) -> int:
    """The last sequence of `tenant` relay `name` saw acknowledged (0: none yet)."""
    rows = connection.execute(
        "SELECT sequence FROM relay_checkpoints WHERE tenant = ? AND name = ?", (tenant, name)
    )
    return int(rows[0][0]) if rows else 0


def save_checkpoint(connection: Connection, lease: Lease, sequence: int) -> None:
    """Record the lease's tenant's events up to `sequence` as acknowledged (never backwards)."""
    with connection.transaction():
        lease.fence(connection)
        connection.execute(_ADVANCE, (lease.tenant, lease.name, sequence))


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
