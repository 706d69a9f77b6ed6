"""Reading the ledger's events back as `LedgerEvent`s: a member's, the tenant-wide ones."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime

import orjson

from services.ledger.codec import format_timestamp, parse_timestamp
from services.ledger.db import Connection, Row
from services.projections.core.facts import LedgerEvent
from services.projections.core.member import MemberProjection

EVENT_COLUMNS = "position, event_id, type, data, recorded_at"
MEMBERS_PER_QUERY = 500  # bounds the parameter list


def to_event(row: Row) -> LedgerEvent:
    position, event_id, event_type, data, recorded_at = row
    return LedgerEvent(
        int(position), event_id, event_type, orjson.loads(data), parse_timestamp(recorded_at)
    )


def member_events(
    connection: Connection, tenant: str, member_id: str, known_at: datetime | None = None
) -> list[LedgerEvent]:
    """The member's own events merged, in ledger order, with the tenant-wide ones (settings)."""
    cutoff = format_timestamp(known_at) if known_at else "9999"
    own = connection.execute(
        f"SELECT {EVENT_COLUMNS} FROM ledger_events WHERE tenant = ? AND member_id = ? "
        "AND recorded_at <= ? ORDER BY position",
        (tenant, member_id, cutoff),
    )
    tenant_wide = connection.execute(
        f"SELECT {EVENT_COLUMNS} FROM ledger_events WHERE tenant = ? AND member_id IS NULL "
        "AND recorded_at <= ? ORDER BY position",
        (tenant, cutoff),
    )
    return [to_event(row) for row in heapq.merge(own, tenant_wide, key=lambda row: int(row[0]))]


def tenant_wide_events(connection: Connection, tenant: str) -> list[LedgerEvent]:
    """The tenant's events that belong to no member (payer settings), in ledger order."""
    return [
        to_event(row)
        for row in connection.execute(
            f"SELECT {EVENT_COLUMNS} FROM ledger_events WHERE tenant = ? AND member_id IS NULL "
            "ORDER BY position",
            (tenant,),
        )
    ]


def events_of_members(
    connection: Connection, tenant: str, member_ids: list[str]
) -> Iterator[tuple[str, LedgerEvent]]:
    """(member, event) of the members' own events, in ledger order per member."""
    for start in range(0, len(member_ids), MEMBERS_PER_QUERY):
        chunk = member_ids[start : start + MEMBERS_PER_QUERY]
        marks = ", ".join("?" for _ in chunk)
        for row in connection.execute(
            f"SELECT member_id, {EVENT_COLUMNS} FROM ledger_events "
            f"WHERE tenant = ? AND member_id IN ({marks}) ORDER BY position",
            (tenant, *chunk),
        ):
            yield row[0], to_event(row[1:])


def events_between(
    connection: Connection, tenant: str, after: int, through: int, bound: int
) -> list[tuple[str | None, LedgerEvent]] | None:
    """(member, event) of the tenant's events after `after` up to `through`, in ledger order;
    None when there are more than `bound` of them."""
    if through - after > bound:  # positions are gap-free per tenant
        return None
    rows = connection.execute(
        f"SELECT member_id, {EVENT_COLUMNS} FROM ledger_events "
        "WHERE tenant = ? AND position > ? AND position <= ? ORDER BY position",
        (tenant, after, through),
    )
    return [(row[0], to_event(row[1:])) for row in rows]


def load_members(
    connection: Connection, tenant: str, member_ids: list[str]
) -> dict[str, MemberProjection]:
    """The members' facts folded from the ledger (with the tenant-wide events), ready to step."""
    tenant_wide = tenant_wide_events(connection, tenant)
    own: dict[str, list[LedgerEvent]] = {member: [] for member in member_ids}
    for member, event in events_of_members(connection, tenant, member_ids):
        own[member].append(event)
    loaded: dict[str, MemberProjection] = {}
    for member in member_ids:
        projection = MemberProjection.empty(member, track_changes=True)
        for event in heapq.merge(own[member], tenant_wide, key=lambda e: e.position):
            projection.fold(event)
        loaded[member] = projection
    return loaded
