"""Feeds member projections from the ledger and stores their read-model rows.

The incremental path (inside the append transaction) and `rebuild` both go through here; the
tracking position is written in the same transaction as the rows it covers.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable

from services.ledger.db import Connection, Database
from services.ledger.reader import (
    EVENT_COLUMNS,
    load_members,
    tenant_wide_events,
    to_event,
)
from services.ledger.recorder import lock_heads
from services.ledger.schema import PROJECTION_NAME, READ_MODEL_TABLES
from services.projections.core.facts import LedgerEvent
from services.projections.core.member import MemberProjection
from services.projections.core.serialize import MemberRows, flags_from_json, member_rows


def replay(member_id: str, events: Iterable[LedgerEvent]) -> MemberProjection:
    """The member after every event: what rebuild and known_at compute.

    The fast way folds the facts and computes each key once. That is exact whenever no key ends
    negative: a flag lives only while its key is negative. Otherwise the events are stepped one by
    one, so each flag names the event that began the key's last negative run (2.7).
    """
    events = list(events)
    projection = MemberProjection.empty(member_id)
    for event in events:
        projection.fold(event)
    if not any(projection.key_result(key).negative for key in projection.facts.key_ids()):
        return projection
    projection = MemberProjection.empty(member_id)
    for event in events:
        projection.step(event)
    return projection


PRELOAD_CHUNK = 500  # members per query: bounds the parameter list


def restore_flags(
    connection: Connection, tenant: str, projections: dict[str, MemberProjection]
) -> None:
    """Put the stored negative-accrual flags back on projections folded from the ledger."""
    names = sorted(projections)
    for start in range(0, len(names), PRELOAD_CHUNK):
        chunk = names[start : start + PRELOAD_CHUNK]
        marks = ", ".join("?" for _ in chunk)
        for member, text in connection.execute(
            "SELECT member_id, flags FROM member_views "
            f"WHERE tenant = ? AND member_id IN ({marks})",
            (tenant, *chunk),
        ):
            projections[member].flags = flags_from_json(text)


def resume_many(
    connection: Connection, tenant: str, member_ids: list[str]
) -> dict[str, MemberProjection]:
    """Several members' projections as stored: facts from the ledger, flags from the read model."""
    loaded = load_members(connection, tenant, member_ids)
    restore_flags(connection, tenant, loaded)
    return loaded


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
    connection.insert_rows(
        "member_views",
        ("tenant", "member_id", "position", "flags"),
        [(tenant, rows.member_id, rows.position, rows.flags) for rows in members],
    )
    connection.insert_rows(
        "accumulation_views",
        ("tenant", "member_id", "authorization_number", "service_code", "accumulates", "body"),
        [(tenant, rows.member_id, *key) for rows in members for key in rows.keys],
    )
    connection.insert_rows(
        "visit_views",
        ("tenant", "visit_id", "member_id", "body"),
        [
            (tenant, visit_id, rows.member_id, body)
            for rows in members
            for visit_id, body in rows.visits
        ],
    )


def upsert_members(connection: Connection, tenant: str, members: list[MemberRows]) -> None:
    """Write the rows a batch changed (the incremental path); rows never disappear."""
    connection.executemany(
        "INSERT INTO member_views (tenant, member_id, position, flags) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (tenant, member_id) DO UPDATE "
        "SET position = excluded.position, flags = excluded.flags",
        [(tenant, rows.member_id, rows.position, rows.flags) for rows in members],
    )
    connection.executemany(
        "INSERT INTO accumulation_views (tenant, member_id, authorization_number, service_code, "
        "accumulates, body) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (tenant, member_id, authorization_number, service_code) DO UPDATE "
        "SET accumulates = excluded.accumulates, body = excluded.body",
        [(tenant, rows.member_id, *key) for rows in members for key in rows.keys],
    )
    connection.executemany(
        "INSERT INTO visit_views (tenant, visit_id, member_id, body) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (tenant, visit_id) DO UPDATE "
        "SET member_id = excluded.member_id, body = excluded.body",
        [
            (tenant, visit_id, rows.member_id, body)
            for rows in members
            for visit_id, body in rows.visits
        ],
    )


def read_member(connection: Connection, tenant: str, member_id: str) -> MemberRows | None:
    """The member's stored rows, in the same form `member_rows` produces."""
    return read_members(connection, tenant, [member_id]).get(member_id)


def set_tracking(connection: Connection, tenant: str, position: int) -> None:
    """The tenant's last ledger position the read models reflect (with the rows, one commit)."""
    connection.execute(
        "INSERT INTO projection_tracking (tenant, name, position) VALUES (?, ?, ?) "
        "ON CONFLICT (tenant, name) DO UPDATE SET position = excluded.position",
        (tenant, PROJECTION_NAME, position),
    )


def track_heads(connection: Connection, tenant: str | None = None) -> None:
    """Set the tracking of every tenant (or one) to its ledger head: after a full rebuild."""
    sql = "SELECT tenant, position FROM ledger_heads"
    params: tuple[str, ...] = ()
    if tenant is not None:
        sql += " WHERE tenant = ?"
        params = (tenant,)
    for name, position in connection.execute(sql, params):
        set_tracking(connection, name, int(position))


def members_of(connection: Connection, tenant: str | None) -> list[tuple[str, str]]:
    """Every (tenant, member) with events in the ledger, optionally of one tenant."""
    sql = "SELECT DISTINCT tenant, member_id FROM ledger_events WHERE member_id IS NOT NULL"
    params: tuple[str, ...] = ()
    if tenant is not None:
        sql += " AND tenant = ?"
        params = (tenant,)
    return [(row[0], row[1]) for row in connection.execute(sql + " ORDER BY 1, 2", params)]


Progress = Callable[[int], None]
RECALCULATE_CHUNK = 500  # members per transaction: bounds memory and the time writers wait


def recalculate(
    connection: Connection,
    tenant: str | None = None,
    member_id: str | None = None,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Replay members from the ledger, replace rows that differ; returns (checked, corrected).

    Members go in chunks, each in one transaction holding its tenants' heads, so a batch of those
    tenants recorded meanwhile waits for the chunk instead of being overwritten by an older
    replay; other tenants' writers never wait. The events are
    read per chunk from the member index: memory stays bounded by the chunk, not the ledger.
    """
    members = [(tenant, member_id)] if tenant and member_id else members_of(connection, tenant)
    checked = corrected = 0
    for start in range(0, len(members), RECALCULATE_CHUNK):
        chunk = members[start : start + RECALCULATE_CHUNK]
        by_tenant: dict[str, list[str]] = {}
        for member_tenant, member in chunk:
            assert member_tenant is not None and member is not None
            by_tenant.setdefault(member_tenant, []).append(member)
        with connection.transaction(write=True):
            lock_heads(connection, by_tenant, shared=True)
            for member_tenant, names in by_tenant.items():
                corrected += _recalculate_members(connection, member_tenant, names)
        checked += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return checked, corrected


def recalculate_members(
    connection: Connection, tenant: str, member_ids: list[str], progress: Progress | None = None
) -> int:
    """Replay the given members of one tenant (after an import), chunk by chunk; then the
    tenant's tracking is its head. Returns the number of members whose rows changed."""
    corrected = 0
    for start in range(0, len(member_ids), RECALCULATE_CHUNK):
        chunk = member_ids[start : start + RECALCULATE_CHUNK]
        with connection.transaction(write=True):
            lock_heads(connection, [tenant], shared=True)
            corrected += _recalculate_members(connection, tenant, chunk)
        if progress is not None:
            progress(len(chunk))
    with connection.transaction(write=True):
        lock_heads(connection, [tenant], shared=True)
        track_heads(connection, tenant)
    return corrected


def recalculate_in_parallel(
    url: str, tenant: str | None, workers: int, progress: Progress | None = None
) -> tuple[int, int]:
    """`recalculate` of whole tenants by several processes (PostgreSQL), one chunk per task.

    Each chunk's transaction takes its tenants' heads in SHARE mode: chunks run side by side
    while a batch of those tenants being recorded (FOR UPDATE) waits, so no older replay
    overwrites a newer row.
    """
    import multiprocessing

    connection = Database(url).connect()
    try:
        members = members_of(connection, tenant)
    finally:
        connection.close()
    # several chunks per worker, so the workers finish together
    size = max(1, min(RECALCULATE_CHUNK, len(members) // (workers * 4)))
    chunks = [members[start : start + size] for start in range(0, len(members), size)]
    checked = corrected = 0
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_open_worker, initargs=(url,)) as pool:
        for done, fixed in pool.imap_unordered(_recalculate_chunk, chunks):
            checked += done
            corrected += fixed
            if progress is not None:
                progress(done)
    return checked, corrected


_worker_connection: Connection | None = None


def _open_worker(url: str) -> None:
    global _worker_connection
    _worker_connection = Database(url).connect()


def _recalculate_chunk(chunk: list[tuple[str, str]]) -> tuple[int, int]:
    connection = _worker_connection
    assert connection is not None, "the pool initializer opens the connection"
    by_tenant: dict[str, list[str]] = {}
    for member_tenant, member in chunk:
        by_tenant.setdefault(member_tenant, []).append(member)
    corrected = 0
    with connection.transaction():
        lock_heads(connection, by_tenant, shared=True)
        for member_tenant, names in by_tenant.items():
            corrected += _recalculate_members(connection, member_tenant, names)
    return len(chunk), corrected


def _recalculate_members(connection: Connection, tenant: str, member_ids: list[str]) -> int:
    tenant_wide = tenant_wide_events(connection, tenant)
    own: dict[str, list[LedgerEvent]] = {member: [] for member in member_ids}
    marks = ", ".join("?" for _ in member_ids)
    for row in connection.execute(
        f"SELECT member_id, {EVENT_COLUMNS} FROM ledger_events "
        f"WHERE tenant = ? AND member_id IN ({marks}) ORDER BY position",
        (tenant, *member_ids),
    ):
        own[row[0]].append(to_event(row[1:]))
    stored = read_members(connection, tenant, member_ids)
    fresh = [
        member_rows(replay(member, heapq.merge(own[member], tenant_wide, key=lambda e: e.position)))
        for member in member_ids
    ]
    differing = [rows for rows in fresh if stored.get(rows.member_id) != rows]
    write_members(connection, tenant, differing)
    return len(differing)


def read_members(
    connection: Connection, tenant: str, member_ids: list[str]
) -> dict[str, MemberRows]:
    """Several members' stored rows with three queries."""
    marks = ", ".join("?" for _ in member_ids)
    views = connection.execute(
        f"SELECT member_id, position, flags FROM member_views "
        f"WHERE tenant = ? AND member_id IN ({marks})",
        (tenant, *member_ids),
    )
    keys: dict[str, list[tuple[str, str, int, str]]] = {member: [] for member in member_ids}
    for row in connection.execute(
        "SELECT member_id, authorization_number, service_code, accumulates, body "
        f"FROM accumulation_views WHERE tenant = ? AND member_id IN ({marks})",
        (tenant, *member_ids),
    ):
        keys[row[0]].append((row[1], row[2], int(row[3]), row[4]))
    visits: dict[str, list[tuple[str, str]]] = {member: [] for member in member_ids}
    for row in connection.execute(
        f"SELECT member_id, visit_id, body FROM visit_views "
        f"WHERE tenant = ? AND member_id IN ({marks})",
        (tenant, *member_ids),
    ):
        visits[row[0]].append((row[1], row[2]))
    return {
        member: MemberRows(
            member,
            int(position),
            flags,
            tuple(sorted(keys[member], key=lambda k: (k[0], k[1]))),
            tuple(sorted(visits[member])),
        )
        for member, position, flags in views
    }


def truncate_read_models(connection: Connection, tenant: str | None = None) -> None:
    """Empty the read models and tracking, of one tenant or of all."""
    for table in READ_MODEL_TABLES:
        if tenant is None:
            connection.execute(f"DELETE FROM {table}")
        else:
            connection.execute(f"DELETE FROM {table} WHERE tenant = ?", (tenant,))
