"""The member projection: steps events one at a time and keeps negative-accrual flags (pure).

Both the incremental path (one recorded batch) and `rebuild` (the whole ledger) step events through
this one class, so a rebuilt read model equals the incremental one by construction; the property
test in tests/integration/test_replay_property.py checks it on random histories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from services.projections.accumulation import KeyResult, MemberResult, compute_member
from services.projections.facts import KeyId, LedgerEvent, MemberFacts

CAUSES = ("authorization_reduction", "service_code_removed", "backdated_confirmation", "overuse")


@dataclass(frozen=True)
class Flag:
    """Why a key's raw balance went negative: the event that turned it and one cause (2.7)."""

    cause: str
    event_id: str
    position: int


@dataclass
class MemberProjection:
    facts: MemberFacts
    flags: dict[KeyId, Flag] = field(default_factory=dict)
    position: int = 0  # the last event stepped, tenant-wide ones included
    member_position: int = 0  # the last event of this member itself
    _result: MemberResult | None = None

    @classmethod
    def empty(cls, member_id: str) -> MemberProjection:
        return cls(MemberFacts(member_id))

    @property
    def result(self) -> MemberResult:
        if self._result is None:
            self._result = compute_member(self.facts)
        return self._result

    def step(self, event: LedgerEvent) -> None:
        """Fold one event in; flag keys it turned negative, clear keys it made whole."""
        assert event.position > self.position, "events must be stepped in ledger order"
        reduction = _is_reduction(self.facts, event)
        confirming = _is_confirmation(self.facts, event)
        self.facts.apply(event)
        self.position = event.position
        if event.type != "payer.settings_changed":
            self.member_position = event.position
        self._result = compute_member(self.facts)
        for key, key_result in self._result.keys.items():
            if not key_result.negative:
                self.flags.pop(key, None)
            elif key not in self.flags:
                cause = _cause(self.facts, event, key_result, reduction, confirming)
                self.flags[key] = Flag(cause, event.event_id, event.position)
        for key in set(self.flags) - set(self._result.keys):
            del self.flags[key]


def _is_reduction(facts: MemberFacts, event: LedgerEvent) -> bool:
    """An amendment lowering units or shortening dates, or a void (judged before it is applied)."""
    if event.type == "authorization.voided":
        return True
    if event.type != "authorization.amended":
        return False
    line = facts.lines[event.data["authorization_id"]]
    data = event.data
    lower = data.get("units") is not None and Decimal(data["units"]) < line.units
    later_start = data.get("start_date") is not None and (
        date.fromisoformat(data["start_date"]) > line.start_date
    )
    earlier_end = data.get("end_date") is not None and (
        date.fromisoformat(data["end_date"]) < line.end_date
    )
    return lower or later_start or earlier_end


def _is_confirmation(facts: MemberFacts, event: LedgerEvent) -> bool:
    """A confirmation, or raised units on a confirmed visit (judged before it is applied)."""
    if event.type == "visit.confirmed":
        return True
    if event.type != "visit.rescheduled" or event.data.get("units") is None:
        return False
    visit = facts.visits[event.data["visit_id"]]
    return visit.status == "confirmed" and Decimal(event.data["units"]) > visit.units


def _cause(
    facts: MemberFacts, event: LedgerEvent, key_result: KeyResult, reduction: bool, confirming: bool
) -> str:
    if reduction:
        return "authorization_reduction"
    if event.type == "authorization.service_removed":
        return "service_code_removed"
    if confirming and event.data["visit_id"] in key_result.visits:
        service_date = facts.visits[event.data["visit_id"]].service_date
        period = next(p for p in key_result.periods if p.start <= service_date <= p.end)
        if period.end < event.recorded_at.date():
            return "backdated_confirmation"
    return "overuse"
