"""The write side's front door: group commit in one lane per tenant.

Callers queue their batches in their tenant's lane; whoever holds the lane's writer lock takes
every queued batch (up to GROUP_EVENTS events) and records them in one transaction: one head
lock, one set of preload queries and one commit serve many concurrent requests. Each batch stays
all or nothing: a refused batch gets its own error and the group is checked again without it,
before anything is written. Batches are taken in arrival order, so no caller waits behind later
ones.

On PostgreSQL every tenant has a lane and lanes commit in parallel, over a bounded pool of
writer connections: one tenant's import never delays another's front desk. SQLite has one
writer at a time whatever we do, so there all tenants share one lane (and one connection).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from contracts.events import AppendCondition
from services.ledger.append import EventOutcome, Request, record_group
from services.ledger.db import Connection, Database
from services.ledger.member_cache import MemberCache
from services.ledger.ports import Projector
from services.ledger.validation import CandidateEvent

GROUP_EVENTS = 5_000  # events one group commit takes at most (it always takes one request)
WRITER_CONNECTIONS = 8  # PostgreSQL connections the lanes of one process share at most


@dataclass
class _Lane:
    """The queue and writer lock of one tenant (of every tenant, on SQLite)."""

    lock: threading.Lock = field(default_factory=threading.Lock)  # one group at a time
    queue_lock: threading.Lock = field(default_factory=threading.Lock)
    queue: list[Request] = field(default_factory=list)

    def take(self) -> list[Request]:
        with self.queue_lock:
            taken, events = 0, 0
            for request in self.queue:
                if taken and events + len(request.candidates) > GROUP_EVENTS:
                    break
                taken += 1
                events += len(request.candidates)
            group, self.queue = self.queue[:taken], self.queue[taken:]
        return group


class _Connections:
    """A bounded pool of writer connections, opened on demand and reused."""

    def __init__(self, database: Database, size: int) -> None:
        self.database = database
        self._free: list[Connection] = []
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()

    def acquire(self) -> Connection:
        self._slots.acquire()
        with self._lock:
            if self._free:
                return self._free.pop()
        try:
            return self.database.connect()
        except BaseException:
            self._slots.release()
            raise

    def release(self, connection: Connection, broken: bool = False) -> None:
        if broken:
            connection.close()
        else:
            with self._lock:
                self._free.append(connection)
        self._slots.release()


class Ledger:
    """Records batches of validated events, group-committed per tenant."""

    def __init__(self, database: Database, projector: Projector) -> None:
        self.database = database
        self.projector = projector
        self._shared_lane = database.dialect == "sqlite"
        self._lanes: dict[str, _Lane] = {}
        self._lanes_lock = threading.Lock()
        size = 1 if self._shared_lane else WRITER_CONNECTIONS
        self._connections = _Connections(database, size)
        self._cache = MemberCache()
        self.listeners: list[Callable[[], None]] = []  # called after each commit that wrote

    def append(
        self,
        tenant: str,
        candidates: list[CandidateEvent],
        *,
        may_override: bool,
        now: datetime,
        condition: AppendCondition | None = None,
    ) -> list[EventOutcome]:
        request = Request(tenant, candidates, may_override, now, condition)
        lane = self._lane(tenant)
        with lane.queue_lock:
            lane.queue.append(request)
        while request.outcomes is None and request.error is None:
            with lane.lock:
                if request.outcomes is not None or request.error is not None:
                    break
                self._commit(lane.take())
        if request.error is not None:
            raise request.error
        assert request.outcomes is not None
        return request.outcomes

    def _lane(self, tenant: str) -> _Lane:
        key = "" if self._shared_lane else tenant
        with self._lanes_lock:
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = _Lane()
            return lane

    def _commit(self, group: list[Request]) -> None:
        try:
            connection = self._connections.acquire()
        except Exception as error:
            for request in group:
                request.error = error
            return
        broken = False
        try:
            with connection.transaction(write=True):
                accepted, batches = record_group(connection, group, self.projector, self._cache)
        except Exception as error:
            broken = connection.dialect == "postgres" and connection.raw.closed
            for request in group:
                if request.error is None:
                    request.outcomes = None
                    request.error = error
            return
        finally:
            self._connections.release(connection, broken)
        for batch in batches:  # committed: what they hold is what the ledger says
            self._cache.put(batch.tenant, batch.position, batch.members, bool(batch.tenant_wide))
        for request, outcomes in accepted:
            request.outcomes = outcomes
        if any(o.status == "recorded" for _, outcomes in accepted for o in outcomes):
            for listener in self.listeners:
                listener()
