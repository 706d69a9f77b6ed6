"""Recording a group of batches: idempotency, conditions, rules against each member's state,
tags, positions per tenant and the projections, in one transaction.

`group_commit.Ledger` hands a group of concurrent batches here inside its transaction. Each
tenant's head is locked (`recorder.lock_heads`): positions continue the tenant's own sequence,
gap-free and committed in order, and another tenant's writers never wait. The projections are
updated in the same transaction, so an answered write is visible to the next query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.dcb.api import DCBQuery, DCBQueryItem

from contracts.events import AppendCondition
from services.ledger.batch import (
    OVERRIDE_TYPES,
    PRELOAD_CHUNK,
    Batch,
    member_of,
    remember,
    unique_references,
)
from services.ledger.codec import parse_timestamp
from services.ledger.db import Connection
from services.ledger.errors import (
    ConditionFailedError,
    EventIdReusedError,
    ForbiddenError,
    InfrastructureError,
    LedgerError,
    Problem,
    ProblemList,
)
from services.ledger.member_cache import MemberCache
from services.ledger.ports import Projector
from services.ledger.recorder import (
    Head,
    StoredEvent,
    any_match_after,
    insert_events,
    lock_heads,
    set_head,
)
from services.ledger.rules import check_event
from services.ledger.tags import tag, tags_of
from services.ledger.validation import CandidateEvent
from services.projections.core.accumulation import match_visit
from services.projections.core.facts import LedgerEvent
from services.projections.core.member import MemberProjection


@dataclass(frozen=True)
class EventOutcome:
    event_id: str
    status: str  # recorded | duplicate
    position: int
    recorded_at: datetime
    warnings: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Request:
    """One caller's batch waiting for a group commit, and what became of it."""

    tenant: str
    candidates: list[CandidateEvent]
    may_override: bool
    now: datetime
    condition: AppendCondition | None = None
    outcomes: list[EventOutcome] | None = None
    error: BaseException | None = None


class _Refused(Exception):
    """One request of a group was refused; the group is checked again without it."""


Accepted = list[tuple[Request, list[EventOutcome]]]
VISIT_TYPES = ("visit.scheduled", "visit.rescheduled", "visit.confirmed")


def record_group(
    connection: Connection,
    group: list[Request],
    projector: Projector,
    cache: MemberCache | None = None,
) -> tuple[Accepted, list[Batch]]:
    """Record every acceptable request of the group; refused ones get their error set. Returns
    the accepted requests and the tenants' batches (their members, for the cache)."""
    pending = list(group)
    while True:
        try:
            return _record_all(connection, pending, projector, cache)
        except _Refused as refused:
            request = refused.args[0]
            pending.remove(request)


def record_unprojected(
    connection: Connection, request: Request, members: dict[str, MemberProjection]
) -> tuple[list[EventOutcome], set[str]]:
    """One import chunk: rules, tags, positions and ledger rows, but no projection step.

    `members` carries the members' facts from chunk to chunk. Returns the outcomes and the
    members whose read models the caller must rebuild."""
    head = lock_heads(connection, [request.tenant])[request.tenant]
    batch = Batch(
        connection,
        request.tenant,
        head.position,
        head.next_time(request.now),
        members=members,
    )
    known = _recorded_ids(connection, [request])[request.tenant]
    try:
        outcomes = _append(batch, known, request)
    except LedgerError:
        members.clear()  # they may hold the refused chunk's first events
        raise
    if batch.rows:
        insert_events(connection, batch.tenant, batch.rows)
        set_head(connection, batch.tenant, Head(batch.position, batch.recorded_at))
    return outcomes, batch.stepped


def _record_all(
    connection: Connection, group: list[Request], projector: Projector, cache: MemberCache | None
) -> tuple[Accepted, list[Batch]]:
    """Check the requests in order against shared state; write everything once at the end."""
    if not group:
        return [], []
    heads = lock_heads(connection, (request.tenant for request in group))
    now = max(request.now for request in group)
    batches = {
        tenant: Batch(
            connection,
            tenant,
            head.position,
            head.next_time(now),
            projector=projector,
            cache=cache,
        )
        for tenant, head in heads.items()
    }
    for batch in batches.values():
        batch.projection = projector.begin(connection, batch.tenant, batch)
    known = _recorded_ids(connection, group)
    for tenant, batch in batches.items():  # a few queries for the whole group
        candidates = [c for r in group if r.tenant == tenant for c in r.candidates]
        batch.preload_references(candidates)
        batch.preload(_named_members(batch, candidates))
    accepted: list[tuple[Request, list[EventOutcome]]] = []
    for request in group:
        batch = batches[request.tenant]
        try:
            outcomes = _append(batch, known[request.tenant], request)
        except InfrastructureError:
            raise
        except LedgerError as error:
            request.error = error
            raise _Refused(request) from error
        accepted.append((request, outcomes))
    for tenant, batch in batches.items():
        if batch.rows:
            insert_events(connection, tenant, batch.rows)
            set_head(connection, tenant, Head(batch.position, batch.recorded_at))
            assert batch.projection is not None
            stepped = [batch.members[member] for member in sorted(batch.stepped)]
            batch.projection.store(stepped, batch.position)
    return accepted, list(batches.values())


def _recorded_ids(
    connection: Connection, group: list[Request]
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
    batch: Batch, known: dict[str, tuple[str, int, datetime]], request: Request
) -> list[EventOutcome]:
    """One request against the group's state so far: its outcomes."""
    outcomes, new = _deduplicate(known, request.candidates)
    if new:  # a retry of a recorded batch is answered as duplicates, whatever its condition
        if request.condition is not None:
            _check_condition(batch, request.condition)
        _check_overrides(new, request.may_override)
        batch.preload_references(new)
        batch.preload(_named_members(batch, new))
        problems = ProblemList()
        for candidate in new:
            warnings = _accept(batch, candidate, problems)
            if warnings is not None:
                outcomes[candidate.index] = EventOutcome(
                    candidate.event_id, "recorded", batch.position, batch.recorded_at, warnings
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
    return answered


def _check_condition(batch: Batch, condition: AppendCondition) -> None:
    """409 when an event recorded after `condition.after` (stored, or earlier in this group)
    carries all of the condition's tags."""
    wanted = set(condition.tags)
    in_group = any(row.position > condition.after and wanted <= set(row.tags) for row in batch.rows)
    query = DCBQuery(items=[DCBQueryItem(tags=sorted(wanted))])
    if in_group or any_match_after(batch.connection, batch.tenant, query, condition.after):
        tags = ", ".join(sorted(wanted)) or "any tag"
        raise ConditionFailedError(
            "an event matching the condition was recorded after its position; nothing was recorded",
            batch.position,
            [
                Problem(
                    None,
                    "condition.after",
                    f"an event tagged {tags} was recorded after position {condition.after}; "
                    f"the tenant's ledger is at position {batch.position}",
                )
            ],
        )


def _named_members(batch: Batch, candidates: list[CandidateEvent]) -> set[str]:
    """The members the events name, directly or through a stored authorization or visit."""
    return {c.data["member_id"] for c in candidates if "member_id" in c.data} | {
        found.member_id for found in batch.stored.values() if found is not None
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


def _accept(
    batch: Batch, candidate: CandidateEvent, problems: ProblemList
) -> list[dict[str, str]] | None:
    """Check one event against its member's state and step it in; None when it was refused."""
    before = len(problems.problems)
    member_id, inherited = member_of(batch, candidate, problems)
    if len(problems.problems) > before:
        return None
    if not unique_references(batch, candidate, problems):
        return None
    position = batch.position + 1
    event = LedgerEvent(
        position,
        candidate.event_id,
        candidate.type,
        candidate.data,
        batch.recorded_at,
        dict(candidate.typed),  # decoded by validation: not parsed again
    )
    if member_id is None:
        # a payer's settings step every member with its lines or visits; a schedule the
        # members loaded so far. An import folds it into those loaded; the others read it later
        members = (
            batch.payer_members(candidate.data["payer_id"])
            if batch.projection is not None and candidate.type == "payer.settings_changed"
            else sorted(batch.members)
        )
        for member in members:
            _step(batch, batch.member(member), event)
        batch.tenant_wide.append(event)
        batch.rows.append(_row(event, candidate, None, inherited))
        batch.position = position
        return []
    projection = batch.member(member_id)
    if not check_event(projection.facts, candidate.index, candidate.type, candidate.data, problems):
        return None
    new_visit = candidate.type == "visit.scheduled" or (
        candidate.type == "visit.confirmed"
        and batch.reference("visit_id", candidate.data["visit_id"]) is None
    )
    warnings = batch.projection.warnings(projection, candidate) if batch.projection else []
    _step(batch, projection, event)
    row = _row(event, candidate, member_id, (*inherited, *_drawn_from(projection, candidate)))
    remember(batch, candidate, member_id, new_visit, row.tags)
    batch.rows.append(row)
    batch.position = position
    return warnings


def _drawn_from(projection: MemberProjection, candidate: CandidateEvent) -> tuple[str, ...]:
    """A visit that names no authorization concerns the one it draws from, once recorded."""
    data = candidate.data
    if candidate.type not in VISIT_TYPES or "authorization_number" in data:
        return ()
    visit = projection.facts.visits[data["visit_id"]]
    key = match_visit(
        projection.facts.lines.values(),
        visit.payer_id,
        visit.service_code,
        visit.service_date,
        visit.authorization_number,
    )
    return (tag("authorization", key[0]),) if key is not None else ()


def _step(batch: Batch, projection: MemberProjection, event: LedgerEvent) -> None:
    if batch.projection is None:
        projection.fold(event)
    else:
        batch.projection.member_event(projection, event)
    batch.stepped.add(projection.facts.member_id)


def _row(
    event: LedgerEvent, candidate: CandidateEvent, member_id: str | None, inherited: tuple[str, ...]
) -> StoredEvent:
    return StoredEvent(
        event.position,
        event.event_id,
        event.type,
        member_id,
        candidate.data.get("payer_id"),
        candidate.data_json,
        candidate.body_hash,
        event.recorded_at,
        tuple(tags_of(candidate.data, member_id, inherited)),
    )
