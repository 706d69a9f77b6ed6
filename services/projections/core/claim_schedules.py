"""Which schedule a claim counts in, and which schedules an answer shows (pure; spec 4.1).

A claim counts in exactly one schedule, decided when it is adjudicated (an adjustment keeps it):
the `schedule_id` it names (a schedule of its plan type), else the schedule of the member's
enrollment of its plan type on its first line's from-date (the earliest from-date). Where
enrollments in two schedules of that plan type cover that date, the claim must name its schedule
and is refused otherwise. Where none covers it, the claim was paid while the member was not
eligible: it counts in the member's most recent enrollment of the plan type (the one that ended
last before the date; for a date before every enrollment, the first one after it), and its lines
show `eligible: false`. A member with no enrollment of the plan type at all must name the
schedule. An enrollment is in force on the days inside both its own dates and its schedule's.

An answer for an effective date E shows the schedules the member is enrolled in on E (eligible),
then those in force on E in which a counted claim of the member has a line in the period holding
E although the member is not enrolled on E (not eligible). Without an explicit date, E is today
when the member is enrolled today (in the plans asked for), else the last day of its most recent
enrollment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.projections.core.benefits import in_period
from services.projections.core.claims import Claim, Enrollment, Schedule, enrollment_on


@dataclass(frozen=True)
class Span:
    """The days an enrollment is in force: inside its own dates and its schedule's."""

    enrollment: Enrollment
    schedule: Schedule
    start: date
    end: date | None  # None: open

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


def spans(
    enrollments: Sequence[Enrollment],
    schedules: Mapping[str, Schedule],
    plan_types: Iterable[str] = (),
    schedule_id: str | None = None,
) -> list[Span]:
    """The member's enrollments in force some day (of these plan types, or this schedule), in
    the order recorded."""
    wanted = frozenset(plan_types)
    found = []
    for enrollment in sorted(enrollments, key=lambda e: e.position):
        schedule = schedules.get(enrollment.schedule_id)
        if schedule is None or (wanted and schedule.plan_type not in wanted):
            continue
        if schedule_id is not None and schedule.schedule_id != schedule_id:
            continue
        start = max(enrollment.start_date, schedule.effective_date)
        ends = [d for d in (enrollment.end_date, schedule.termination_date) if d is not None]
        end = min(ends) if ends else None
        if end is None or start <= end:
            found.append(Span(enrollment, schedule, start, end))
    return found


def most_recent(found: Sequence[Span], day: date) -> Span | None:
    """Of spans none of which covers `day`: the one that ended last before it, else the first
    that starts after it (later recorded wins a tie)."""
    before = [s for s in found if s.end is not None and s.end < day]
    if before:
        return max(before, key=lambda s: (s.end or day, s.enrollment.position))
    after = [s for s in found if s.start > day]
    return min(after, key=lambda s: (s.start, -s.enrollment.position)) if after else None


@dataclass(frozen=True)
class ScheduleChoice:
    """The schedule a claim counts in; with `problem` (and the claim's field at fault) when the
    claim must be refused. A refused choice still names the best guess, which is what a claim
    recorded before the rule existed is folded with."""

    schedule_id: str | None
    field: str | None = None
    problem: str | None = None


def claim_schedule(
    enrollments: Sequence[Enrollment],
    schedules: Mapping[str, Schedule],
    plan_type: str,
    first_day: date,
    named: str | None,
) -> ScheduleChoice:
    """The one schedule a claim of `plan_type` whose first line starts on `first_day` counts in."""
    if named is not None:
        schedule = schedules.get(named)
        if schedule is None:
            return ScheduleChoice(named, "schedule_id", f"unknown schedule {named}")
        if schedule.plan_type != plan_type:
            problem = (
                f"schedule {named} is a {schedule.plan_type} schedule; the claim is {plan_type}"
            )
            return ScheduleChoice(named, "schedule_id", problem)
        return ScheduleChoice(named)
    of_plan = spans(enrollments, schedules, (plan_type,))
    covering = list(dict.fromkeys(s.schedule.schedule_id for s in of_plan if s.covers(first_day)))
    if len(covering) > 1:
        problem = (
            f"enrollments in {len(covering)} {plan_type} schedules cover {first_day} "
            f"({', '.join(covering)}): name the claim's schedule_id"
        )
        return ScheduleChoice(covering[0], "schedule_id", problem)
    if covering:
        return ScheduleChoice(covering[0])
    recent = most_recent(of_plan, first_day)
    if recent is None:
        problem = f"the member has no {plan_type} enrollment: name the claim's schedule_id"
        return ScheduleChoice(None, "plan_type", problem)
    return ScheduleChoice(recent.schedule.schedule_id)


def schedule_of_claim_data(
    enrollments: Sequence[Enrollment], schedules: Mapping[str, Schedule], data: Mapping[str, Any]
) -> ScheduleChoice:
    """claim_schedule for the data of a `claim.adjudicated` as stored (dates as text)."""
    first_day = min(date.fromisoformat(line["from_date"]) for line in data["lines"])
    return claim_schedule(
        enrollments, schedules, data["plan_type"], first_day, data.get("schedule_id")
    )


def ineligible_lines(
    claim: Claim, enrollments: Sequence[Enrollment], schedules: Mapping[str, Schedule]
) -> frozenset[int]:
    """The claim's line numbers whose from-date no enrollment of the member in the claim's
    schedule covers (every line, for a claim in no schedule)."""
    in_schedule = (
        spans(enrollments, schedules, schedule_id=claim.schedule_id) if claim.schedule_id else []
    )
    return frozenset(
        line.line_number
        for line in claim.lines
        if not any(span.covers(line.from_date) for span in in_schedule)
    )


def family_of(
    enrollments: Sequence[Enrollment],
    schedules: Mapping[str, Schedule],
    schedule_id: str,
    day: date,
) -> str | None:
    """The family of the member's enrollment in the schedule on `day`, else of its most recent."""
    in_schedule = spans(enrollments, schedules, schedule_id=schedule_id)
    covering = [s for s in in_schedule if s.covers(day)]
    chosen = covering[0] if covering else most_recent(in_schedule, day)
    return chosen.enrollment.family_id if chosen is not None else None


@dataclass(frozen=True)
class Plan:
    """A schedule an answer shows for a member on a date; `eligible`: enrolled in it then."""

    schedule: Schedule
    eligible: bool
    family_id: str | None


def plans_on(
    enrollments: Sequence[Enrollment],
    schedules: Mapping[str, Schedule],
    claims: Iterable[Claim],
    day: date,
) -> list[Plan]:
    """The schedules the member is enrolled in on `day` (each once, in the order recorded), then
    those in force on `day` where one of its counted claims has a line in the period holding it."""
    found: dict[str, Plan] = {}
    for enrollment, schedule in enrollment_on(enrollments, schedules, day):
        found.setdefault(schedule.schedule_id, Plan(schedule, True, enrollment.family_id))
    for claim in sorted(claims, key=lambda c: c.position):
        claimed = schedules.get(claim.schedule_id) if claim.schedule_id else None
        if claimed is None or claimed.schedule_id in found:
            continue
        if not claim.counts or not claimed.active_on(day):
            continue
        start, end = claimed.period.period_of(day)
        if any(in_period(line.from_date, start, end) for line in claim.lines):
            family = family_of(enrollments, schedules, claimed.schedule_id, day)
            found[claimed.schedule_id] = Plan(claimed, False, family)
    return list(found.values())


def default_plan_type(plans: Sequence[Plan]) -> str | None:
    """Medical when the member has an eligible medical plan, else its first eligible plan's type;
    without an eligible plan the same among the others."""
    for group in ([p for p in plans if p.eligible], list(plans)):
        if any(p.schedule.plan_type == "medical" for p in group):
            return "medical"
        if group:
            return group[0].schedule.plan_type
    return None


def select(
    plans: Sequence[Plan],
    plan_types: Sequence[str] = (),
    schedule_id: str | None = None,
    all_plans: bool = False,
) -> list[Plan]:
    """The plans an answer covers: one schedule, all of them, the first plan of each plan type
    asked for, or the first plan of the default plan type."""
    if schedule_id is not None:
        return [p for p in plans if p.schedule.schedule_id == schedule_id]
    if all_plans:
        return list(plans)
    if not plan_types:
        default = default_plan_type(plans)
        plan_types = (default,) if default is not None else ()
    chosen: dict[str, Plan] = {}
    for plan in plans:
        if plan.schedule.plan_type in plan_types:
            chosen.setdefault(plan.schedule.plan_type, plan)
    return list(chosen.values())


def default_effective_date(
    enrollments: Sequence[Enrollment],
    schedules: Mapping[str, Schedule],
    today: date,
    plan_types: Sequence[str] = (),
    schedule_id: str | None = None,
) -> date:
    """Today when an enrollment (of the plan types or schedule asked for) is in force today, else
    the last day of the one that ended last; today when none has ended (only future ones)."""
    found = spans(enrollments, schedules, plan_types, schedule_id)
    if any(span.covers(today) for span in found):
        return today
    ended = [span.end for span in found if span.end is not None and span.end < today]
    return max(ended) if ended else today
