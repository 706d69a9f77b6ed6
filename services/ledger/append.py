"""Recording a group of batches: idempotency, conditions, rules against each member's state,
tags, positions per tenant and the projections, in one transaction.

`group_commit.Ledger` hands a group of concurrent batches here inside its transaction. Each
tenant's head is locked (`recorder.lock_heads`): positions continue the tenant's own sequence,
gap-free and committed in order, and another tenant's writers never wait. The projections are
updated in the same transaction, so an answered write is visible to the next query.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from eventsourcing.dcb.api import DCBQuery, DCBQueryItem

from contracts.events import AppendCondition
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
from services.ledger.recorder import (
    Head,
    StoredEvent,
    any_match_after,
    insert_events,
    lock_heads,
    set_head,
    tagged,
)
from services.ledger.rules import check_event
from services.ledger.tags import tag, tags_of
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
# what later events refer to: data field -> (tag prefix, the event types that create it). The
# ledger's tags answer "which member, which payer": no index tables to keep beside the ledger
REFERENCES = {
    "authorization_id": ("authorization_id", ("authorization.granted",)),
    "visit_id": ("visit", ("visit.scheduled", "visit.confirmed")),
    "benefit_id": ("benefit", ("benefit.limit_defined",)),
    "claim_id": ("claim", ("claim.adjudicated",)),
}
# events that create a reference (refused when it exists), and what to say instead
CREATES = {
    "authorization.granted": ("authorization_id", "already granted; amend it instead"),
    "visit.scheduled": ("visit_id", "already scheduled; reschedule it instead"),
    "claim.adjudicated": ("claim_id", "already adjudicated; adjust it instead"),
    "benefit.limit_defined": ("benefit_id", "already defined; amend it instead"),
}
# events that name only a reference: the field that routes them to their member
ROUTED = {
    **dict.fromkeys(AUTHORIZATION_TYPES, "authorization_id"),
    **dict.fromkeys(("benefit.limit_amended", "benefit.usage_verified"), "benefit_id"),
    **dict.fromkeys(("claim.status_changed", "claim.adjusted", "claim.voided"), "claim_id"),
}


@dataclass(frozen=True)
class Reference:
    """What an id refers to: its member, its payer (a claim: its plan type), the creator's tags."""

    member_id: str
    payer_id: str
    tags: tuple[str, ...]


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


@dataclass
class _Batch:
    """What one tenant's part of a group has seen so far: members, references, new rows."""

    connection: Connection
    tenant: str
    position: int  # the tenant's last position, including this group's events so far
    recorded_at: datetime  # when this group's events of the tenant are recorded
    members: dict[str, MemberProjection] = field(default_factory=dict)
    # False for a bulk import: facts are folded for the rules, and the touched members' read
    # models are rebuilt once at the end (no derived events: importing history is not news)
    project: bool = True
    # field -> id -> reference, for the references this batch creates
    created: dict[str, dict[str, Reference]] = field(
        default_factory=lambda: {name: {} for name in REFERENCES}
    )
    enrollments: list[tuple[str, str, str | None]] = field(default_factory=list)
    tenant_wide: list[LedgerEvent] = field(default_factory=list)
    rows: list[StoredEvent] = field(default_factory=list)
    stepped: set[str] = field(default_factory=set)  # members whose rows this batch changes
    # alert candidates in the order of the events that raised them (the first of a mark wins)
    alerts: list[tuple[Alert, int, LedgerEvent | None]] = field(default_factory=list)
    accumulator_changes: list[Derived] = field(default_factory=list)
    # (field, id) -> reference stored before this group (None: no such reference)
    stored: dict[tuple[str, str], Reference | None] = field(default_factory=dict)

    def member(self, member_id: str) -> MemberProjection:
        projection = self.members.get(member_id)
        if projection is None:
            projection = resume(self.connection, self.tenant, member_id)
            for event in self.tenant_wide:  # earlier settings changes of this batch
                projection.step(event) if self.project else projection.fold(event)
            self.members[member_id] = projection
        return projection

    def preload(self, member_ids: set[str]) -> None:
        """Load the members a batch names directly, with a few queries instead of a few each."""
        missing = sorted(member_ids - set(self.members))
        if missing:
            loaded = resume_many(self.connection, self.tenant, missing)
            for projection in loaded.values():
                for event in self.tenant_wide:  # settings changes earlier in this group
                    projection.step(event) if self.project else projection.fold(event)
            self.members.update(loaded)

    def preload_references(self, candidates: list[CandidateEvent]) -> None:
        """Look up every reference the batch names, with a query per kind and chunk."""
        for name in REFERENCES:
            ids = sorted(
                {c.data[name] for c in candidates if name in c.data}
                - {value for (kind, value) in self.stored if kind == name}
            )
            for start in range(0, len(ids), PRELOAD_CHUNK):
                chunk = ids[start : start + PRELOAD_CHUNK]
                found = self._look_up(name, chunk)
                self.stored.update({(name, i): found.get(i) for i in chunk})

    def _look_up(self, name: str, ids: list[str]) -> dict[str, Reference]:
        prefix, creators = REFERENCES[name]
        source, params = tagged(self.connection, self.tenant, [tag(prefix, v) for v in ids])
        rows = self.connection.execute(
            "SELECT t.tag, e.member_id, e.payer_id, e.tags, "
            f"{'e.data' if name == 'claim_id' else 'NULL'} FROM {source} "
            f"{'AND' if 'WHERE' in source else 'WHERE'} "
            f"e.type IN ({', '.join('?' for _ in creators)}) ORDER BY t.position",
            (*params, *creators),
        )
        found: dict[str, Reference] = {}
        for tag_text, member_id, payer_id, tags_text, data in rows:
            value = tag_text.removeprefix(f"{prefix}:")
            if value not in found:  # the creating event is the first
                payer = json.loads(data)["plan_type"] if data is not None else payer_id
                found[value] = Reference(member_id, payer, tuple(json.loads(tags_text)))
        return found

    def reference(self, name: str, value: str) -> Reference | None:
        """What an id refers to, created in this batch or stored before it."""
        found = self.created[name].get(value)
        if found is not None:
            return found
        if (name, value) not in self.stored:
            self.stored[(name, value)] = self._look_up(name, [value]).get(value)
        return self.stored[(name, value)]

    def family_claims(self, facts: MemberFacts) -> dict[str, list[Claim]]:
        """The claims of the other members of the member's families (for family rows)."""
        families = sorted({e.family_id for e in facts.enrollments if e.family_id is not None})
        if not families:
            return {}
        rows = self._members_tagged([tag("family", family) for family in families])
        others = rows | {member for member, _, family in self.enrollments if family in families}
        others.discard(facts.member_id)
        return {
            other: list(self.member(other).facts.claims.values())
            for other in sorted(others)
            if any(e.family_id in families for e in self.member(other).facts.enrollments)
        }

    def payer_members(self, payer_id: str) -> list[str]:
        return sorted(self._members_tagged([tag("payer", payer_id)]) | set(self.members))

    def _members_tagged(self, tags: list[str]) -> set[str]:
        source, params = tagged(self.connection, self.tenant, tags)
        rows = self.connection.execute(
            f"SELECT DISTINCT e.member_id FROM {source} "
            f"{'AND' if 'WHERE' in source else 'WHERE'} e.member_id IS NOT NULL",
            params,
        )
        return {row[0] for row in rows}


class _Refused(Exception):
    """One request of a group was refused; the group is checked again without it."""


def record_group(
    connection: Connection, group: list[Request]
) -> list[tuple[Request, list[EventOutcome]]]:
    """Record every acceptable request of the group; refused ones get their error set."""
    pending = list(group)
    while True:
        try:
            return _record_all(connection, pending)
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
    batch = _Batch(
        connection,
        request.tenant,
        head.position,
        head.next_time(request.now),
        members=members,
        project=False,
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
    connection: Connection, group: list[Request]
) -> list[tuple[Request, list[EventOutcome]]]:
    """Check the requests in order against shared state; write everything once at the end."""
    if not group:
        return []
    heads = lock_heads(connection, (request.tenant for request in group))
    now = max(request.now for request in group)
    batches = {
        tenant: _Batch(connection, tenant, head.position, head.next_time(now))
        for tenant, head in heads.items()
    }
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
            _store(batch)
            set_head(connection, tenant, Head(batch.position, batch.recorded_at))
            set_tracking(connection, tenant, batch.position)
    return accepted


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
    batch: _Batch, known: dict[str, tuple[str, int, datetime]], request: Request
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


def _check_condition(batch: _Batch, condition: AppendCondition) -> None:
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


def _named_members(batch: _Batch, candidates: list[CandidateEvent]) -> set[str]:
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


def _member_of(
    batch: _Batch, candidate: CandidateEvent, problems: ProblemList
) -> tuple[str | None, tuple[str, ...]]:
    """Which member an event belongs to (None: tenant-wide, or an unknown reference), and the
    tags it inherits from the event that created what it names."""
    data = candidate.data
    if candidate.type in TENANT_WIDE_TYPES:
        return None, ()
    name = ROUTED.get(candidate.type)
    if name is not None:
        found = batch.reference(name, data[name])
        if found is None:
            problems.add(candidate.index, f"data.{name}", f"unknown {name.removesuffix('_id')}")
            return None, ()
        return found.member_id, found.tags
    if candidate.type in VISIT_STATUS_TYPES:
        found = batch.reference("visit_id", data["visit_id"])
        if found is not None:
            return found.member_id, found.tags
        if candidate.type != "visit.confirmed":
            problems.add(candidate.index, "data.visit_id", "unknown visit")
            return None, ()
        if "member_id" not in data:
            problems.add(
                candidate.index, "data.member_id", "required to confirm a visit never scheduled"
            )
            return None, ()
    member_id: str = data["member_id"]
    return member_id, ()


def _accept(
    batch: _Batch, candidate: CandidateEvent, problems: ProblemList
) -> list[dict[str, str]] | None:
    """Check one event against its member's state and step it in; None when it was refused."""
    before = len(problems.problems)
    member_id, inherited = _member_of(batch, candidate, problems)
    if len(problems.problems) > before:
        return None
    if not _unique_references(batch, candidate, problems):
        return None
    position = batch.position + 1
    event = LedgerEvent(
        position, candidate.event_id, candidate.type, candidate.data, batch.recorded_at
    )
    if member_id is None:
        if not batch.project:  # members load it from the ledger; the loaded ones fold it now
            for projection in batch.members.values():
                projection.fold(event)
            batch.tenant_wide.append(event)
            batch.rows.append(_row(event, candidate, None, inherited))
            batch.position = position
            return []
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
    row = _row(event, candidate, member_id, inherited)
    if not batch.project:
        projection.fold(event)
        batch.stepped.add(member_id)
        _remember(batch, candidate, member_id, new_visit, row.tags)
        batch.rows.append(row)
        batch.position = position
        return []
    warnings = _warnings(projection, candidate)
    claim_rows = _claim_rows(batch, projection, event) if event.type in CLAIM_EVENT_TYPES else None
    changes = len(projection.key_changes)
    projection.step(event)
    batch.stepped.add(member_id)
    batch.alerts += _alerts(projection, event, projection.key_changes[changes:])
    if claim_rows is not None:
        _claim_changes(batch, projection, event, *claim_rows)
    _remember(batch, candidate, member_id, new_visit, row.tags)
    batch.rows.append(row)
    batch.position = position
    return warnings


def _unique_references(batch: _Batch, candidate: CandidateEvent, problems: ProblemList) -> bool:
    if candidate.type not in CREATES:
        return True
    name, instead = CREATES[candidate.type]
    if batch.reference(name, candidate.data[name]) is None:
        return True
    problems.add(candidate.index, f"data.{name}", instead)
    return False


def _remember(
    batch: _Batch,
    candidate: CandidateEvent,
    member_id: str,
    new_visit: bool,
    tags: tuple[str, ...],
) -> None:
    data = candidate.data
    if candidate.type == "member.enrolled":
        batch.enrollments.append((member_id, data["schedule_id"], data.get("family_id")))
        return
    name = "visit_id" if new_visit else CREATES.get(candidate.type, (None, ""))[0]
    if name is not None:
        payer = data["plan_type"] if name == "claim_id" else data["payer_id"]
        batch.created[name][data[name]] = Reference(member_id, payer, tags)


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
    event: LedgerEvent, candidate: CandidateEvent, member_id: str | None, inherited: tuple[str, ...]
) -> StoredEvent:
    return StoredEvent(
        event.position,
        event.event_id,
        event.type,
        member_id,
        candidate.data.get("payer_id"),
        json.dumps(candidate.data, sort_keys=True, separators=(",", ":")),
        candidate.body_hash,
        event.recorded_at,
        tuple(tags_of(candidate.data, member_id, inherited)),
    )


def _store(batch: _Batch) -> None:
    connection, tenant = batch.connection, batch.tenant
    insert_events(connection, tenant, batch.rows)
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
