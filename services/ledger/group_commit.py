"""The write side's front door: group commit across tenants, a tenant in one group at a time.

Callers queue their batches; a caller that finds a committer slot free takes every queued batch
it may (up to GROUP_EVENTS events, in arrival order) and records them in one transaction: one
set of preload queries and one commit serve many concurrent requests, of one tenant or of many.
Each batch stays all or nothing: a refused batch gets its own error and the group is checked
again without it, before anything is written.

A tenant is in at most one group at a time in a process, so its batches keep their order. On
PostgreSQL several groups commit side by side (up to WRITER_CONNECTIONS), and a group of several
tenants takes their heads with SKIP LOCKED: a tenant whose head another transaction holds (a
rebuild chunk, another process's group) is put back and then committed in a group of its own,
which waits for the head, so no other tenant waits with it. SQLite has one writer at a time
whatever we do: there one group commits at a time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import datetime

from contracts.events import AppendCondition
from services.ledger.append import EventOutcome, Request, record_group
from services.ledger.availability import database_unavailable
from services.ledger.db import Connection, Database
from services.ledger.errors import InfrastructureError, LedgerError
from services.ledger.member_cache import MemberCache
from services.ledger.ports import Projector
from services.ledger.recorder import lock_heads
from services.ledger.validation import CandidateEvent

GROUP_EVENTS = 5_000  # events one group commit takes at most (it always takes one request)
WRITER_CONNECTIONS = 8  # PostgreSQL groups one process commits side by side at most


class _Connections:
    """A bounded pool of writer connections, opened on demand and reused."""

    def __init__(self, database: Database, size: int) -> None:
        self.database = database
        self._free: list[Connection] = []
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()

    def acquire(self) -> Connection:
        """A free connection the server has not closed meanwhile, else a new one."""
        self._slots.acquire()
        stale: list[Connection] = []
        with self._lock:
            while self._free:
                connection = self._free.pop()
                if not connection.stale():
                    break
                stale.append(connection)
            else:
                connection = None
        for dead in stale:  # after an outage every idle connection is dead: none is tried
            with contextlib.suppress(Exception):
                dead.close()
        if connection is not None:
            return connection
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


def _refused(error: BaseException | None) -> bool:
    """A refusal of one request (its own answer), as opposed to a failure of the group."""
    return isinstance(error, LedgerError) and not isinstance(error, InfrastructureError)


def _batch_failed(error: BaseException | None) -> bool:
    """A failure that one batch of the group may have caused (a value the database rejects),
    as opposed to a refusal or an unreachable database, which every batch would meet again."""
    return error is not None and not _refused(error) and not database_unavailable(error)


class Ledger:
    """Records batches of validated events, group-committed."""

    def __init__(self, database: Database, projector: Projector) -> None:
        self.database = database
        self.projector = projector
        postgres = database.dialect == "postgres"
        self._committers_max = WRITER_CONNECTIONS if postgres else 1
        self._connections = _Connections(database, self._committers_max)
        self._cache = MemberCache()
        self._changed = threading.Condition()  # guards everything below
        self._queue: list[Request] = []
        self._busy: set[str] = set()  # tenants in a group being committed
        self._contended: set[str] = set()  # tenants whose head another held: committed alone
        self._committers = 0
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
        with self._changed:
            self._queue.append(request)
        while True:
            with self._changed:
                group: list[Request] = []
                while request.outcomes is None and request.error is None:
                    if self._committers < self._committers_max:
                        group = self._take()
                        if group:
                            self._committers += 1
                            break
                    self._changed.wait()
            if not group:
                break
            try:
                self._commit(group)
            finally:
                with self._changed:
                    self._committers -= 1
                    self._changed.notify_all()
        if request.error is not None:
            raise request.error
        assert request.outcomes is not None
        return request.outcomes

    def _take(self) -> list[Request]:
        """The next group (the caller holds `_changed`): queued requests of tenants not in a
        group, in arrival order; a contended tenant's requests form a group of their own."""
        group: list[Request] = []
        events = 0
        solo: str | None = None
        passed: set[str] = set()  # tenants with a request left behind: later ones wait too
        for request in self._queue:
            tenant = request.tenant
            if tenant in self._busy or tenant in passed:
                continue
            if group and (
                (tenant in self._contended) != (solo is not None)
                or (solo is not None and tenant != solo)
                or events + len(request.candidates) > GROUP_EVENTS
            ):
                passed.add(tenant)
                continue
            if not group and tenant in self._contended:
                solo = tenant
            group.append(request)
            events += len(request.candidates)
        taken = {id(request) for request in group}
        self._queue = [request for request in self._queue if id(request) not in taken]
        self._busy |= {request.tenant for request in group}
        return group

    def _commit(self, group: list[Request]) -> None:
        """Record a group taken by `_take`; then its tenants may be taken again."""
        deferred: list[Request] = []
        tenants = {request.tenant for request in group}
        try:
            deferred = self._record(group, tenants)
            failed = [r for r in group if _batch_failed(r.error)]
            if len(group) > 1 and failed:
                # the whole group failed on something other than a rule (a value the database
                # rejects): each batch again alone, so one bad batch fails only its own
                # request, never a neighbour's
                for request in failed:
                    request.error = None
                    deferred += self._record([request], {request.tenant})
        finally:
            with self._changed:
                self._queue[:0] = deferred  # before their tenants' later requests
                self._contended |= {request.tenant for request in deferred}
                if len(tenants) == 1:
                    self._contended -= tenants - {r.tenant for r in deferred}
                self._busy -= tenants
                self._changed.notify_all()

    def _record(self, group: list[Request], tenants: set[str]) -> list[Request]:
        """One transaction; returns the requests put back because their head was held."""
        try:
            connection = self._connections.acquire()
        except Exception as error:
            for request in group:
                request.error = error
            return []
        broken = False
        deferred: list[Request] = []
        try:
            with connection.transaction(write=True):
                if len(tenants) > 1 and connection.dialect == "postgres":
                    held = tenants - set(lock_heads(connection, tenants, skip_locked=True))
                    deferred = [request for request in group if request.tenant in held]
                    group = [request for request in group if request.tenant not in held]
                accepted, batches = record_group(connection, group, self.projector, self._cache)
        except Exception as error:
            broken = connection.stale()
            for request in group:
                if request.error is None:
                    request.outcomes = None
                    request.error = error
            return deferred
        finally:
            self._connections.release(connection, broken)
        for batch in batches:  # committed: what they hold is what the ledger says
            self._cache.put(batch.tenant, batch.position, batch.members, bool(batch.tenant_wide))
        for request, outcomes in accepted:
            request.outcomes = outcomes
        if any(o.status == "recorded" for _, outcomes in accepted for o in outcomes):
            for listener in self.listeners:
                listener()
        return deferred
