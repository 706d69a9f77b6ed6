"""Rules an event must meet against the member's current facts before it may be recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from services.ledger.errors import ProblemList
from services.projections.core.claim_schedules import schedule_of_claim_data
from services.projections.core.claims import Schedule
from services.projections.core.facts import MemberFacts, grant_codes
from services.projections.core.periods import MAX_PERIODS

Check = Callable[[MemberFacts, int, dict[str, Any], ProblemList], None]
NEW_VISIT_FIELDS = ("member_id", "payer_id", "service_code", "service_date", "units")
# a key's periods are computed whole: a daily key may span at most this many days (about 54
# years; weekly and monthly keys cannot exceed it within the dates the ledger holds)
MAX_DAILY_SPAN_DAYS = MAX_PERIODS - 1


def _span_problem(
    facts: MemberFacts,
    key: tuple[str, str],
    frequency: str,
    start: date,
    end: date,
    skip: str | None = None,
) -> str | None:
    """Why the key's lines, with one line now spanning start..end, would cover too many days."""
    if frequency != "day":
        return None
    lines = facts.key_lines(key)
    first = min([start, *(line.covered_from or line.start_date for line in lines)])
    last = max([end, *(line.covered_to or line.end_date for line in lines)])
    if (last - first).days <= MAX_DAILY_SPAN_DAYS:
        return None
    return (
        f"the daily key {key[0]} / {key[1]} would span {first} to {last}; a daily key spans "
        f"at most {MAX_DAILY_SPAN_DAYS} days"
    )


def _pool_problem(facts: MemberFacts, data: dict[str, Any]) -> tuple[str, str] | None:
    """A code belongs to at most one key per authorization number and member (2.13), and the
    lines of one key serve the same codes. (field, problem) when the grant breaks either."""
    number = data["authorization_number"]
    code, codes = grant_codes(data)
    field = "data.service_codes" if "pool" in data else "data.service_code"
    for line in facts.lines.values():
        if line.authorization_number != number:
            continue
        if line.service_code == code and set(line.service_codes) != set(codes):
            listed = ", ".join(line.service_codes)
            return field, f"{number} / {code} already serves {listed}; its lines share their codes"
        shared = sorted(set(codes) & set(line.service_codes))
        if line.service_code != code and shared:
            return (
                field,
                f"{shared[0]} already belongs to {number} / {line.service_code}; a service code "
                "belongs to at most one key per authorization number",
            )
    return None


def _granted(facts: MemberFacts, index: int, data: dict[str, Any], problems: ProblemList) -> None:
    key = (data["authorization_number"], grant_codes(data)[0])
    pool_problem = _pool_problem(facts, data)
    if pool_problem is not None:
        problems.add(index, *pool_problem)
        return
    frequencies = {line.frequency for line in facts.key_lines(key) if line.active}
    if frequencies and data["frequency"] not in frequencies:
        problems.add(
            index,
            "data.frequency",
            f"authorization {key[0]} / {key[1]} already has {sorted(frequencies)[0]} lines; "
            "all active lines of one key share one frequency",
        )
        return
    start, end = date.fromisoformat(data["start_date"]), date.fromisoformat(data["end_date"])
    too_long = _span_problem(facts, key, data["frequency"], start, end)
    if too_long is not None:
        problems.add(index, "data.end_date", too_long)


def _amended(facts: MemberFacts, index: int, data: dict[str, Any], problems: ProblemList) -> None:
    line = facts.lines[data["authorization_id"]]
    if not line.active:
        problems.add(index, "data.authorization_id", f"the authorization line is {line.status}")
        return
    start = date.fromisoformat(data["start_date"]) if "start_date" in data else line.start_date
    end = date.fromisoformat(data["end_date"]) if "end_date" in data else line.end_date
    if end < start:
        problems.add(
            index, "data.end_date", f"the line would end ({end}) before it starts ({start})"
        )
        return
    too_long = _span_problem(facts, line.key, line.frequency, start, end)  # covered stays
    if too_long is not None:
        problems.add(index, "data.end_date", too_long)


def _voided(facts: MemberFacts, index: int, data: dict[str, Any], problems: ProblemList) -> None:
    line = facts.lines[data["authorization_id"]]
    if not line.active:
        problems.add(
            index, "data.authorization_id", f"the authorization line is already {line.status}"
        )


def _service_removed(
    facts: MemberFacts, index: int, data: dict[str, Any], problems: ProblemList
) -> None:
    number, code = data["authorization_number"], data["service_code"]
    lines = facts.key_lines((number, code))
    pools = sorted({line.service_code for line in facts.lines.values() if line.serves(code)})
    if not lines and pools and any(facts.key_lines((number, pool)) for pool in pools):
        pool = next(pool for pool in pools if facts.key_lines((number, pool)))
        problems.add(
            index,
            "data.service_code",
            f"{code} is shared in pool {pool} of {number}: remove the pool by its name",
        )
    elif not lines:
        problems.add(
            index,
            "data.authorization_number",
            "no authorization with this number and service code for the member",
        )
    elif not any(line.active for line in lines):
        problems.add(index, "data.service_code", "the service code was already removed")


def _confirmed(facts: MemberFacts, index: int, data: dict[str, Any], problems: ProblemList) -> None:
    visit = facts.visits.get(data["visit_id"])
    if visit is not None and visit.billed is not None:
        _visit_changed(facts, index, data, problems)
        return
    if visit is None:
        for name in NEW_VISIT_FIELDS:
            if name not in data and not (name == "units" and "clock_in" in data):
                problem = "required to confirm a visit never scheduled"
                problems.add(
                    index, f"data.{name}", problem + (" (or clock times)" * (name == "units"))
                )
        return
    for name in ("member_id", "payer_id", "service_code", "authorization_number"):
        if name in data and data[name] != getattr(visit, name):
            problems.add(index, f"data.{name}", f"differs from the scheduled visit's {name}")


def _billed_problem(facts: MemberFacts, visit_id: str) -> str | None:
    """Why a visit may not change: it was billed, and its allocation is frozen (2.11)."""
    visit = facts.visits.get(visit_id)
    if visit is None or visit.billed is None:
        return None
    claim = visit.billed.claim_reference
    on = f" on claim {claim}" if claim else ""
    return (
        f"visit {visit_id} was billed{on} at position {visit.billed.position}; a billed visit "
        "cannot change (its allocation is frozen)"
    )


def _visit_changed(
    facts: MemberFacts, index: int, data: dict[str, Any], problems: ProblemList
) -> None:
    problem = _billed_problem(facts, data["visit_id"])
    if problem is not None:
        problems.add(index, "data.visit_id", problem)


def _billed(facts: MemberFacts, index: int, data: dict[str, Any], problems: ProblemList) -> None:
    """Only a confirmed visit goes out on a claim, and only once (decisions, rules 2.11)."""
    visit = facts.visits[data["visit_id"]]
    if visit.billed is not None:
        claim = visit.billed.claim_reference
        on = f" on claim {claim}" if claim else ""
        problems.add(
            index,
            "data.visit_id",
            f"visit {visit.visit_id} was already billed{on} at position {visit.billed.position}",
        )
    elif visit.status != "confirmed":
        problems.add(
            index,
            "data.visit_id",
            f"visit {visit.visit_id} is {visit.status}; only a confirmed visit can be billed",
        )


def _accumulation_opening(
    facts: MemberFacts, index: int, data: dict[str, Any], problems: ProblemList
) -> None:
    """An opening balance continues a key the ledger knows, of the payer it names (2.17)."""
    number, code = data["authorization_number"], data["service_code"]
    lines = facts.key_lines((number, code))
    if not lines:
        problems.add(
            index,
            "data.service_code",
            f"no authorization {number} with service code or pool {code} for the member",
        )
    elif lines[-1].payer_id != data["payer_id"]:
        problems.add(
            index, "data.payer_id", f"{number} / {code} is authorized by {lines[-1].payer_id}"
        )


def _coverage_started(
    facts: MemberFacts, index: int, data: dict[str, Any], problems: ProblemList
) -> None:
    spans = facts.coverage.get(data["payer_id"], [])
    if spans and spans[-1].end is None:
        problems.add(
            index,
            "data.date",
            f"coverage by {data['payer_id']} started on {spans[-1].start} and has not ended",
        )


def _coverage_ended(
    facts: MemberFacts, index: int, data: dict[str, Any], problems: ProblemList
) -> None:
    spans = facts.coverage.get(data["payer_id"], [])
    if not spans or spans[-1].end is not None:
        problems.add(index, "data.payer_id", f"no open coverage by {data['payer_id']} to end")
        return
    end = date.fromisoformat(data["date"])
    if end < spans[-1].start:
        start = spans[-1].start
        problem = f"the coverage would end ({end}) before it starts ({start})"
        problems.add(index, "data.date", problem)


def _enrolled(facts: MemberFacts, index: int, data: dict[str, Any], problems: ProblemList) -> None:
    if data["schedule_id"] not in facts.schedules:
        problems.add(index, "data.schedule_id", f"unknown schedule {data['schedule_id']}")


def claim_line_problems(
    schedule: Schedule, index: int, lines: list[dict[str, Any]], problems: ProblemList
) -> None:
    """The codes each line applies are the claim's schedule's (for its network, with the illness
    or tooth an accumulator is kept per)."""
    for number, line in enumerate(lines):
        network = line.get("network", "in")
        for position, applied in enumerate(line.get("applied", ())):
            code = applied["accumulator_code"]
            field = f"data.lines.{number}.applied.{position}.accumulator_code"
            accumulator = schedule.accumulator(code)
            if accumulator is None:
                problem = f"no accumulator {code} in schedule {schedule.schedule_id}"
            elif accumulator.network not in ("any", network):
                problem = (
                    f"{code} is kept for {accumulator.network}-network lines; the line is {network}"
                )
            elif accumulator.per is not None and line.get(accumulator.per) is None:
                problem = (
                    f"{code} is kept per {accumulator.per}: the line names no {accumulator.per}"
                )
            else:
                continue
            problems.add(index, field, problem)


def claim_problems(
    facts: MemberFacts, index: int, data: dict[str, Any], problems: ProblemList
) -> str | None:
    """A new claim counts in exactly one schedule (4.1) and applies that schedule's codes; the
    schedule's id, or None when the claim is refused."""
    choice = schedule_of_claim_data(facts.enrollments, facts.schedules, data)
    if choice.problem is not None or choice.schedule_id is None:
        problems.add(index, f"data.{choice.field}", choice.problem or "no schedule")
        return None
    before = len(problems.problems)
    claim_line_problems(facts.schedules[choice.schedule_id], index, data["lines"], problems)
    return choice.schedule_id if len(problems.problems) == before else None


def _claim_adjudicated(
    facts: MemberFacts, index: int, data: dict[str, Any], problems: ProblemList
) -> None:
    claim_problems(facts, index, data, problems)


def _claim_changed(
    facts: MemberFacts, index: int, data: dict[str, Any], problems: ProblemList
) -> None:
    claim = facts.claims[data["claim_id"]]
    if claim.voided:
        problems.add(index, "data.claim_id", "the claim is voided")
    elif "lines" in data:  # an adjustment keeps the claim's schedule
        schedule = facts.schedules.get(claim.schedule_id) if claim.schedule_id else None
        if schedule is None:
            problems.add(index, "data.claim_id", "the claim counts in no schedule")
        else:
            claim_line_problems(schedule, index, data["lines"], problems)


def _accumulator_opening(
    facts: MemberFacts, index: int, data: dict[str, Any], problems: ProblemList
) -> None:
    """The figure names an accumulator of a known schedule, at its level, with the illness or
    tooth it is kept per (accumulation.md 2.17)."""
    schedule = facts.schedules.get(data["schedule_id"])
    if schedule is None:
        problems.add(index, "data.schedule_id", f"unknown schedule {data['schedule_id']}")
        return
    code = data["accumulator_code"]
    accumulator = schedule.accumulator(code)
    if accumulator is None:
        problem = f"no accumulator {code} in schedule {schedule.schedule_id}"
        problems.add(index, "data.accumulator_code", problem)
        return
    if accumulator.level == "family" and "family_id" not in data:
        problems.add(index, "data.member_id", f"{code} is a family accumulator: give family_id")
    if accumulator.level != "family" and "family_id" in data:
        problems.add(index, "data.family_id", f"{code} is kept per member: give member_id")
    for kept in ("illness", "tooth"):
        if accumulator.per == kept and kept not in data:
            problems.add(index, f"data.{kept}", f"{code} is kept per {kept}: name the {kept}")
        elif accumulator.per != kept and kept in data:
            problems.add(index, f"data.{kept}", f"{code} is not kept per {kept}")


CHECKS: dict[str, Check] = {
    "accumulator.opening_balance": _accumulator_opening,
    "member.enrolled": _enrolled,
    "claim.adjudicated": _claim_adjudicated,
    "claim.status_changed": _claim_changed,
    "claim.adjusted": _claim_changed,
    "claim.voided": _claim_changed,
    "coverage.started": _coverage_started,
    "coverage.ended": _coverage_ended,
    "authorization.granted": _granted,
    "authorization.amended": _amended,
    "authorization.voided": _voided,
    "authorization.service_removed": _service_removed,
    "visit.confirmed": _confirmed,
    "visit.rescheduled": _visit_changed,
    "visit.missed": _visit_changed,
    "visit.cancelled": _visit_changed,
    "visit.billed": _billed,
    "accumulation.opening_balance": _accumulation_opening,
}


def check_event(
    facts: MemberFacts, index: int, event_type: str, data: dict[str, Any], problems: ProblemList
) -> bool:
    """Add every problem of one event against the member's facts; True when it may be recorded."""
    before = len(problems.problems)
    check = CHECKS.get(event_type)
    if check is not None:
        check(facts, index, data, problems)
    return len(problems.problems) == before
