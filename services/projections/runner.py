"""Feeds member projections from the ledger and stores their read-model rows.

The incremental path (inside the append transaction) and `rebuild` both go through here; the
tracking position is written in the same transaction as the rows it covers.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from services.ledger.db import Connection, Row
from services.ledger.schema import PROJECTION_NAME, READ_MODEL_TABLES
from services.projections.facts import LedgerEvent
from services.projections.member import MemberProjection
from services.projections.serialize import MemberRows, flags_from_json, member_rows

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_EVENT_COLUMNS = "position, event_id, type, data, recorded_at"


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)


def to_event(row: Row) -> LedgerEvent:
    position, event_id, event_type, data, recorded_at = row
    return LedgerEvent(
        int(position), event_id, event_type, json.loads(data), parse_timestamp(recorded_at)
    )


def member_events(
    connection: Connection, tenant: str, member_id: str, known_at: datetime | None = None
) -> list[LedgerEvent]:
    """The member's own events merged, in ledger order, with the tenant-wide ones (settings)."""
    cutoff = format_timestamp(known_at) if known_at else "9999"
    own = connection.execute(
        f"SELECT {_EVENT_COLUMNS} FROM ledger_events WHERE tenant = ? AND member_id = ? "
        "AND recorded_at <= ? ORDER BY position",
        (tenant, member_id, cutoff),
    )
    tenant_wide = connection.execute(
        f"SELECT {_EVENT_COLUMNS} FROM ledger_events WHERE tenant = ? AND member_id IS NULL "
        "AND recorded_at <= ? ORDER BY position",
        (tenant, cutoff),
    )
    return [to_event(row) for row in heapq.merge(own, tenant_wide, key=lambda row: int(row[0]))]


def replay(member_id: str, events: Iterable[LedgerEvent]) -> MemberProjection:
    """A member projection stepped through every event: what rebuild and known_at compute."""
    projection = MemberProjection.empty(member_id)
    for event in events:
        projection.step(event)
    return projection


def resume(connection: Connection, tenant: str, member_id: str) -> MemberProjection:
    """The member's projection as stored: facts from the ledger, flags from the read model."""
    return resume_many(connection, tenant, [member_id])[member_id]


PRELOAD_CHUNK = 500  # members per query: bounds the parameter list


def resume_many(
    connection: Connection, tenant: str, member_ids: list[str]
) -> dict[str, MemberProjection]:
    """Several members' stored projections with three queries per chunk of members."""
    tenant_wide = [
        to_event(row)
        for row in connection.execute(
            f"SELECT {_EVENT_COLUMNS} FROM ledger_events WHERE tenant = ? AND member_id IS NULL "
            "ORDER BY position",
            (tenant,),
        )
    ]
    own: dict[str, list[LedgerEvent]] = {member: [] for member in member_ids}
    flags: dict[str, str] = {}
    for start in range(0, len(member_ids), PRELOAD_CHUNK):
        chunk = member_ids[start : start + PRELOAD_CHUNK]
        marks = ", ".join("?" for _ in chunk)
        for row in connection.execute(
            f"SELECT member_id, {_EVENT_COLUMNS} FROM ledger_events "
            f"WHERE tenant = ? AND member_id IN ({marks}) ORDER BY position",
            (tenant, *chunk),
        ):
            own[row[0]].append(to_event(row[1:]))
        for member, text in connection.execute(
            "SELECT member_id, flags FROM member_views "
            f"WHERE tenant = ? AND member_id IN ({marks})",
            (tenant, *chunk),
        ):
            flags[member] = text
    return {
        member: _folded(member, own[member], tenant_wide, flags.get(member))
        for member in member_ids
    }


def _folded(
    member_id: str,
    own: list[LedgerEvent],
    tenant_wide: list[LedgerEvent],
    flags: str | None,
) -> MemberProjection:
    projection = MemberProjection.empty(member_id)
    for event in heapq.merge(own, tenant_wide, key=lambda e: e.position):
        projection.facts.apply(event)
        projection.position = event.position
        if event.type != "payer.settings_changed":
            projection.member_position = event.position
    if flags is not None:
        projection.flags = flags_from_json(flags)
    return projection


def write_member(connection: Connection, tenant: str, rows: MemberRows) -> None:
    """Replace one member's read-model rows."""
    write_members(connection, tenant, [rows])


DELETE_CHUNK = 500  # members per DELETE statement: bounds the parameter list


def write_members(connection: Connection, tenant: str, members: list[MemberRows]) -> None:
    """Replace the read-model rows of several members with a few statements."""
    names = [rows.member_id for rows in members]
    for start in range(0, len(names), DELETE_CHUNK):
        chunk = names[start : start + DELETE_CHUNK]
        marks = ", ".join("?" for _ in chunk)
        for table in ("accumulation_views", "visit_views", "member_views"):
            connection.execute(
                f"DELETE FROM {table} WHERE tenant = ? AND member_id IN ({marks})", (tenant, *chunk)
            )
    connection.executemany(
        "INSERT INTO member_views (tenant, member_id, position, flags) VALUES (?, ?, ?, ?)",
        [(tenant, rows.member_id, rows.position, rows.flags) for rows in members],
    )
    connection.executemany(
        "INSERT INTO accumulation_views (tenant, member_id, authorization_number, service_code, "
        "accumulates, body) VALUES (?, ?, ?, ?, ?, ?)",
        [(tenant, rows.member_id, *key) for rows in members for key in rows.keys],
    )
    connection.executemany(
        "INSERT INTO visit_views (tenant, visit_id, member_id, body) VALUES (?, ?, ?, ?)",
        [
            (tenant, visit_id, rows.member_id, body)
            for rows in members
            for visit_id, body in rows.visits
        ],
    )


def read_member(connection: Connection, tenant: str, member_id: str) -> MemberRows | None:
    """The member's stored rows, in the same form `member_rows` produces."""
    views = connection.execute(
        "SELECT position, flags FROM member_views WHERE tenant = ? AND member_id = ?",
        (tenant, member_id),
    )
    if not views:
        return None
    keys = connection.execute(
        "SELECT authorization_number, service_code, accumulates, body FROM accumulation_views "
        "WHERE tenant = ? AND member_id = ? ORDER BY authorization_number, service_code",
        (tenant, member_id),
    )
    visits = connection.execute(
        "SELECT visit_id, body FROM visit_views WHERE tenant = ? AND member_id = ? "
        "ORDER BY visit_id",
        (tenant, member_id),
    )
    return MemberRows(
        member_id,
        int(views[0][0]),
        views[0][1],
        tuple((k[0], k[1], int(k[2]), k[3]) for k in keys),
        tuple((v[0], v[1]) for v in visits),
    )


def set_tracking(connection: Connection, position: int) -> None:
    updated = connection.execute(
        "UPDATE projection_tracking SET position = ? WHERE name = ? RETURNING position",
        (position, PROJECTION_NAME),
    )
    if not updated:
        connection.execute(
            "INSERT INTO projection_tracking (name, position) VALUES (?, ?)",
            (PROJECTION_NAME, position),
        )


def members_of(connection: Connection, tenant: str | None) -> list[tuple[str, str]]:
    """Every (tenant, member) with events in the ledger, optionally of one tenant."""
    sql = "SELECT DISTINCT tenant, member_id FROM ledger_events WHERE member_id IS NOT NULL"
    params: tuple[str, ...] = ()
    if tenant is not None:
        sql += " AND tenant = ?"
        params = (tenant,)
    return [(row[0], row[1]) for row in connection.execute(sql + " ORDER BY 1, 2", params)]


Progress = Callable[[int], None]


def recalculate(
    connection: Connection,
    tenant: str | None = None,
    member_id: str | None = None,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Replay members from the ledger, replace their rows; returns (checked, corrected)."""
    members = [(tenant, member_id)] if tenant and member_id else members_of(connection, tenant)
    corrected = 0
    for member_tenant, member in members:
        assert member_tenant is not None and member is not None
        with connection.transaction(lock_ledger=True):
            fresh = member_rows(replay(member, member_events(connection, member_tenant, member)))
            if read_member(connection, member_tenant, member) != fresh:
                corrected += 1
                write_member(connection, member_tenant, fresh)
        if progress is not None:
            progress(1)
    return len(members), corrected


def truncate_read_models(connection: Connection) -> None:
    for table in READ_MODEL_TABLES:
        connection.execute(f"DELETE FROM {table}")
