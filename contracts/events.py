"""Pydantic models of the events clients record (api.md, "Recording events")."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

Units = Annotated[Decimal, Field(ge=0, allow_inf_nan=False, max_digits=18, decimal_places=6)]
# ids and codes: 1 to 200 characters, no control characters (NUL cannot be stored on PostgreSQL)
Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
Frequency = Literal["day", "week", "month", "span"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
Fraction = Annotated[
    Decimal, Field(gt=0, le=1, allow_inf_nan=False, max_digits=7, decimal_places=6)
]
MAX_BATCH_EVENTS = 1000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PayerSettingsChanged(Strict):
    payer_id: Identifier
    allow_accumulation: bool | None = None
    include_scheduled_units: bool | None = None
    exclude_missed_days: bool | None = None
    week_starts_on: Weekday | None = None
    # authorization.renewal_due: a key this many days before its end, or with this share of its
    # authorized units used (defaults 14 and 0.8; accumulation.md section 3)
    renewal_days_before_end: Annotated[int, Field(ge=0, le=366)] | None = None
    renewal_used_fraction: Fraction | None = None


class AuthorizationGranted(Strict):
    authorization_id: Identifier
    authorization_number: Identifier
    member_id: Identifier
    payer_id: Identifier
    service_code: Identifier
    frequency: Frequency
    units: Units
    start_date: date
    end_date: date

    @model_validator(mode="after")
    def _end_not_before_start(self) -> AuthorizationGranted:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class AuthorizationAmended(Strict):
    authorization_id: Identifier
    units: Units | None = None
    start_date: date | None = None
    end_date: date | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> AuthorizationAmended:
        if self.units is None and self.start_date is None and self.end_date is None:
            raise ValueError("an amendment needs at least one of units, start_date, end_date")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class AuthorizationVoided(Strict):
    authorization_id: Identifier
    reason: str | None = Field(default=None, max_length=1000)


class AuthorizationServiceRemoved(Strict):
    member_id: Identifier
    authorization_number: Identifier
    service_code: Identifier


class Override(Strict):
    by: Identifier
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class VisitScheduled(Strict):
    visit_id: Identifier
    member_id: Identifier
    payer_id: Identifier
    service_code: Identifier
    service_date: date
    units: Units
    authorization_number: Identifier | None = None
    override: Override | None = None


class VisitRescheduled(Strict):
    visit_id: Identifier
    service_date: date | None = None
    units: Units | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> VisitRescheduled:
        if self.service_date is None and self.units is None:
            raise ValueError("a reschedule needs service_date or units")
        return self


class VisitConfirmed(Strict):
    """Confirms a scheduled visit; for a visit never scheduled, carries the scheduling fields."""

    visit_id: Identifier
    units: Units | None = None
    member_id: Identifier | None = None
    payer_id: Identifier | None = None
    service_code: Identifier | None = None
    service_date: date | None = None
    authorization_number: Identifier | None = None
    override: Override | None = None


class VisitMissed(Strict):
    visit_id: Identifier
    reason: str | None = Field(default=None, max_length=1000)


class VisitCancelled(Strict):
    visit_id: Identifier
    reason: str | None = Field(default=None, max_length=1000)


class CalendarYear(Strict):
    type: Literal["calendar_year"]


class PlanYear(Strict):
    """Resets every year on start_month/start_day. A plan year starting on 29 February starts on
    28 February in the years without one (the reset stays in the month the plan names)."""

    type: Literal["plan_year"]
    start_month: Annotated[int, Field(ge=1, le=12)]
    start_day: Annotated[int, Field(ge=1, le=31)]

    @model_validator(mode="after")
    def _a_real_day(self) -> PlanYear:
        longest = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[self.start_month - 1]
        if self.start_day > longest:
            raise ValueError(
                f"start_day {self.start_day} does not exist in month {self.start_month}"
            )
        return self


class Anniversary(Strict):
    """Resets on the anniversary of anchor_date (the member's enrollment date)."""

    type: Literal["anniversary"]
    anchor_date: date


class Lifetime(Strict):
    type: Literal["lifetime"]


BenefitPeriod = Annotated[
    CalendarYear | PlanYear | Anniversary | Lifetime, Field(discriminator="type")
]
BenefitUnit = Literal["visits", "units", "amount"]
Thresholds = Annotated[list[Fraction], Field(min_length=1, max_length=10)]
ServiceCodes = Annotated[list[Identifier], Field(min_length=1, max_length=100)]
Positive = Annotated[Decimal, Field(gt=0, allow_inf_nan=False, max_digits=18, decimal_places=6)]


def _distinct_sorted(values: list[Decimal] | None) -> list[Decimal] | None:
    if values is None:
        return None
    if len(set(values)) != len(values):
        raise ValueError("thresholds must be distinct")
    return sorted(values)


class CoverageChanged(Strict):
    """coverage.started / coverage.ended: the member is covered by the payer from / through date."""

    member_id: Identifier
    payer_id: Identifier
    date: date


class BenefitLimitDefined(Strict):
    benefit_id: Identifier
    member_id: Identifier
    payer_id: Identifier
    benefit_code: Identifier
    service_codes: ServiceCodes
    limit: Positive
    unit: BenefitUnit
    period: BenefitPeriod
    thresholds: Thresholds | None = None

    @model_validator(mode="after")
    def _thresholds(self) -> BenefitLimitDefined:
        self.thresholds = _distinct_sorted(self.thresholds)
        return self


class BenefitLimitAmended(Strict):
    """Changes a defined limit for every period, retroactively (like authorization.amended)."""

    benefit_id: Identifier
    service_codes: ServiceCodes | None = None
    limit: Positive | None = None
    period: BenefitPeriod | None = None
    thresholds: Thresholds | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> BenefitLimitAmended:
        fields = (self.service_codes, self.limit, self.period, self.thresholds)
        if all(value is None for value in fields):
            raise ValueError(
                "an amendment needs at least one of service_codes, limit, period, thresholds"
            )
        self.thresholds = _distinct_sorted(self.thresholds)
        return self


class BenefitUsageVerified(Strict):
    """What the payer reported as used (all providers) as of a date."""

    benefit_id: Identifier
    as_of: date
    used: Units
    source: Annotated[str, Field(min_length=1, max_length=200)]
    reference: Annotated[str, Field(max_length=200)] | None = None


# --- claims accumulators (accumulation.md section 4) ---------------------------------------------

Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False, max_digits=18, decimal_places=2)]
Percent = Annotated[
    Decimal, Field(ge=0, le=100, allow_inf_nan=False, max_digits=7, decimal_places=4)
]
ClaimStatus = Literal["pending", "processed", "paid", "released", "denied"]
SchedulePeriod = Annotated[CalendarYear | PlanYear | Lifetime, Field(discriminator="type")]


class ReversionLevel(Strict):
    from_day: Annotated[int, Field(ge=1)]
    to_day: Annotated[int, Field(ge=1)] | None = None
    coinsurance_percent: Percent


class AccumulatorDefinition(Strict):
    code: Identifier
    description: Annotated[str, Field(max_length=200)] = ""
    type: Literal["deductible", "maximum", "day", "reversion", "cob"]
    amount: Units | None = None
    kind: Literal["out_of_pocket", "benefit"] | None = None
    level: Literal["individual", "family"] = "individual"
    network: Literal["in", "out", "any"] = "any"
    per: Literal["illness", "tooth"] | None = None
    levels: list[ReversionLevel] | None = None

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
    schedule_id: Identifier
    plan_type: Identifier
    effective_date: date
    termination_date: date | None = None
    benefit_period: SchedulePeriod
    coinsurance_percent: Percent
    accumulators: Annotated[list[AccumulatorDefinition], Field(min_length=1, max_length=200)]

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
    member_id: Identifier
    schedule_id: Identifier
    start_date: date
    end_date: date | None = None
    family_id: Identifier | None = None

    @model_validator(mode="after")
    def _end_not_before_start(self) -> MemberEnrolled:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class Applied(Strict):
    accumulator_code: Identifier
    amount: Units


class ClaimLine(Strict):
    line_number: Annotated[int, Field(ge=1)]
    from_date: date
    thru_date: date
    allowed_amount: Money
    network: Literal["in", "out"] = "in"
    days: Annotated[int, Field(ge=0)] | None = None
    illness: Identifier | None = None
    tooth: Identifier | None = None
    applied: list[Applied] = []

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


class ClaimAdjudicated(Strict):
    claim_id: Identifier
    reference_number: Identifier
    member_id: Identifier
    plan_type: Identifier
    billing_provider: Annotated[str, Field(min_length=1, max_length=200)]
    status: ClaimStatus
    release_date: date | None = None
    lines: ClaimLines

    @model_validator(mode="after")
    def _lines(self) -> ClaimAdjudicated:
        _distinct_lines(self.lines)
        return self


class ClaimStatusChanged(Strict):
    claim_id: Identifier
    status: ClaimStatus
    release_date: date | None = None


class ClaimAdjusted(Strict):
    claim_id: Identifier
    lines: ClaimLines

    @model_validator(mode="after")
    def _lines(self) -> ClaimAdjusted:
        _distinct_lines(self.lines)
        return self


class ClaimVoided(Strict):
    claim_id: Identifier
    reason: str | None = Field(default=None, max_length=1000)


EVENT_TYPES: dict[str, type[Strict]] = {
    "payer.settings_changed": PayerSettingsChanged,
    "authorization.granted": AuthorizationGranted,
    "authorization.amended": AuthorizationAmended,
    "authorization.voided": AuthorizationVoided,
    "authorization.service_removed": AuthorizationServiceRemoved,
    "visit.scheduled": VisitScheduled,
    "visit.rescheduled": VisitRescheduled,
    "visit.confirmed": VisitConfirmed,
    "visit.missed": VisitMissed,
    "visit.cancelled": VisitCancelled,
    "coverage.started": CoverageChanged,
    "coverage.ended": CoverageChanged,
    "benefit.limit_defined": BenefitLimitDefined,
    "benefit.limit_amended": BenefitLimitAmended,
    "benefit.usage_verified": BenefitUsageVerified,
    "accumulator.schedule_defined": ScheduleDefined,
    "member.enrolled": MemberEnrolled,
    "claim.adjudicated": ClaimAdjudicated,
    "claim.status_changed": ClaimStatusChanged,
    "claim.adjusted": ClaimAdjusted,
    "claim.voided": ClaimVoided,
}

NOT_SUPPORTED_YET: frozenset[str] = frozenset()  # types of a later release: 422 not_supported_yet


class EventIn(Strict):
    """One event as a client sends it."""

    id: UUID
    type: str
    data: dict[str, Any]


class AppendCondition(Strict):
    """Refuse the batch (409 `condition_failed`) when an event recorded after position `after`
    carries every one of `tags` (no tags: any event). A scheduling system reads a member's
    position, checks, then books with `{"after": position, "tags": ["member:M"]}`: no race."""

    after: int = Field(ge=0, description="The tenant's ledger position the client decided on.")
    tags: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Tags such as `member:M`, `authorization:NUMBER`, `visit:V`.",
    )


class EventsRequest(Strict):
    events: Annotated[list[EventIn], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]
    condition: AppendCondition | None = None


class EventWarning(BaseModel):
    code: str
    message: str
    shortfall: Decimal | None = None


class EventResult(BaseModel):
    id: UUID
    status: Literal["recorded", "duplicate"]
    position: int
    recorded_at: datetime
    warnings: list[EventWarning] = []


class EventsResponse(BaseModel):
    results: list[EventResult]
    last_position: int
