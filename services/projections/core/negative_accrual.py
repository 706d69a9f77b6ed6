"""Negative accrual (accumulation.md 2.7): the flag of a key whose raw balance went negative, and
the cause of the event that turned it (pure; judged by `member.MemberProjection.step`)."""

from __future__ import annotations

from dataclasses import dataclass

from services.projections.core.facts import LedgerEvent, MemberFacts
from services.projections.core.key_results import KeyResult

CAUSES = ("authorization_reduction", "service_code_removed", "backdated_confirmation", "overuse")


@dataclass(frozen=True)
class Flag:
    """Why a key's raw balance went negative: the event that turned it and one cause (2.7)."""

    cause: str
    event_id: str
    position: int


def is_reduction(facts: MemberFacts, event: LedgerEvent) -> bool:
    """An amendment lowering units or shortening dates, or a void (judged before it is applied)."""
    if event.type == "authorization.voided":
        return True
    if event.type != "authorization.amended":
        return False
    line = facts.lines[event.data["authorization_id"]]
    units = event.amount_or_none("units")
    start, end = event.day_or_none("start_date"), event.day_or_none("end_date")
    lower = units is not None and units < line.units
    later_start = start is not None and start > line.start_date
    earlier_end = end is not None and end < line.end_date
    return lower or later_start or earlier_end


def is_confirmation(facts: MemberFacts, event: LedgerEvent) -> bool:
    """A confirmation, or raised units on a confirmed visit (judged before it is applied)."""
    if event.type == "visit.confirmed":
        return True
    if event.type != "visit.rescheduled" or event.data.get("units") is None:
        return False
    visit = facts.visits[event.data["visit_id"]]
    return visit.status == "confirmed" and event.amount("units") > visit.units


def flag_cause(
    facts: MemberFacts, event: LedgerEvent, key_result: KeyResult, reduction: bool, confirming: bool
) -> str:
    """The one cause of a new flag; `reduction` and `confirming` as judged before the event."""
    if reduction:
        return "authorization_reduction"
    if event.type == "authorization.service_removed":
        return "service_code_removed"
    if confirming and event.data["visit_id"] in key_result.visits:
        service_date = facts.visits[event.data["visit_id"]].service_date
        period = next(p for p in key_result.periods if p.start <= service_date <= p.end)
        if period.end < facts.local_date(event.recorded_at):  # the tenant's day (section 3)
            return "backdated_confirmation"
    return "overuse"
