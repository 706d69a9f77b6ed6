"""Pydantic models of the claims-accumulator events: schedules, enrollments, claims
(accumulation.md section 4)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from contracts.decimals import DecimalJsonSchema
from contracts.fields import Identifier, Strict, Units, example
from contracts.periods import CalendarYear, Lifetime, PlanYear

Money = Annotated[
    Decimal,
    Field(ge=0, allow_inf_nan=False, max_digits=18, decimal_places=2),
    DecimalJsonSchema(),
]
Percent = Annotated[
    Decimal,
    Field(ge=0, le=100, allow_inf_nan=False, max_digits=7, decimal_places=4),
    DecimalJsonSchema(),
]
ClaimStatus = Literal["pending", "processed", "paid", "released", "denied"]
SchedulePeriod = Annotated[CalendarYear | PlanYear | Lifetime, Field(discriminator="type")]


class ReversionLevel(Strict):
    """The coinsurance the plan pays for the days `from_day` through `to_day` of a period."""

    from_day: Annotated[int, Field(ge=1)] = Field(description="Day number, from 1.")
    to_day: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="The last day of the level (inclusive); the last level is open."
    )
    coinsurance_percent: Percent = Field(description="The share the plan pays, 0 to 100.")


class AccumulatorDefinition(Strict):
    """One accumulator of a schedule (accumulation.md 4.1)."""

    code: Identifier
    description: Annotated[str, Field(max_length=200)] = ""
    type: Literal["deductible", "maximum", "day", "reversion", "cob"] = Field(
        description="deductible: money the member pays before the plan pays; maximum: money "
        "paid at most (see `kind`); day: covered days; reversion: coinsurance by day number "
        "(`levels`); cob: savings banked while this plan pays as secondary."
    )
    amount: Units | None = Field(
        default=None, description="Money, or days for a day accumulator; not for reversion."
    )
    kind: Literal["out_of_pocket", "benefit"] | None = Field(
        default=None,
        description="Maximums only: out_of_pocket (the member pays at most) or benefit "
        "(the plan pays at most).",
    )
    level: Literal["individual", "family"] = Field(
        default="individual",
        description="family: shared by every member enrolled with the same family_id.",
    )
    network: Literal["in", "out", "any"] = Field(
        default="any", description="The claim lines it counts: in-network, out, or both."
    )
    per: Literal["illness", "tooth"] | None = Field(
        default=None, description="Kept apart per illness code or per tooth."
    )
    levels: list[ReversionLevel] | None = Field(
        default=None,
        description="Reversion only: levels from day 1, without gap or overlap, the last open.",
    )

    @model_validator(mode="after")
    def _fits_its_type(self) -> AccumulatorDefinition:
        if self.type == "reversion":
            if self.amount is not None:
                raise ValueError("a reversion accumulator has levels, not an amount")
            if not self.levels:
                raise ValueError("a reversion accumulator needs levels")
            _check_levels(self.levels)
        else:
            if self.amount is None:
                raise ValueError(f"a {self.type} accumulator needs an amount")
            if self.levels is not None:
                raise ValueError("only a reversion accumulator has levels")
        if (self.type == "maximum") != (self.kind is not None):
            raise ValueError("kind (out_of_pocket or benefit) is for maximums, and they need one")
        return self


def _check_levels(levels: list[ReversionLevel]) -> None:
    """Levels start on day 1 and follow each other without gap or overlap; only the last is open."""
    expected = 1
    for number, level in enumerate(levels, start=1):
        if level.from_day != expected:
            problem = "a gap" if level.from_day > expected else "an overlap"
            raise ValueError(
                f"level {number} starts on day {level.from_day}: {problem} "
                f"(expected day {expected})"
            )
        if level.to_day is None:
            if number != len(levels):
                raise ValueError(f"level {number} is open (no to_day) but is not the last")
            return
        if level.to_day < level.from_day:
            raise ValueError(f"level {number} ends (day {level.to_day}) before it starts")
        expected = level.to_day + 1


class ScheduleDefined(Strict):
    """A plan's schedule of accumulators and its benefit period (accumulation.md 4.1)."""

    model_config = example(
        schedule_id="S-MED-2026",
        plan_type="medical",
        effective_date="2026-01-01",
        benefit_period={"type": "calendar_year"},
        coinsurance_percent="80",
        accumulators=[
            {"code": "DED", "type": "deductible", "amount": "500"},
            {"code": "OOP", "type": "maximum", "kind": "out_of_pocket", "amount": "3000"},
        ],
    )

    schedule_id: Identifier = Field(description="The schedule's own id; enrollments name it.")
    plan_type: Identifier = Field(description="medical, dental, vision and the like.")
    effective_date: date
    termination_date: date | None = None
    benefit_period: SchedulePeriod = Field(description="When the accumulators start again.")
    coinsurance_percent: Percent = Field(
        description="The share the plan pays after the deductible, 0 to 100, where no "
        "reversion level says otherwise."
    )
    accumulators: Annotated[list[AccumulatorDefinition], Field(min_length=1, max_length=200)] = (
        Field(description="Distinct codes.")
    )

    @model_validator(mode="after")
    def _consistent(self) -> ScheduleDefined:
        if self.termination_date is not None and self.termination_date < self.effective_date:
            raise ValueError("termination_date is before effective_date")
        codes = [a.code for a in self.accumulators]
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        if repeated:
            raise ValueError(f"accumulator codes repeat: {', '.join(repeated)}")
        return self


class MemberEnrolled(Strict):
    """The member is enrolled in a schedule from `start_date`, through `end_date` if given."""

    model_config = example(
        member_id="M-1", schedule_id="S-MED-2026", start_date="2026-01-01", family_id="F-1"
    )

    member_id: Identifier
    schedule_id: Identifier
    start_date: date
    end_date: date | None = None
    family_id: Identifier | None = Field(
        default=None, description="Members of one family share its family-level accumulators."
    )

    @model_validator(mode="after")
    def _end_not_before_start(self) -> MemberEnrolled:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class Applied(Strict):
    """What a claim line applied to one accumulator, as the adjudicating system decided."""

    accumulator_code: Identifier
    amount: Units = Field(description="Money, or days for day and reversion accumulators.")


class ClaimLine(Strict):
    line_number: Annotated[int, Field(ge=1)] = Field(description="Distinct within the claim.")
    from_date: date = Field(description="The first service date; it picks the benefit period.")
    thru_date: date = Field(description="The last service date (inclusive).")
    allowed_amount: Money
    network: Literal["in", "out"] = "in"
    days: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Days counted by day accumulators; at most the line's span."
    )
    illness: Identifier | None = Field(
        default=None, description="The illness code, for accumulators kept per illness."
    )
    tooth: Identifier | None = Field(
        default=None, description="The tooth, for accumulators kept per tooth."
    )
    applied: list[Applied] = Field(
        default=[], description="One entry per accumulator code at most."
    )
    patient_responsibility: Money | None = Field(
        default=None,
        description="What the member owes on the line, as adjudicated; the COB detail shows it "
        "as the claim's oop_amount.",
    )

    @model_validator(mode="after")
    def _days_fit(self) -> ClaimLine:
        if self.thru_date < self.from_date:
            raise ValueError("thru_date is before from_date")
        span = (self.thru_date - self.from_date).days + 1
        if self.days is not None and self.days > span:
            raise ValueError(
                f"{self.days} days do not fit from {self.from_date} thru {self.thru_date} ({span})"
            )
        codes = [a.accumulator_code for a in self.applied]
        if len(set(codes)) != len(codes):
            raise ValueError("an accumulator code is applied twice on the line")
        return self


ClaimLines = Annotated[list[ClaimLine], Field(min_length=1, max_length=500)]


def _distinct_lines(lines: list[ClaimLine]) -> None:
    numbers = [line.line_number for line in lines]
    if len(set(numbers)) != len(numbers):
        raise ValueError("line numbers repeat")


_CLAIM_LINE_EXAMPLE = {
    "line_number": 1,
    "from_date": "2026-02-10",
    "thru_date": "2026-02-10",
    "allowed_amount": "250.00",
    "applied": [{"accumulator_code": "DED", "amount": "250.00"}],
}


class ClaimAdjudicated(Strict):
    """A claim as the adjudicating system decided it; it counts toward accumulators while paid
    or released (accumulation.md 4.2)."""

    model_config = example(
        claim_id="C-1",
        reference_number="2026021000001",
        member_id="M-1",
        plan_type="medical",
        billing_provider="Clinic A",
        status="paid",
        lines=[_CLAIM_LINE_EXAMPLE],
    )

    claim_id: Identifier = Field(description="The claim's own id; later events name it.")
    reference_number: Identifier = Field(description="The payer's claim reference.")
    member_id: Identifier
    plan_type: Identifier = Field(
        description="With the lines' first from-date it picks the member's schedule."
    )
    schedule_id: Identifier | None = Field(
        default=None,
        description="The schedule the claim counts in (of its plan type); needed where two "
        "enrollments of the plan type cover the first from-date. Default: the member's "
        "enrollment of the plan type on that date, else its most recent one.",
    )
    billing_provider: Annotated[str, Field(min_length=1, max_length=200)]
    status: ClaimStatus = Field(description="Only paid and released claims count.")
    release_date: date | None = None
    lines: ClaimLines = Field(description="Distinct line numbers.")

    @model_validator(mode="after")
    def _lines(self) -> ClaimAdjudicated:
        _distinct_lines(self.lines)
        return self


class ClaimStatusChanged(Strict):
    model_config = example(claim_id="C-1", status="released", release_date="2026-02-20")

    claim_id: Identifier
    status: ClaimStatus = Field(description="Only paid and released claims count.")
    release_date: date | None = None


class ClaimAdjusted(Strict):
    """Replaces the claim's lines."""

    model_config = example(claim_id="C-1", lines=[_CLAIM_LINE_EXAMPLE])

    claim_id: Identifier
    lines: ClaimLines = Field(description="Every line of the claim now; distinct line numbers.")

    @model_validator(mode="after")
    def _lines(self) -> ClaimAdjusted:
        _distinct_lines(self.lines)
        return self


class ClaimVoided(Strict):
    """The claim applies nothing any more."""

    model_config = example(claim_id="C-1", reason="duplicate submission")

    claim_id: Identifier
    reason: str | None = Field(default=None, max_length=1000)
