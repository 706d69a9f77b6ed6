"""The incremental member projection equals recomputing everything after every event.

`MemberProjection.step` recomputes only the keys an event can change and, tracking changes, hands
out only the rows that changed. The reference here recomputes the whole member after every event
(`compute_member`) and keeps flags on every key, as the rules read (2.7). Random histories come
from the replay property test's generator; events the ledger would refuse are skipped.

Below that, one key: `update_key` walks again only the periods a visit change can move, and must
give what `compute_key` gives from scratch, to the text of the stored body.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ledger.errors import ProblemList
from services.ledger.rules import check_event
from services.ledger.validation import validate_batch
from services.projections.core.accumulation import compute_key, compute_member
from services.projections.core.facts import (
    KeyId,
    LedgerEvent,
    Line,
    MemberFacts,
    PayerSettings,
    Visit,
)
from services.projections.core.incremental import update_key
from services.projections.core.member import Flag, MemberProjection
from services.projections.core.negative_accrual import flag_cause, is_confirmation, is_reduction
from services.projections.core.serialize import changed_rows, key_body, member_rows
from services.projections.runner import replay
from tests.integration.test_replay_property import histories


@dataclass
class Reference:
    """The rules read literally: every key recomputed after every event."""

    facts: MemberFacts
    flags: dict[KeyId, Flag] = field(default_factory=dict)

    def step(self, event: LedgerEvent) -> None:
        reduction = is_reduction(self.facts, event)
        confirming = is_confirmation(self.facts, event)
        frozen = _frozen_before(self.facts, event)
        self.facts.apply(event)
        if frozen is not None:  # a billing freezes the visit's key and allocation (2.11)
            visit_id, key, allocation = frozen
            billed = self.facts.visits[visit_id].billed
            assert billed is not None
            self.facts.visits[visit_id].billed = replace(billed, key=key, allocation=allocation)
        for key, result in compute_member(self.facts).keys.items():
            if not result.negative:
                self.flags.pop(key, None)
            elif key not in self.flags:
                cause = flag_cause(self.facts, event, result, reduction, confirming)
                self.flags[key] = Flag(cause, event.event_id, event.position)


def _frozen_before(
    facts: MemberFacts, event: LedgerEvent
) -> tuple[str, KeyId | None, tuple[Decimal, Decimal, Decimal, Decimal]] | None:
    """For a billing: its visit's key and allocation as the rules give them before it (2.11)."""
    if event.type != "visit.billed":
        return None
    visit_id = event.data["visit_id"]
    result = compute_member(facts)
    key = result.matches[visit_id]
    allocation = result.unmatched[visit_id] if key is None else result.keys[key].visits[visit_id]
    return visit_id, key, (allocation[0], allocation[1], allocation[2], allocation[3])


@dataclass
class StoredRows:
    """Rows written the incremental way: each step's changed rows over the earlier ones."""

    position: int = 0
    flags: str = "[]"
    keys: dict[tuple[str, str], tuple[str, str, int, str]] = field(default_factory=dict)
    visits: dict[str, str] = field(default_factory=dict)

    def write(self, projection: MemberProjection) -> None:
        rows = changed_rows(projection)
        self.position, self.flags = rows.position, rows.flags
        self.keys.update({(row[0], row[1]): row for row in rows.keys})
        self.visits.update(dict(rows.visits))

    def equal_to_full(self, projection: MemberProjection) -> bool:
        full = member_rows(projection)
        return (
            (self.position, self.flags) == (full.position, full.flags)
            and tuple(self.keys[k] for k in sorted(self.keys)) == full.keys
            and tuple(sorted(self.visits.items())) == full.visits
        )


def _member_of(event_type: str, data: dict[str, object], owners: dict[str, str]) -> str | None:
    if event_type == "payer.settings_changed":
        return None
    if "member_id" in data:
        return str(data["member_id"])
    reference = data.get("authorization_id") or data.get("visit_id")
    return owners.get(str(reference))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories())
def test_stepping_touched_keys_equals_recomputing_every_key(history) -> None:
    members, steps = history
    incremental = {m: MemberProjection.empty(m, track_changes=True) for m in members}
    reference = {m: Reference(MemberFacts(m)) for m in members}
    stored = {m: StoredRows() for m in members}
    events: dict[str, list[LedgerEvent]] = {m: [] for m in members}
    owners: dict[str, str] = {}
    position, now = 0, datetime(2026, 1, 1, tzinfo=UTC)
    checked = 0
    for raw, _, hours in steps:
        now += timedelta(hours=hours)
        (candidate,) = validate_batch({"events": [raw]})
        data = candidate.data
        member = _member_of(candidate.type, data, owners)
        if member is None and candidate.type != "payer.settings_changed":
            continue  # a reference the ledger would refuse as unknown
        targets = [member] if member is not None else list(members)
        problems = ProblemList()
        for target in targets:
            check_event(incremental[target].facts, 0, candidate.type, data, problems)
        if problems.problems:
            continue
        if member is not None and candidate.type in ("visit.scheduled", "visit.confirmed"):
            owners.setdefault(data["visit_id"], member)
        if candidate.type == "authorization.granted" and member is not None:
            if data["authorization_id"] in owners:
                continue  # granted twice: refused by the ledger
            owners[data["authorization_id"]] = member
        position += 1
        event = LedgerEvent(position, candidate.event_id, candidate.type, data, now)
        for target in targets:
            incremental[target].step(event)
            reference[target].step(event)
            events[target].append(event)
            projection = incremental[target]
            assert projection.result == compute_member(projection.facts)
            assert projection.flags == reference[target].flags
            stored[target].write(projection)
            assert stored[target].equal_to_full(projection)
            checked += 1
    for member in members:
        rebuilt = replay(member, events[member])
        assert member_rows(rebuilt) == member_rows(incremental[member])
    assert checked > 0


# --- one key: update_key against compute_key --------------------------------------------------

KEY_LINE = Line(
    "L1", "A-1", "m-1", "p-1", "T1", "week", Decimal(6), date(2026, 1, 4), date(2026, 3, 28)
)
DAYS = [KEY_LINE.start_date + timedelta(days=offset) for offset in range(84)]


@st.composite
def visit_changes(draw: st.DrawFn) -> tuple[PayerSettings, list[Visit], list[tuple[int, Visit]]]:
    """Settings, the key's visits, then changes: (index of the visit replaced, its new state);
    an index past the list adds a visit. Dense enough that periods are overdrawn."""
    settings = PayerSettings(
        allow_accumulation=draw(st.booleans()),
        include_scheduled_units=draw(st.booleans()),
        exclude_missed_days=draw(st.booleans()),
    )
    units = st.sampled_from([Decimal(u) for u in ("0", "1", "2", "3", "2.5", "4.0")])
    statuses = st.sampled_from(["scheduled", "confirmed", "missed", "cancelled"])

    def visit(number: int) -> Visit:
        return Visit(
            f"v{number}", "m-1", "p-1", "T1", draw(st.sampled_from(DAYS)), draw(units), None,
            draw(statuses), number,
        )  # fmt: skip

    visits = [visit(number) for number in range(draw(st.integers(0, 40)))]
    changes = []
    for step in range(draw(st.integers(1, 12))):
        index = draw(st.integers(0, len(visits) + len(changes)))
        changes.append((index, visit(100 + step)))
    return settings, visits, changes


@settings(max_examples=300, deadline=None)
@given(case=visit_changes())
def test_updating_a_key_after_a_visit_changed_equals_computing_it_again(case) -> None:
    settings_, visits, changes = case
    current = {visit.visit_id: visit for visit in visits}
    result = compute_key(KEY_LINE.key, [KEY_LINE], visits, settings_)
    for index, changed in changes:
        ids = list(current)
        if index < len(ids):  # the visit `ids[index]` changes: same id, new date, units, status
            old = current[ids[index]]
            changed = replace(changed, visit_id=old.visit_id, first_position=old.first_position)
            left = {old.visit_id: old.service_date}
        else:
            left = {}
        current[changed.visit_id] = changed
        update = update_key(result, [KEY_LINE], settings_, current, left, [changed])
        assert update is not None  # every date lies inside the line's dates
        full = compute_key(KEY_LINE.key, [KEY_LINE], list(current.values()), settings_)
        assert update.result == full
        assert key_body(update.result, None) == key_body(full, None)  # the same text too
        unwalked = set(current) - update.walked
        assert all(result.visits.get(v) == full.visits[v] for v in unwalked - set(left))
        result = update.result
