"""One tenant's part of a group being recorded: its members, the references its events name
and create (found through the ledger's tags), and the rows it will insert."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from services.ledger.db import Connection
from services.ledger.errors import ProblemList
from services.ledger.member_cache import CATCH_UP_EVENTS, MemberCache
from services.ledger.ports import BatchProjection, Projector
from services.ledger.reader import events_between, load_members
from services.ledger.recorder import StoredEvent, tagged
from services.ledger.tags import tag
from services.ledger.validation import CandidateEvent
from services.projections.core.facts import TENANT_WIDE_TYPES, LedgerEvent
from services.projections.core.member import MemberProjection

PRELOAD_CHUNK = 500  # ids per lookup query: bounds the parameter list

AUTHORIZATION_TYPES = ("authorization.amended", "authorization.voided")
VISIT_STATUS_TYPES = (
    "visit.rescheduled",
    "visit.missed",
    "visit.cancelled",
    "visit.confirmed",
    "visit.billed",
)
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


@dataclass
class Batch:
    """What one tenant's part of a group has seen so far: members, references, new rows."""

    connection: Connection
    tenant: str
    position: int  # the tenant's last position, including this group's events so far
    recorded_at: datetime  # when this group's events of the tenant are recorded
    members: dict[str, MemberProjection] = field(default_factory=dict)
    # None for a bulk import: facts are folded for the rules, and the touched members' read
    # models are rebuilt once at the end (no derived events: importing history is not news)
    projection: BatchProjection | None = None
    # field -> id -> reference, for the references this batch creates
    created: dict[str, dict[str, Reference]] = field(
        default_factory=lambda: {name: {} for name in REFERENCES}
    )
    enrollments: list[tuple[str, str, str | None]] = field(default_factory=list)
    tenant_wide: list[LedgerEvent] = field(default_factory=list)
    rows: list[StoredEvent] = field(default_factory=list)
    stepped: set[str] = field(default_factory=set)  # members whose rows this batch changes
    projector: Projector | None = None
    cache: MemberCache | None = None
    # (field, id) -> reference stored before this group (None: no such reference)
    stored: dict[tuple[str, str], Reference | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.head: int = self.position  # the tenant's head when the group began (for the cache)

    def member(self, member_id: str) -> MemberProjection:
        if member_id not in self.members:
            self.preload({member_id})
        return self.members[member_id]

    def preload(self, member_ids: set[str]) -> None:
        """Load the members a batch names directly, with a few queries instead of a few each."""
        missing = sorted(member_ids - set(self.members))
        if not missing:
            return
        if self.cache is not None and not self.tenant_wide:
            self.members.update(self._catch_up(missing))
            missing = [member for member in missing if member not in self.members]
            cached = self.cache.take(self.tenant, self.head, missing)
            self.members.update(cached)
            missing = [member for member in missing if member not in cached]
            if not missing:
                return
        loaded = load_members(self.connection, self.tenant, missing)
        if self.projector is not None:
            self.projector.restore(self.connection, self.tenant, loaded)
        for projection in loaded.values():
            for event in self.tenant_wide:  # settings changes earlier in this group
                projection.step(event) if self.projection else projection.fold(event)
        self.members.update(loaded)

    def _catch_up(self, wanted: list[str]) -> dict[str, MemberProjection]:
        """The wanted cached members another process wrote to since this one's last commit,
        stepped through what it recorded (see `MemberCache`)."""
        assert self.cache is not None
        cached_head = self.cache.head(self.tenant)
        if cached_head is None or cached_head == self.head:
            return {}
        newer = events_between(
            self.connection, self.tenant, cached_head, self.head, CATCH_UP_EVENTS
        )
        stepping = self.cache.catch_up(self.tenant, cached_head, self.head, newer, wanted)
        for member, event in newer or ():
            projection = stepping.get(member) if member is not None else None
            if projection is not None and event.position > projection.position:
                projection.step(event)
        for projection in stepping.values():
            projection.clear_changes()  # the other process emitted what these events changed
        return stepping

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

    def family_members(self, families: list[str]) -> set[str]:
        """Members enrolled in any of the families, stored or enrolled in this batch."""
        stored = self._members_tagged([tag("family", family) for family in families])
        return stored | {member for member, _, family in self.enrollments if family in families}

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


def member_of(
    batch: Batch, candidate: CandidateEvent, problems: ProblemList
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
    if candidate.type == "accumulator.opening_balance":
        return _opening_owner(batch, candidate, problems), ()
    member_id: str = data["member_id"]
    return member_id, ()


def _opening_owner(batch: Batch, candidate: CandidateEvent, problems: ProblemList) -> str | None:
    """An opening balance belongs to its member; a family's to the family's first member by id:
    family rows sum the claims of every member of the family, so one member carries it for all
    (accumulation.md 2.17)."""
    data = candidate.data
    member, family = data.get("member_id"), data.get("family_id")
    if member is not None and family is not None:
        problems.add(candidate.index, "data.family_id", "give member_id or family_id, not both")
        return None
    if member is not None:
        return str(member)
    if family is None:
        problems.add(candidate.index, "data.member_id", "required: member_id or family_id")
        return None
    members = batch.family_members([family])
    if not members:
        problems.add(candidate.index, "data.family_id", f"no member is enrolled in family {family}")
        return None
    return min(members)


def unique_references(batch: Batch, candidate: CandidateEvent, problems: ProblemList) -> bool:
    if candidate.type not in CREATES:
        return True
    name, instead = CREATES[candidate.type]
    if batch.reference(name, candidate.data[name]) is None:
        return True
    problems.add(candidate.index, f"data.{name}", instead)
    return False


def remember(
    batch: Batch,
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
