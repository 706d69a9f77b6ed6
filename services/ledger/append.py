"""Appending a batch: idempotency, rules against each member's state, positions, projections.

Concurrent batches are group-committed: one transaction records every batch queued meanwhile,
each still all or nothing. The transaction holds the ledger lock (SQLite `BEGIN IMMEDIATE`,
PostgreSQL `LOCK TABLE ledger_events IN EXCLUSIVE MODE`), so positions are assigned as max + 1 and
commit in order: gap-free, and a reader following positions never misses a late commit. The
projections are updated in the same transaction, so an answered write is visible to the next
query.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.ledger.db import Connection, Database
from services.ledger.errors import (
    EventIdReusedError,
    ForbiddenError,
    InfrastructureError,
    LedgerError,
    Problem,
    ProblemList,
)
from services.ledger.rules import check_event
from services.ledger.validation import CandidateEvent
from services.projections.alerts import (
    Alert,
    active_end,
    emit_new,
    not_eligible_alerts,
    renewal_alert,
    threshold_alerts,
)
from services.projections.claim_events import (
    CLAIM_EVENT_TYPES,
    RowKey,
    claim_dates,
    rows_on,
)
from services.projections.claim_events import changes as claim_changes
from services.projections.claims import Claim, Row
from services.projections.derived import from_change
from services.projections.emit import Derived, store_derived
from services.projections.facts import TENANT_WIDE_TYPES, LedgerEvent, MemberFacts
from services.projections.member import KeyChange, MemberProjection
from services.projections.runner import (
    PRELOAD_CHUNK,
    format_timestamp,
    parse_timestamp,
    resume,
    resume_many,
    set_tracking,
    upsert_members,
)
from services.projections.serialize import changed_rows
from services.projections.views import scheduling_check

AUTHORIZATION_TYPES = ("authorization.amended", "authorization.voided")
VISIT_STATUS_TYPES = ("visit.rescheduled", "visit.missed", "visit.cancelled", "visit.confirmed")
OVERRIDE_TYPES = ("visit.scheduled", "visit.confirmed")
# the reference indexes: table -> the id column (rows hold member_id and payer_id; a claim's
# payer_id column holds its plan type)
INDEXES = {
    "authorization_index": "authorization_id",
    "visit_index": "visit_id",
    "benefit_index": "benefit_id",
    "claim_index": "claim_id",
}
# events that create a reference (refused when it exists), the index, and what to say instead
CREATES = {
    "authorization.granted": ("authorization_index", "already granted; amend it instead"),
    "visit.scheduled": ("visit_index", "already scheduled; reschedule it instead"),
    "claim.adjudicated": ("claim_index", "already adjudicated; adjust it instead"),
    "benefit.limit_defined": ("benefit_index", "already defined; amend it instead"),
}
# events that name only a reference: the index that routes them to their member
ROUTED = {
    **dict.fromkeys(AUTHORIZATION_TYPES, "authorization_index"),
    **dict.fromkeys(("benefit.limit_amended", "benefit.usage_verified"), "benefit_index"),
    **dict.fromkeys(("claim.status_changed", "claim.adjusted", "claim.voided"), "claim_index"),
}


@dataclass(frozen=True)
class EventOutcome:
    event_id: str
    status: str  # recorded | duplicate
    position: int
    recorded_at: datetime
    warnings: list[dict[str, str]] = field(default_factory=list)


@dataclass
class _Batch:
    """What one batch has seen so far: loaded members and the rows it will insert."""

    connection: Connection
    tenant: str
    members: dict[str, MemberProjection] = field(default_factory=dict)
    # table -> id -> (member, payer or plan type) of the references this batch creates
    created: dict[str, dict[str, tuple[str, str]]] = field(
        default_factory=lambda: {table: {} for table in INDEXES}
    )
    enrollments: list[tuple[str, str, str | None]] = field(default_factory=list)
    tenant_wide: list[LedgerEvent] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    stepped: set[str] = field(default_factory=set)  # members whose rows this batch changes
    # alert candidates in the order of the events that raised them (the first of a mark wins)
    alerts: list[tuple[Alert, int, LedgerEvent | None]] = field(default_factory=list)
    accumulator_changes: list[Derived] = field(default_factory=list)
    # (table, id) -> (member, payer) of the references stored before this batch
    stored: dict[tuple[str, str], tuple[str, str] | None] = field(default_factory=dict)

    def member(self, member_id: str) -> MemberProjection:
        projection = self.members.get(member_id)
        if projection is None:
            projection = resume(self.connection, self.tenant, member_id)
            for event in self.tenant_wide:  # earlier settings changes of this batch
                projection.step(event)
            self.members[member_id] = projection
        return projection

    def preload(self, member_ids: set[str]) -> None:
        """Load the members a batch names directly, with a few queries instead of a few each."""
        missing = sorted(member_ids - set(self.members))
        if missing:
            loaded = resume_many(self.connection, self.tenant, missing)
            for projection in loaded.values():
                for event in self.tenant_wide:  # settings changes earlier in this group
                    projection.step(event)
            self.members.update(loaded)

    def preload_references(self, candidates: list[CandidateEvent]) -> None:
        """Look up every reference the batch names with a query per index."""
        for table, column in INDEXES.items():
            ids = sorted(
                {c.data[column] for c in candidates if column in c.data}
                - {value for (name, value) in self.stored if name == table}
            )
            for start in range(0, len(ids), PRELOAD_CHUNK):
                chunk = ids[start : start + PRELOAD_CHUNK]
                marks = ", ".join("?" for _ in chunk)
                found = {
                    row[0]: (row[1], row[2])
                    for row in self.connection.execute(
                        f"SELECT {column}, member_id, payer_id FROM {table} "
                        f"WHERE tenant = ? AND {column} IN ({marks})",
                        (self.tenant, *chunk),
                    )
                }
                self.stored.update({(table, i): found.get(i) for i in chunk})

    def reference(self, table: str, value: str) -> tuple[str, str] | None:
        """(member, payer) of a reference created in this batch or stored before it."""
        found = self.created[table].get(value)
        if found is not None:
            return found
        if (table, value) in self.stored:
            return self.stored[(table, value)]
        rows = self.connection.execute(
            f"SELECT member_id, payer_id FROM {table} WHERE tenant = ? AND {INDEXES[table]} = ?",
            (self.tenant, value),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def family_claims(self, facts: MemberFacts) -> dict[str, list[Claim]]:
        """The claims of the other members of the member's families (for family rows)."""
        families = sorted({e.family_id for e in facts.enrollments if e.family_id is not None})
        if not families:
            return {}
        marks = ", ".join("?" for _ in families)
        rows = self.connection.execute(
            "SELECT DISTINCT member_id FROM enrollment_index "
            f"WHERE tenant = ? AND family_id IN ({marks})",
            (self.tenant, *families),
        )
        others = {row[0] for row in rows} | {
            member for member, _, family in self.enrollments if family in families
        }
        others.discard(facts.member_id)
        return {
            other: list(self.member(other).facts.claims.values())
            for other in sorted(others)
            if any(e.family_id in families for e in self.member(other).facts.enrollments)
        }

    def payer_members(self, payer_id: str) -> list[str]:
        rows = self.connection.execute(
            "SELECT member_id FROM authorization_index WHERE tenant = ? AND payer_id = ? "
            "UNION SELECT member_id FROM visit_index WHERE tenant = ? AND payer_id = ?",
            (self.tenant, payer_id, self.tenant, payer_id),
        )
        return sorted({row[0] for row in rows} | set(self.members))


GROUP_EVENTS = 5_000  # events one group commit takes at most (it always takes one request)


@dataclass
class _Request:
    """One caller's batch waiting for a group commit, and what became of it."""

    tenant: str
    candidates: list[CandidateEvent]
    may_override: bool
    now: datetime
    outcomes: list[EventOutcome] | None = None
    error: BaseException | None = None


class Ledger:
    """The write side, with group commit.

    Callers queue their batches; whoever holds the writer lock takes every queued batch (up to
    GROUP_EVENTS events) and records them in one transaction: one ledger lock, one position
    lookup and one commit serve many concurrent requests. Each batch stays all or nothing: a
    refused batch gets its own error and the group is checked again without it, before anything
    is written. Batches are taken in arrival order, so no caller waits behind later ones.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._lock = threading.Lock()  # the writer: one group at a time
        self._queue_lock = threading.Lock()
        self._queue: list[_Request] = []
        self._connection: Connection | None = None
        self.listeners: list[Callable[[], None]] = []  # called after each commit that wrote

    def append(
        self, tenant: str, candidates: list[CandidateEvent], *, may_override: bool, now: datetime
    ) -> list[EventOutcome]:
        request = _Request(tenant, candidates, may_override, now)
        with self._queue_lock:
            self._queue.append(request)
        while request.outcomes is None and request.error is None:
            with self._lock:
                if request.outcomes is not None or request.error is not None:
                    break
                self._commit(self._take())
        if request.error is not None:
            raise request.error
        assert request.outcomes is not None
        return request.outcomes

    def _take(self) -> list[_Request]:
        with self._queue_lock:
            taken, events = 0, 0
            for request in self._queue:
                if taken and events + len(request.candidates) > GROUP_EVENTS:
                    break
                taken += 1
                events += len(request.candidates)
            group, self._queue = self._queue[:taken], self._queue[taken:]
        return group

    def _commit(self, group: list[_Request]) -> None:
        if self._connection is None:
            try:
                self._connection = self.database.connect()
            except Exception as error:
                for request in group:
                    request.error = error
                return
        connection = self._connection
        try:
            with connection.transaction(lock_ledger=True):
                accepted = _record_group(connection, group)
        except Exception as error:
            if connection.dialect == "postgres" and connection.raw.closed:
                self._connection = None  # reconnect on the next group
            for request in group:
                if request.error is None:
                    request.outcomes = None
                    request.error = error
            return
        for request, outcomes in accepted:
            request.outcomes = outcomes
        if any(o.status == "recorded" for _, outcomes in accepted for o in outcomes):
            for listener in self.listeners:
                listener()


class _Refused(Exception):
    """One request of a group was refused; the group is checked again without it."""


def _record_group(
    connection: Connection, group: list[_Request]
) -> list[tuple[_Request, list[EventOutcome]]]:
    """Record every acceptable request of the group; refused ones get their error set."""
    pending = list(group)
    while True:
        try:
            return _record_all(connection, pending)
        except _Refused as refused:
            request = refused.args[0]
            pending.remove(request)


def _record_all(
    connection: Connection, group: list[_Request]
) -> list[tuple[_Request, list[EventOutcome]]]:
    """Check the requests in order against shared state; write everything once at the end."""
    if not group:
        return []
    last = connection.execute(
        "SELECT position, recorded_at FROM ledger_events ORDER BY position DESC LIMIT 1"
    )
    position = int(last[0][0]) if last else 0
    now = max(request.now for request in group)
    recorded_at = max(now, parse_timestamp(last[0][1]) + timedelta(microseconds=1)) if last else now
    known = _recorded_ids(connection, group)
    batches: dict[str, _Batch] = {}
    for request in group:
        batches.setdefault(request.tenant, _Batch(connection, request.tenant))
    for tenant, batch in batches.items():  # a few queries for the whole group
        candidates = [c for r in group if r.tenant == tenant for c in r.candidates]
        batch.preload_references(candidates)
        batch.preload(_named_members(batch, candidates))
    accepted: list[tuple[_Request, list[EventOutcome]]] = []
    for request in group:
        batch = batches[request.tenant]
        try:
            outcomes, position = _append(
                batch, known[request.tenant], request, position, recorded_at
            )
        except InfrastructureError:
            raise
        except LedgerError as error:
            request.error = error
            raise _Refused(request) from error
        accepted.append((request, outcomes))
    for batch in batches.values():
        _store(batch)
    if any(batch.rows for batch in batches.values()):
        set_tracking(connection, position)
    return accepted


def _recorded_ids(
    connection: Connection, group: list[_Request]
) -> dict[str, dict[str, tuple[str, int, datetime]]]:
    """Per tenant, the group's event ids already in the ledger: body hash, position, time."""
    ids: dict[str, set[str]] = {}
    for request in group:
        ids.setdefault(request.tenant, set()).update(c.event_id for c in request.candidates)
    known: dict[str, dict[str, tuple[str, int, datetime]]] = {}
    for tenant, tenant_ids in ids.items():
        rows = _find_ids(connection, tenant, sorted(tenant_ids))
        known[tenant] = {row[0]: (row[1], int(row[2]), parse_timestamp(row[3])) for row in rows}
    return known


def _find_ids(connection: Connection, tenant: str, ids: list[str]) -> list[tuple[Any, ...]]:
    if connection.dialect == "postgres":
        # a join on the array probes the unique index whatever the statistics say; a long IN
        # list on a freshly grown, not yet analyzed ledger was planned as a sequential scan
        return connection.execute(
            "SELECT e.event_id, e.body_hash, e.position, e.recorded_at "
            "FROM unnest(?::text[]) AS ids(event_id) "
            "JOIN ledger_events e ON e.tenant = ? AND e.event_id = ids.event_id",
            (ids, tenant),
        )
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), PRELOAD_CHUNK):
        chunk = ids[start : start + PRELOAD_CHUNK]
        placeholders = ", ".join("?" for _ in chunk)
        rows += connection.execute(
            "SELECT event_id, body_hash, position, recorded_at FROM ledger_events "
            f"WHERE tenant = ? AND event_id IN ({placeholders})",
            (tenant, *chunk),
        )
    return rows


def _append(
    batch: _Batch,
    known: dict[str, tuple[str, int, datetime]],
    request: _Request,
    position: int,
    recorded_at: datetime,
) -> tuple[list[EventOutcome], int]:
    """One request against the group's state so far; its outcomes and the last position."""
    outcomes, new = _deduplicate(known, request.candidates)
    if new:
        _check_overrides(new, request.may_override)
        batch.preload_references(new)
        batch.preload(_named_members(batch, new))
        problems = ProblemList()
        for candidate in new:
            warnings = _accept(batch, candidate, position + 1, recorded_at, problems)
            if warnings is not None:
                position += 1
                outcomes[candidate.index] = EventOutcome(
                    candidate.event_id, "recorded", position, recorded_at, warnings
                )
        problems.raise_if_any()
    for index, outcome in enumerate(outcomes):
        if outcome is not None and outcome.status == "duplicate" and outcome.position == 0:
            outcomes[index] = _in_batch_original(outcomes, outcome.event_id)
    answered = [outcome for outcome in outcomes if outcome is not None]
    for candidate in new:  # later requests of the group see these as recorded
        outcome = outcomes[candidate.index]
        assert outcome is not None
        known[candidate.event_id] = (candidate.body_hash, outcome.position, outcome.recorded_at)
    return answered, position


def _named_members(batch: _Batch, candidates: list[CandidateEvent]) -> set[str]:
    """The members the events name, directly or through a stored authorization or visit."""
    return {c.data["member_id"] for c in candidates if "member_id" in c.data} | {
        found[0] for found in batch.stored.values() if found is not None
    }


def _deduplicate(
    known: dict[str, tuple[str, int, datetime]], candidates: list[CandidateEvent]
) -> tuple[list[EventOutcome | None], list[CandidateEvent]]:
    """Split a batch into replays of recorded events and new ones; a reused id is refused."""
    outcomes: list[EventOutcome | None] = [None] * (max(c.index for c in candidates) + 1)
    seen: dict[str, str] = {}
    new: list[CandidateEvent] = []
    reused: list[Problem] = []
    for candidate in candidates:
        stored = known.get(candidate.event_id)
        earlier = stored[0] if stored else seen.get(candidate.event_id)
        if earlier is not None and earlier != candidate.body_hash:
            reused.append(Problem(candidate.index, "id", "already used for another event"))
        elif stored is not None:
            outcomes[candidate.index] = EventOutcome(
                candidate.event_id, "duplicate", stored[1], stored[2]
            )
        elif earlier is not None:  # repeated inside this batch: resolved once positions exist
            outcomes[candidate.index] = EventOutcome(
                candidate.event_id, "duplicate", 0, datetime.min
            )
        else:
            seen[candidate.event_id] = candidate.body_hash
            new.append(candidate)
    if reused:
        raise EventIdReusedError("an event id was reused with a different body", reused)
    return outcomes, new


def _in_batch_original(outcomes: list[EventOutcome | None], event_id: str) -> EventOutcome:
    original = next(o for o in outcomes if o and o.event_id == event_id and o.status == "recorded")
    return EventOutcome(event_id, "duplicate", original.position, original.recorded_at)


def _check_overrides(new: list[CandidateEvent], may_override: bool) -> None:
    if may_override:
        return
    for candidate in new:
        if candidate.type in OVERRIDE_TYPES and "override" in candidate.data:
            raise ForbiddenError(
                "recording a scheduling override needs the supervisor role",
                [Problem(candidate.index, "data.override", "requires the supervisor role")],
            )


def _member_of(batch: _Batch, candidate: CandidateEvent, problems: ProblemList) -> str | None:
    """Which member an event belongs to; None for tenant-wide events or unknown references."""
    data = candidate.data
    if candidate.type in TENANT_WIDE_TYPES:
        return None
    table = ROUTED.get(candidate.type)
    if table is not None:
        column = INDEXES[table]
        found = batch.reference(table, data[column])
        if found is None:
            problems.add(candidate.index, f"data.{column}", f"unknown {column.removesuffix('_id')}")
        return found[0] if found else None
    if candidate.type in VISIT_STATUS_TYPES:
        found = batch.reference("visit_index", data["visit_id"])
        if found is not None:
            return found[0]
        if candidate.type != "visit.confirmed":
            problems.add(candidate.index, "data.visit_id", "unknown visit")
            return None
        if "member_id" not in data:
            problems.add(
                candidate.index, "data.member_id", "required to confirm a visit never scheduled"
            )
            return None
    member_id: str = data["member_id"]
    return member_id


def _accept(
    batch: _Batch,
    candidate: CandidateEvent,
    position: int,
    recorded_at: datetime,
    problems: ProblemList,
) -> list[dict[str, str]] | None:
    """Check one event against its member's state and step it in; None when it was refused."""
    before = len(problems.problems)
    member_id = _member_of(batch, candidate, problems)
    if len(problems.problems) > before:
        return None
    if not _unique_references(batch, candidate, problems):
        return None
    event = LedgerEvent(position, candidate.event_id, candidate.type, candidate.data, recorded_at)
    if member_id is None:
        members = (
            batch.payer_members(candidate.data["payer_id"])
            if candidate.type == "payer.settings_changed"
            else sorted(batch.members)  # a schedule: the members loaded so far see it now
        )
        for member in members:
            projection = batch.member(member)
            changes = len(projection.key_changes)
            projection.step(event)
            batch.stepped.add(member)
            batch.alerts += _alerts(projection, event, projection.key_changes[changes:])
        batch.tenant_wide.append(event)
        batch.rows.append(_row(batch.tenant, event, candidate, None))
        return []
    projection = batch.member(member_id)
    if not check_event(projection.facts, candidate.index, candidate.type, candidate.data, problems):
        return None
    warnings = _warnings(projection, candidate)
    new_visit = candidate.type == "visit.scheduled" or (
        candidate.type == "visit.confirmed"
        and batch.reference("visit_index", candidate.data["visit_id"]) is None
    )
    claim_rows = _claim_rows(batch, projection, event) if event.type in CLAIM_EVENT_TYPES else None
    changes = len(projection.key_changes)
    projection.step(event)
    batch.stepped.add(member_id)
    batch.alerts += _alerts(projection, event, projection.key_changes[changes:])
    if claim_rows is not None:
        _claim_changes(batch, projection, event, *claim_rows)
    _remember(batch, candidate, member_id, new_visit)
    batch.rows.append(_row(batch.tenant, event, candidate, member_id))
    return warnings


def _unique_references(batch: _Batch, candidate: CandidateEvent, problems: ProblemList) -> bool:
    if candidate.type not in CREATES:
        return True
    table, instead = CREATES[candidate.type]
    column = INDEXES[table]
    if batch.reference(table, candidate.data[column]) is None:
        return True
    problems.add(candidate.index, f"data.{column}", instead)
    return False


def _remember(batch: _Batch, candidate: CandidateEvent, member_id: str, new_visit: bool) -> None:
    data = candidate.data
    if candidate.type == "member.enrolled":
        batch.enrollments.append((member_id, data["schedule_id"], data.get("family_id")))
        return
    table = "visit_index" if new_visit else CREATES.get(candidate.type, (None, ""))[0]
    if table is not None:
        payer = data["plan_type"] if table == "claim_index" else data["payer_id"]
        batch.created[table][data[INDEXES[table]]] = (member_id, payer)


def _warnings(projection: MemberProjection, candidate: CandidateEvent) -> list[dict[str, str]]:
    """A visit scheduled beyond the available units is recorded, with the check's warnings."""
    data = candidate.data
    new_visit = candidate.type == "visit.scheduled" or (
        candidate.type == "visit.confirmed" and data["visit_id"] not in projection.facts.visits
    )
    if not new_visit:
        return []
    check = scheduling_check(
        projection,
        data["payer_id"],
        data["service_code"],
        date.fromisoformat(data["service_date"]),
        Decimal(data["units"]),
        data.get("authorization_number"),
    )
    return check.warnings


def _row(
    tenant: str, event: LedgerEvent, candidate: CandidateEvent, member_id: str | None
) -> tuple[Any, ...]:
    return (
        event.position,
        tenant,
        event.event_id,
        event.type,
        member_id,
        candidate.data.get("payer_id"),
        json.dumps(candidate.data, sort_keys=True, separators=(",", ":")),
        candidate.body_hash,
        format_timestamp(event.recorded_at),
    )


def _store(batch: _Batch) -> None:
    connection, tenant = batch.connection, batch.tenant
    connection.executemany(
        "INSERT INTO ledger_events (position, tenant, event_id, type, member_id, payer_id, data, "
        "body_hash, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        batch.rows,
    )
    for table, column in INDEXES.items():
        connection.executemany(
            f"INSERT INTO {table} (tenant, {column}, member_id, payer_id) VALUES (?, ?, ?, ?)",
            [(tenant, key, *found) for key, found in batch.created[table].items()],
        )
    connection.executemany(
        "INSERT INTO enrollment_index (tenant, member_id, schedule_id, family_id) "
        "VALUES (?, ?, ?, ?)",
        [(tenant, *enrollment) for enrollment in batch.enrollments],
    )
    stepped = [batch.members[member_id] for member_id in sorted(batch.stepped)]
    derived = _derived(stepped)  # before changed_rows clears what the steps noted
    alerts = emit_new(connection, tenant, batch.alerts, None)
    # stable: balances, then accumulator changes, then alerts, within one event
    derived = sorted(derived + batch.accumulator_changes + alerts, key=lambda d: d.position)
    upsert_members(connection, tenant, [changed_rows(p) for p in stepped])
    store_derived(connection, tenant, derived)


def _derived(stepped: list[MemberProjection]) -> list[Derived]:
    """The batch's derived events in ledger order (by member within one event)."""
    changes = sorted(
        (
            (change.event.position, p.facts.member_id, index, change)
            for p in stepped
            for index, change in enumerate(p.key_changes)
        ),
        key=lambda item: item[:3],
    )
    return [
        Derived(event_type, data, change.event.position, change.event.recorded_at)
        for _, member_id, _, change in changes
        for event_type, data in from_change(member_id, change)
    ]


def _alerts(
    projection: MemberProjection, event: LedgerEvent, changes: list[KeyChange]
) -> list[tuple[Alert, int, LedgerEvent | None]]:
    """The alerts that hold right after one event of a member (emit_new drops those already
    emitted). Judged per event, so a group commit raises them as its batches one by one would."""
    facts = projection.facts
    found: list[Alert] = []
    if facts.benefits and event.type.startswith(("visit.", "benefit.")):
        found += threshold_alerts(facts, event)
    if facts.coverage and event.type.startswith("coverage."):
        found += not_eligible_alerts(facts, list(facts.visits), event)
    elif facts.coverage and event.type.startswith("visit."):
        found += not_eligible_alerts(facts, [event.data["visit_id"]], event)
    for change in changes:
        alert = renewal_alert(
            facts.member_id,
            change.key,
            change.after,
            active_end(facts, change.key),
            facts.settings_for(change.after.payer_id),
            event.recorded_at.date(),
            event,
        )
        if alert is not None:
            found.append(alert)
    return [(alert, event.position, event) for alert in found]


def _claim_rows(
    batch: _Batch, projection: MemberProjection, event: LedgerEvent
) -> tuple[str, set[date], dict[str, list[Claim]], dict[RowKey, Row]]:
    """Before a claim event: its plan type, the dates it touches, the family's claims and the
    member's rows there."""
    facts = projection.facts
    claim = facts.claims.get(event.data["claim_id"])
    plan_type = claim.plan_type if claim is not None else event.data["plan_type"]
    days = claim_dates(facts, event)
    family = batch.family_claims(facts)  # the event changes only this member's claims
    return plan_type, days, family, rows_on(facts, plan_type, days, family)


def _claim_changes(
    batch: _Batch,
    projection: MemberProjection,
    event: LedgerEvent,
    plan_type: str,
    days: set[date],
    family: dict[str, list[Claim]],
    before: dict[RowKey, Row],
) -> None:
    facts = projection.facts
    after = rows_on(facts, plan_type, days, family)
    changed, met = claim_changes(facts.member_id, before, after, event)
    batch.accumulator_changes += [
        Derived(kind, data, event.position, event.recorded_at) for kind, data in changed
    ]
    batch.alerts += [(alert, event.position, event) for alert in met]
