"""The member projection: steps events one at a time and keeps negative-accrual flags (pure).

Both the incremental path (one recorded batch) and `rebuild` (the whole ledger) step events through
this one class, so a rebuilt read model equals the incremental one by construction; the property
test in tests/integration/test_replay_property.py checks it on random histories.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from services.projections.core.accumulation import compute_key_of, unmatched_allocation
from services.projections.core.facts import (
    TENANT_WIDE_TYPES,
    KeyId,
    LedgerEvent,
    MemberFacts,
    grant_codes,
)
from services.projections.core.incremental import update_key_of
from services.projections.core.key_results import Allocation, KeyResult, MemberResult
from services.projections.core.matching import match_all, match_visit, visit_key
from services.projections.core.negative_accrual import (
    CAUSES,
    Flag,
    flag_cause,
    is_confirmation,
    is_reduction,
)

__all__ = ["CAUSES", "Flag", "KeyChange", "MemberProjection"]


@dataclass(frozen=True)
class _Moved:
    """The visit of a visit event as it was before: its key and service date (None: new)."""

    visit_id: str
    key: KeyId | None
    day: date | None


@dataclass(frozen=True)
class KeyChange:
    """A key an event touched, before and after (what the derived events are made of)."""

    key: KeyId
    before: KeyResult | None  # None: the key did not exist yet
    after: KeyResult
    event: LedgerEvent
    flag: Flag | None  # the key's flag after the event
    flagged: bool  # the event turned the key negative (a new flag)
    today: date  # the tenant's date when the event was recorded (section 3)


@dataclass
class MemberProjection:
    """One member's facts, the results of its keys, and its negative-accrual flags.

    `step` folds one event in and recomputes only the keys the event can change: the key of a
    visit (before and after it moved), the keys sharing a line's service code (visits may change
    lines), the keys of a payer whose settings changed. With `track_changes`, it also remembers
    which keys and visits now answer differently, so the incremental path writes only those rows.
    """

    facts: MemberFacts
    flags: dict[KeyId, Flag] = field(default_factory=dict)
    position: int = 0  # the last event folded in, tenant-wide ones included
    member_position: int = 0  # the last event of this member itself
    track_changes: bool = False
    changed_keys: set[KeyId] = field(default_factory=set)
    changed_visits: set[str] = field(default_factory=set)
    key_changes: list[KeyChange] = field(default_factory=list)  # with track_changes, in order
    _matches: dict[str, KeyId | None] | None = None
    _key_visits: dict[KeyId, set[str]] = field(default_factory=dict)
    _keys: dict[KeyId, KeyResult] = field(default_factory=dict)

    @classmethod
    def empty(cls, member_id: str, track_changes: bool = False) -> MemberProjection:
        return cls(MemberFacts(member_id), track_changes=track_changes)

    # -- results, computed on demand and kept until an event touches them ---------------------

    @property
    def matches(self) -> dict[str, KeyId | None]:
        if self._matches is None:
            self._matches = match_all(self.facts)
            self._key_visits = {}
            for visit_id, key in self._matches.items():
                if key is not None:
                    self._key_visits.setdefault(key, set()).add(visit_id)
        return self._matches

    def key_result(self, key: KeyId) -> KeyResult:
        result = self._keys.get(key)
        if result is None:
            result = self._compute(key)
            self._keys[key] = result
        return result

    def _compute(self, key: KeyId) -> KeyResult:
        self.matches  # noqa: B018 - fills the visits of each key
        visits = [self.facts.visits[visit_id] for visit_id in self._key_visits.get(key, ())]
        return compute_key_of(self.facts, key, visits)

    def _recompute(
        self, key: KeyId, old: KeyResult | None, moved: _Moved | None
    ) -> tuple[KeyResult, frozenset[str] | None]:
        """The key after an event, and the visits whose allocation was drawn again (None: all).
        When only a visit changed, only the periods it touches are walked again (update_key):
        the cost of one more visit does not grow with the member's history."""
        if old is not None and moved is not None:
            visit = self.facts.visits[moved.visit_id]
            update = update_key_of(
                self.facts,
                key,
                old,
                {moved.visit_id: moved.day} if moved.key == key and moved.day is not None else {},
                [visit] if self.matches.get(moved.visit_id) == key else [],
            )
            if update is not None:
                return update.result, update.walked
        return self._compute(key), None

    @property
    def result(self) -> MemberResult:
        """Every key and visit (what compute_member gives for the same facts)."""
        matches = self.matches
        keys = {key: self.key_result(key) for key in self.facts.key_ids()}
        unmatched = {
            visit_id: unmatched_allocation(self.facts, self.facts.visits[visit_id])
            for visit_id, key in matches.items()
            if key is None
        }
        return MemberResult(keys=keys, unmatched=unmatched, matches=matches)

    def allocation(self, visit_id: str) -> Allocation:
        key = self.matches[visit_id]
        if key is None:
            return unmatched_allocation(self.facts, self.facts.visits[visit_id])
        return self.key_result(key).visits.get(visit_id, Allocation())

    # -- folding events ------------------------------------------------------------------------

    def fold(self, event: LedgerEvent) -> None:
        """Fold one event into the facts without computing anything (flags are not kept), but
        the allocation a billing freezes (2.11)."""
        assert event.position > self.position, "events must be folded in ledger order"
        self._apply(event)
        self.position = event.position
        if event.type not in TENANT_WIDE_TYPES:
            self.member_position = event.position
        if event.type != "visit.billed":  # billing changes no key: the results stay valid
            self._matches = None
            self._keys = {}

    def _apply(self, event: LedgerEvent) -> None:
        """Apply an event to the facts; a billing freezes its visit's key and allocation as they
        stand before it (billing itself changes neither)."""
        if event.type != "visit.billed":
            self.facts.apply(event)
            return
        visit_id = event.data["visit_id"]
        key, allocation = self.matches[visit_id], self.allocation(visit_id)
        self.facts.apply(event)
        visit = self.facts.visits[visit_id]
        assert visit.billed is not None, "the billing was applied"
        frozen = (allocation[0], allocation[1], allocation[2], allocation[3])
        visit.billed = replace(visit.billed, key=key, allocation=frozen)

    def step(self, event: LedgerEvent) -> None:
        """Fold one event in; flag keys it turned negative, clear keys it made whole."""
        assert event.position > self.position, "events must be stepped in ledger order"
        reduction = is_reduction(self.facts, event)
        confirming = is_confirmation(self.facts, event)
        self.matches  # noqa: B018 - the matches before the event, to see which visits move
        before = self._keys_before(event)
        moved = self._visit_before(event)
        if self.track_changes:
            for key in before:
                self.key_result(key)  # the old answer, to tell which visits changed
        self._apply(event)
        self.position = event.position
        if event.type not in TENANT_WIDE_TYPES:
            self.member_position = event.position
        touched = before | self._rematch(event)
        for key in sorted(touched):
            old = self._keys.get(key)
            result, walked = self._recompute(key, old, moved)
            self._keys[key] = result
            flagged = result.negative and key not in self.flags
            if not result.negative:
                self.flags.pop(key, None)
            elif flagged:
                cause = flag_cause(self.facts, event, result, reduction, confirming)
                self.flags[key] = Flag(cause, event.event_id, event.position)
            if self.track_changes:
                self._note_changes(key, old, result, walked)
                today = self.facts.local_date(event.recorded_at)
                change = KeyChange(key, old, result, event, self.flags.get(key), flagged, today)
                self.key_changes.append(change)

    def clear_changes(self) -> None:
        self.changed_keys = set()
        self.changed_visits = set()
        self.key_changes = []

    def _note_changes(
        self, key: KeyId, old: KeyResult | None, new: KeyResult, walked: frozenset[str] | None
    ) -> None:
        """The key and the visits whose answer changed (only `walked` ones may have, if given)."""
        self.changed_keys.add(key)
        visit_ids = new.visits if walked is None else walked
        for visit_id in visit_ids:
            allocation = new.visits[visit_id]
            before = old.visits.get(visit_id) if old is not None else None
            # compared as stored text: Decimal("0") == Decimal("0.0"), but they read differently
            if before is None or list(map(str, before)) != list(map(str, allocation)):
                self.changed_visits.add(visit_id)

    def _keys_before(self, event: LedgerEvent) -> set[KeyId]:
        """The keys whose inputs the event changes, judged before it is applied."""
        data = event.data
        if event.type.startswith("coverage."):
            if self.track_changes:  # the visits' not_eligible may change
                self.changed_visits.update(
                    visit.visit_id
                    for visit in self.facts.visits.values()
                    if visit.payer_id == data["payer_id"]
                )
            return set()
        if event.type == "accumulation.opening_balance":
            return {(data["authorization_number"], data["service_code"])}
        if event.type == "payer.settings_changed":
            payer_id = data["payer_id"]
            if self.track_changes:  # unauthorized ones, and clocked ones whose units may change
                self.changed_visits.update(
                    visit_id
                    for visit_id, key in self.matches.items()
                    if self.facts.visits[visit_id].payer_id == payer_id
                    and (key is None or self.facts.visits[visit_id].clock_in is not None)
                )
            # a clocked visit's units follow its own payer's settings, and a visit naming an
            # authorization number may draw from a key of another payer (2.2, 2.12)
            clocked = {
                key
                for visit_id, key in self.matches.items()
                if key is not None
                and self.facts.visits[visit_id].payer_id == payer_id
                and self.facts.visits[visit_id].clock_in is not None
            }
            return clocked | {
                key
                for key in self.facts.key_ids()
                if self.facts.key_lines(key)[-1].payer_id == payer_id
            }
        codes = _line_codes(self.facts, event)
        if codes is not None:
            return _keys_serving(self.facts, codes)
        if event.type.startswith("visit."):
            keys: set[KeyId] = set()
            current = self.matches.get(data["visit_id"])
            if current is not None:
                keys.add(current)
            upcoming = self._upcoming_key(event)
            if upcoming is not None:
                keys.add(upcoming)
            return keys
        return set()

    def _visit_before(self, event: LedgerEvent) -> _Moved | None:
        """For a visit event, judged before it is applied: its visit's key and date."""
        if not event.type.startswith("visit."):
            return None
        visit_id = event.data["visit_id"]
        visit = self.facts.visits.get(visit_id)
        return _Moved(visit_id, self.matches.get(visit_id), visit.service_date if visit else None)

    def _upcoming_key(self, event: LedgerEvent) -> KeyId | None:
        """The key a visit will match once the event is applied (for its old answer)."""
        data = event.data
        visit = self.facts.visits.get(data["visit_id"])
        if visit is None:
            if "service_code" not in data:
                return None
            payer_id, code = data["payer_id"], data["service_code"]
            number = data.get("authorization_number")
        else:
            payer_id, code, number = visit.payer_id, visit.service_code, visit.authorization_number
        day = event.day_or_none("service_date")
        service_date = day if day is not None else visit.service_date if visit else None
        if service_date is None:
            return None
        return match_visit(self.facts.lines.values(), payer_id, code, service_date, number)

    def _rematch(self, event: LedgerEvent) -> set[KeyId]:
        """Match again the visits the event may move; the keys they left or joined."""
        matches = self.matches
        codes = _line_codes(self.facts, event)
        if codes is not None:
            visit_ids = [v.visit_id for v in self.facts.visits.values() if v.service_code in codes]
            touched = _keys_serving(self.facts, codes)
        elif event.type.startswith("visit."):
            visit_ids = [event.data["visit_id"]]
            touched = set()
            if self.track_changes:
                self.changed_visits.add(event.data["visit_id"])
        else:
            return set()
        lines = list(self.facts.lines.values())
        for visit_id in visit_ids:
            visit = self.facts.visits[visit_id]
            old = matches.get(visit_id)
            new = visit_key(lines, visit)
            if old == new and visit_id in matches:
                continue
            matches[visit_id] = new
            if old is not None:
                self._key_visits[old].discard(visit_id)
                touched.add(old)
            if new is not None:
                self._key_visits.setdefault(new, set()).add(visit_id)
                touched.add(new)
            if self.track_changes:
                self.changed_visits.add(visit_id)
        return touched


def _line_codes(facts: MemberFacts, event: LedgerEvent) -> frozenset[str] | None:
    """The visits' service codes the line(s) of an authorization event serve: its own code, or
    a pool's codes (None for other events)."""
    data = event.data
    if event.type == "authorization.granted":
        return frozenset(grant_codes(data)[1])
    if event.type == "authorization.service_removed":
        key = (data["authorization_number"], data["service_code"])
        return frozenset(code for line in facts.key_lines(key) for code in line.service_codes) | {
            data["service_code"]
        }
    if event.type in ("authorization.amended", "authorization.voided"):
        line = facts.lines.get(data["authorization_id"])
        return frozenset(line.service_codes) if line is not None else None
    return None


def _keys_serving(facts: MemberFacts, codes: frozenset[str]) -> set[KeyId]:
    """The keys whose lines serve any of the codes: where their visits may match."""
    return {line.key for line in facts.lines.values() if codes.intersection(line.service_codes)}
