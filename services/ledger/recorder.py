"""A tenant's ledger as an `eventsourcing` DCB recorder: tagged events, positions from 1.

Each tenant has a head row (`ledger_heads`) holding its last position and recorded time. A
writer locks the heads of the tenants it writes (`FOR UPDATE`, in tenant order) and assigns
positions from them in the same transaction that inserts the events: a tenant's positions are
gap-free, commit in order (a reader following them never misses a late commit), and two tenants'
writers never wait for each other. A rebuild takes its tenants' heads `FOR SHARE`: rebuild chunks
run side by side while that tenant's writers wait, and no other tenant notices.

`LedgerRecorder` implements the library's `DCBRecorder` (read, append with a condition,
subscribe) over these tables, and the library's own `DCBRecorderTestCase` runs against it on
both stores. The service's write path (`append.py`) uses the same pieces inside its group commit.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.dcb.api import (
    DCBAppendCondition,
    DCBEvent,
    DCBQuery,
    DCBReadResponse,
    DCBRecorder,
    DCBSequencedEvent,
    DCBSubscription,
)
from eventsourcing.dcb.popo import SimpleDCBReadResponse
from eventsourcing.persistence import IntegrityError

from services.ledger.codec import format_timestamp, parse_timestamp
from services.ledger.db import Connection, Database
from services.ledger.tags import member_of_tags

SUBSCRIBE_POLL_SECONDS = 0.05
READ_PAGE = 1_000  # events a subscription reads per query


@dataclass(frozen=True)
class Head:
    """A tenant's last position and the time it was recorded (None before the first event)."""

    position: int
    recorded_at: datetime | None

    def next_time(self, now: datetime) -> datetime:
        """When the next events are recorded: now, but never before the tenant's last event."""
        if self.recorded_at is None:
            return now
        return max(now, self.recorded_at + timedelta(microseconds=1))


@dataclass(frozen=True)
class StoredEvent:
    """One ledger row: what the event is, what it concerns, and where and when it stands."""

    position: int
    event_id: str
    type: str
    member_id: str | None
    payer_id: str | None
    data: str  # normalized JSON
    body_hash: str
    recorded_at: datetime
    tags: tuple[str, ...]


def lock_heads(
    connection: Connection,
    tenants: Iterable[str],
    *,
    shared: bool = False,
    skip_locked: bool = False,
) -> dict[str, Head]:
    """Lock the tenants' heads (in tenant order: no two writers deadlock) and read them.

    `skip_locked`: take only the heads nobody else holds, without waiting (PostgreSQL); the
    answer leaves the others out."""
    heads: dict[str, Head] = {}
    suffix = ""
    if connection.dialect == "postgres":
        suffix = " FOR SHARE" if shared else " FOR UPDATE"
        suffix += " SKIP LOCKED" if skip_locked else ""
    select = f"SELECT position, recorded_at FROM ledger_heads WHERE tenant = ?{suffix}"
    for tenant in sorted(set(tenants)):
        rows = connection.execute(select, (tenant,))
        if (
            not rows
            and skip_locked
            and connection.execute("SELECT 1 FROM ledger_heads WHERE tenant = ?", (tenant,))
        ):
            continue  # held by another transaction
        if not rows:  # the tenant's first write: make its row, then lock it like any other
            connection.execute(
                "INSERT INTO ledger_heads (tenant, position, recorded_at) VALUES (?, 0, '') "
                "ON CONFLICT (tenant) DO NOTHING",
                (tenant,),
            )
            rows = connection.execute(select, (tenant,))
            if not rows:
                continue  # another writer made it and holds it (skip_locked only)
        position, recorded_at = rows[0]
        heads[tenant] = Head(int(position), parse_timestamp(recorded_at) if recorded_at else None)
    return heads


def set_head(connection: Connection, tenant: str, head: Head) -> None:
    assert head.recorded_at is not None, "a head moves only with an event"
    connection.execute(
        "UPDATE ledger_heads SET position = ?, recorded_at = ? WHERE tenant = ?",
        (head.position, format_timestamp(head.recorded_at), tenant),
    )


def insert_events(connection: Connection, tenant: str, events: Sequence[StoredEvent]) -> None:
    """The events and their tag rows (the caller holds the tenant's head and moves it)."""
    connection.insert_rows(
        "ledger_events",
        (
            "tenant", "position", "event_id", "type", "member_id", "payer_id", "data",
            "body_hash", "recorded_at", "tags",
        ),
        [
            (
                tenant, e.position, e.event_id, e.type, e.member_id, e.payer_id, e.data,
                e.body_hash, format_timestamp(e.recorded_at), json.dumps(list(e.tags)),
            )
            for e in events
        ],
    )  # fmt: skip
    connection.insert_rows(
        "ledger_tags",
        ("tenant", "tag", "position"),
        [(tenant, tag, e.position) for e in events for tag in sorted(set(e.tags))],
    )


def tagged(connection: Connection, tenant: str, tags: list[str]) -> tuple[str, list[Any]]:
    """`FROM` clause of the tag rows `t` with any of the tags, joined to their events `e`.

    On PostgreSQL each tag probes the primary key through a lateral join: the planner cannot
    start from the tenant's events instead, which it did on a freshly grown, not yet analyzed
    ledger (3.5 s for 1,000 tags instead of 2 ms); OFFSET 0 keeps the subquery from being flattened
    back into that plan. SQLite takes the IN list on the same key."""
    join = "JOIN ledger_events e ON e.tenant = t.tenant AND e.position = t.position"
    if connection.dialect == "postgres":
        return (
            "unnest(?::text[]) AS wanted(tag) CROSS JOIN LATERAL (SELECT tenant, tag, position "
            "FROM ledger_tags WHERE tenant = ? AND tag = wanted.tag OFFSET 0) AS t "
            f"{join}",
            [tags, tenant],
        )
    marks = ", ".join("?" for _ in tags)
    return f"ledger_tags t {join} WHERE t.tenant = ? AND t.tag IN ({marks})", [tenant, *tags]


def query_sql(query: DCBQuery | None, after: int) -> tuple[str, list[Any]]:
    """` AND (...)` selecting the events (alias `e`) that match any item of the query.

    An event matches an item when its type is one of the item's types (or the item names none)
    and it carries every tag of the item. No items: every event matches.
    """
    if query is None or not query.items:
        return "", []
    clauses: list[str] = []
    params: list[Any] = []
    for item in query.items:
        parts: list[str] = []
        if item.types:
            parts.append(f"e.type IN ({', '.join('?' for _ in item.types)})")
            params += item.types
        tags = sorted(set(item.tags))
        if tags:
            joins = "".join(
                f" JOIN ledger_tags t{i} ON t{i}.tenant = t0.tenant "
                f"AND t{i}.position = t0.position AND t{i}.tag = ?"
                for i in range(1, len(tags))
            )
            parts.append(
                f"e.position IN (SELECT t0.position FROM ledger_tags t0{joins} "
                "WHERE t0.tenant = e.tenant AND t0.tag = ? AND t0.position > ?)"
            )
            params += [*tags[1:], tags[0], after]
        clauses.append("(" + " AND ".join(parts) + ")" if parts else "1 = 1")
    return " AND (" + " OR ".join(clauses) + ")", params


def any_match_after(connection: Connection, tenant: str, query: DCBQuery, after: int) -> bool:
    """Whether an event recorded after `after` matches the query: a failed append condition."""
    match, params = query_sql(query, after)
    rows = connection.execute(
        f"SELECT 1 FROM ledger_events e WHERE e.tenant = ? AND e.position > ?{match} LIMIT 1",
        (tenant, after, *params),
    )
    return bool(rows)


def read_rows(
    connection: Connection, tenant: str, query: DCBQuery | None, after: int, limit: int | None
) -> list[tuple[Any, ...]]:
    """(position, event_id, type, data, recorded_at, tags) of the matching events after `after`."""
    match, params = query_sql(query, after)
    sql = (
        "SELECT e.position, e.event_id, e.type, e.data, e.recorded_at, e.tags "
        f"FROM ledger_events e WHERE e.tenant = ? AND e.position > ?{match} ORDER BY e.position"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return connection.execute(sql, (tenant, after, *params))


def raw_body_hash(event_type: str, data: str) -> str:
    """The id-reuse check of an event appended through the DCB interface (opaque data)."""
    return hashlib.sha256(f"{event_type}\n{data}".encode()).hexdigest()


class LedgerRecorder(DCBRecorder):
    """One tenant's ledger through the library's DCB interface.

    `append` stores the events as given (a fresh id each, the member read from a `member:` tag):
    it is the storage interface, below the rules. The service records through `Ledger`, which
    validates, routes and projects, and writes with the same functions.
    """

    def __init__(self, database: Database, tenant: str) -> None:
        self.database = database
        self.tenant = tenant

    def read(
        self, query: DCBQuery | None = None, *, after: int | None = None, limit: int | None = None
    ) -> DCBReadResponse:
        connection = self.database.thread_connection()
        if limit is not None and limit <= 0:
            return SimpleDCBReadResponse(iter([]), None)
        rows = read_rows(connection, self.tenant, query, after or 0, limit)
        events = [_sequenced(row) for row in rows]
        if limit is None:
            found = connection.execute(
                "SELECT position FROM ledger_heads WHERE tenant = ?", (self.tenant,)
            )
            head = int(found[0][0]) if found and int(found[0][0]) > 0 else None
        else:
            head = events[-1].position if events else None
        return SimpleDCBReadResponse(iter(events), head)

    def append(
        self, events: Sequence[DCBEvent], condition: DCBAppendCondition | None = None
    ) -> int:
        assert events, "append at least one event"
        connection = self.database.thread_connection()
        with connection.transaction(write=True):
            head = lock_heads(connection, [self.tenant])[self.tenant]
            if condition is not None and any_match_after(
                connection, self.tenant, condition.fail_if_events_match, condition.after or 0
            ):
                raise IntegrityError("an event matching the append condition was recorded")
            now = head.next_time(datetime.now(UTC))
            stored = [
                StoredEvent(
                    head.position + number,
                    str(uuid.uuid4()),
                    event.type,
                    member_of_tags(event.tags),
                    None,
                    event.data.decode(),
                    raw_body_hash(event.type, event.data.decode()),
                    now,
                    tuple(event.tags),
                )
                for number, event in enumerate(events, start=1)
            ]
            insert_events(connection, self.tenant, stored)
            set_head(connection, self.tenant, Head(stored[-1].position, now))
        return stored[-1].position

    def subscribe(
        self, query: DCBQuery | None = None, *, after: int | None = None
    ) -> DCBSubscription[LedgerRecorder]:
        return PollingSubscription(self, query, after)


def _sequenced(row: tuple[Any, ...]) -> DCBSequencedEvent:
    position, _, event_type, data, _, tags = row
    return DCBSequencedEvent(DCBEvent(event_type, data.encode(), json.loads(tags)), int(position))


class PollingSubscription(DCBSubscription[LedgerRecorder]):
    """Follows the tenant's positions by polling: it cannot miss a late commit, because a
    tenant's events commit in position order."""

    def __init__(self, recorder: LedgerRecorder, query: DCBQuery | None, after: int | None) -> None:
        super().__init__(recorder, query, after)
        self._buffer: list[DCBSequencedEvent] = []
        self._stopped = threading.Event()

    def stop(self) -> None:
        super().stop()
        self._stopped.set()

    def __next__(self) -> DCBSequencedEvent:
        while not self._buffer:
            if self._stopped.is_set():
                raise StopIteration
            rows = read_rows(
                self._recorder.database.thread_connection(),
                self._recorder.tenant,
                self._query,
                self._last_position,
                READ_PAGE,
            )
            self._buffer = [_sequenced(row) for row in rows]
            if not self._buffer:
                self._stopped.wait(SUBSCRIBE_POLL_SECONDS)
        event = self._buffer.pop(0)
        self._last_position = event.position
        return event
