"""Claims accumulators: schedules, enrollments, claims, applied and remaining (pure; spec 4.1-4.2).

For an effective date E, a schedule and its benefit period holding E, an accumulator's applied
amount is the sum of what claims with status `paid` or `released` applied to it on lines whose
from-date lies in the period (the latest version of each claim; a voided claim applies nothing);
remaining = schedule amount - applied, never below 0. A family accumulator sums over every
member enrolled with the same `family_id`; an accumulator kept `per` illness or tooth has one row
per illness or tooth. Day and reversion accumulators count days; a day's reversion level is found
by its day number in the period.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from services.projections.core.benefits import PeriodRule, in_period
from services.projections.core.costshare import Level

COUNTED_STATUSES = frozenset({"paid", "released"})
ZERO = Decimal(0)


def level_label(level: Level) -> str:
    """A reversion level as the detail shows it: "1-4", or "11+" for the open one."""
    return f"{level.from_day}-{level.to_day}" if level.to_day is not None else f"{level.from_day}+"


@dataclass(frozen=True)
class AccumulatorDef:
    code: str
    description: str
    type: str  # deductible | maximum | day | reversion | cob
    amount: Decimal  # money, or days for a day accumulator; 0 for reversion
    kind: str | None = None  # maximums: out_of_pocket | benefit
    level: str = "individual"  # individual | family
    network: str = "any"  # in | out | any
    per: str | None = None  # illness | tooth
    levels: tuple[Level, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccumulatorDef:
        return cls(
            code=data["code"],
            description=data.get("description", ""),
            type=data["type"],
            amount=Decimal(data.get("amount", "0")),
            kind=data.get("kind"),
            level=data.get("level", "individual"),
            network=data.get("network", "any"),
            per=data.get("per"),
            levels=tuple(
                Level(
                    int(level["from_day"]),
                    int(level["to_day"]) if level.get("to_day") is not None else None,
                    Decimal(level["coinsurance_percent"]),
                )
                for level in data.get("levels") or ()
            ),
        )

    def level_of(self, day_number: int) -> Level | None:
        """The reversion level holding a day number (past a closed last level: the last one)."""
        for level in self.levels:
            if level.holds(day_number):
                return level
        return self.levels[-1] if self.levels else None


@dataclass(frozen=True)
class Schedule:
    schedule_id: str
    plan_type: str
    effective_date: date
    termination_date: date | None
    period: PeriodRule
    coinsurance_percent: Decimal
    accumulators: tuple[AccumulatorDef, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Schedule:
        termination = data.get("termination_date")
        return cls(
            schedule_id=data["schedule_id"],
            plan_type=data["plan_type"],
            effective_date=date.fromisoformat(data["effective_date"]),
            termination_date=date.fromisoformat(termination) if termination else None,
            period=PeriodRule.from_json(data["benefit_period"]),
            coinsurance_percent=Decimal(data["coinsurance_percent"]),
            accumulators=tuple(AccumulatorDef.from_json(a) for a in data["accumulators"]),
        )

    def active_on(self, day: date) -> bool:
        return self.effective_date <= day and (
            self.termination_date is None or day <= self.termination_date
        )

    def accumulator(self, code: str) -> AccumulatorDef | None:
        return next((a for a in self.accumulators if a.code == code), None)

    @property
    def reversion(self) -> AccumulatorDef | None:
        return next((a for a in self.accumulators if a.type == "reversion"), None)


@dataclass(frozen=True)
class Enrollment:
    member_id: str
    schedule_id: str
    start_date: date
    end_date: date | None
    family_id: str | None
    position: int

    def covers(self, day: date) -> bool:
        return self.start_date <= day and (self.end_date is None or day <= self.end_date)


@dataclass(frozen=True)
class ClaimLine:
    line_number: int
    from_date: date
    thru_date: date
    allowed_amount: Decimal
    network: str
    days: int | None
    illness: str | None
    tooth: str | None
    applied: Mapping[str, Decimal]
    patient_responsibility: Decimal | None = None  # what the member owes, as adjudicated

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClaimLine:
        owed = data.get("patient_responsibility")
        return cls(
            line_number=int(data["line_number"]),
            from_date=date.fromisoformat(data["from_date"]),
            thru_date=date.fromisoformat(data["thru_date"]),
            allowed_amount=Decimal(data["allowed_amount"]),
            network=data.get("network", "in"),
            days=int(data["days"]) if data.get("days") is not None else None,
            illness=data.get("illness"),
            tooth=data.get("tooth"),
            applied={a["accumulator_code"]: Decimal(a["amount"]) for a in data.get("applied", ())},
            patient_responsibility=Decimal(owed) if owed is not None else None,
        )


@dataclass
class Claim:
    """The latest version of a claim: its lines replaced by adjustments, its last status.

    `schedule_id` is the one schedule it counts in (4.1), decided when it was adjudicated; None
    only for a claim recorded before that rule whose member had no enrollment of its plan type.
    `ineligible_lines` are the line numbers whose from-date the member's enrollment in that
    schedule does not cover (kept up to date as enrollments and schedules are folded in).
    """

    claim_id: str
    reference_number: str
    member_id: str
    plan_type: str
    schedule_id: str | None
    billing_provider: str
    status: str
    release_date: date | None
    lines: tuple[ClaimLine, ...]
    position: int  # of its adjudication: the order claims were applied in
    voided: bool = False
    events: list[str] = field(default_factory=list)
    ineligible_lines: frozenset[int] = frozenset()
    opening: bool = False  # an opening balance (2.17): one line on its as_of date, its figure

    @property
    def counts(self) -> bool:
        return not self.voided and (self.opening or self.status in COUNTED_STATUSES)

    @property
    def first_from_date(self) -> date:
        """The from-date of its first line in date order: it picks the claim's schedule."""
        return min(line.from_date for line in self.lines)


@dataclass(frozen=True)
class Contribution:
    """One claim line's amount applied to one accumulator row."""

    member_id: str
    claim: Claim
    line: ClaimLine
    amount: Decimal

    @property
    def eligible(self) -> bool:
        """The member was enrolled in the claim's schedule on the line's from-date."""
        return self.line.line_number not in self.claim.ineligible_lines


@dataclass(frozen=True)
class DayUse:
    day: date
    day_number: int
    reversion_level: str | None
    coinsurance_percent: Decimal | None


@dataclass(frozen=True)
class Row:
    """One accumulator (one illness or tooth of it) for the period holding the effective date."""

    schedule: Schedule
    accumulator: AccumulatorDef
    illness: str | None
    tooth: str | None
    period_start: date | None
    period_end: date | None
    applied: Decimal
    contributions: tuple[Contribution, ...]
    eligible: bool = True  # the member is enrolled in the schedule on the effective date

    @property
    def remaining(self) -> Decimal:
        return max(self.accumulator.amount - self.applied, ZERO)

    @property
    def met(self) -> bool:
        return self.accumulator.type in ("deductible", "maximum", "day") and (
            self.applied >= self.accumulator.amount
        )

    def days(self) -> list[DayUse]:
        """Every day a day or reversion accumulator counted, numbered within the period."""
        if self.accumulator.type not in ("day", "reversion"):
            return []
        reversion = (
            self.accumulator if self.accumulator.type == "reversion" else self.schedule.reversion
        )
        used: list[DayUse] = []
        # an opening balance's days came first, on dates the ledger never saw: the own days are
        # numbered after them
        before = sum((int(c.amount) for c in self.contributions if c.claim.opening), 0)
        # numbered in calendar order: a claim adjudicated late for an earlier stay takes the
        # earlier day numbers (its reversion level is its place in the period)
        in_order = sorted(
            (c for c in self.contributions if not c.claim.opening),
            key=lambda c: (c.line.from_date, c.claim.position),
        )
        for contribution in in_order:
            for offset in range(int(contribution.amount)):
                number = before + len(used) + 1
                level = reversion.level_of(number) if reversion else None
                used.append(
                    DayUse(
                        contribution.line.from_date + timedelta(days=offset),
                        number,
                        level_label(level) if level else None,
                        level.coinsurance_percent if level else None,
                    )
                )
        return used


def _row_key(accumulator: AccumulatorDef, line: ClaimLine) -> tuple[str | None, str | None]:
    if accumulator.per == "illness":
        return line.illness, None
    if accumulator.per == "tooth":
        return None, line.tooth
    return None, None


def accumulator_rows(
    schedule: Schedule,
    claims: Mapping[str, Iterable[Claim]],
    member_id: str,
    effective_date: date,
    eligible: bool = True,
) -> list[Row]:
    """The schedule's accumulators for the period holding `effective_date`.

    `claims` maps the member, and the other members of its family, to their claims; family
    accumulators count all of them, individual ones the member's own. Only claims that count in
    this schedule are summed (a claim counts in exactly one, 4.1). `eligible` is carried onto
    the rows.
    """
    start, end = schedule.period.period_of(effective_date)
    ordered = sorted(
        (
            (claim.position, owner, claim)
            for owner, owned in claims.items()
            for claim in owned
            if claim.counts and claim.schedule_id == schedule.schedule_id
        ),
        key=lambda item: item[0],
    )
    rows: list[Row] = []
    for accumulator in schedule.accumulators:
        found: dict[tuple[str | None, str | None], list[Contribution]] = {}
        for _, owner, claim in ordered:
            if accumulator.level != "family" and owner != member_id:
                continue
            for line in sorted(claim.lines, key=lambda line: (line.from_date, line.line_number)):
                amount = line.applied.get(accumulator.code)
                if amount is None or not in_period(line.from_date, start, end):
                    continue
                found.setdefault(_row_key(accumulator, line), []).append(
                    Contribution(owner, claim, line, amount)
                )
        if not found:
            found[(None, None)] = []
        for (illness, tooth), every in sorted(found.items(), key=_sort_key):
            contributions = after_opening(every)
            rows.append(
                Row(
                    schedule,
                    accumulator,
                    illness,
                    tooth,
                    start,
                    end,
                    sum((c.amount for c in contributions), ZERO),
                    tuple(contributions),
                    eligible,
                )
            )
    return rows


def after_opening(contributions: list[Contribution]) -> list[Contribution]:
    """A row with an opening balance (2.17): the latest one (by its date, then position) first,
    then the claim lines after its date; lines on or before it are in its figure."""
    openings = [c for c in contributions if c.claim.opening]
    if not openings:
        return contributions
    current = max(openings, key=lambda c: (c.line.from_date, c.claim.position))
    later = [
        c
        for c in contributions
        if not c.claim.opening and c.line.from_date > current.line.from_date
    ]
    return [current, *later]


def _sort_key(item: tuple[tuple[str | None, str | None], list[Contribution]]) -> tuple[str, str]:
    (illness, tooth), _ = item
    return (illness or "", tooth or "")


def enrollment_on(
    enrollments: Sequence[Enrollment],
    schedules: Mapping[str, Schedule],
    day: date,
    plan_type: str | None = None,
) -> list[tuple[Enrollment, Schedule]]:
    """The member's enrollments in force on `day` (of one plan type), in the order recorded."""
    found = []
    for enrollment in sorted(enrollments, key=lambda e: e.position):
        schedule = schedules.get(enrollment.schedule_id)
        if schedule is None or not enrollment.covers(day) or not schedule.active_on(day):
            continue
        if plan_type is None or schedule.plan_type == plan_type:
            found.append((enrollment, schedule))
    return found
