"""Pydantic models of the events clients record (api.md, "Recording events")."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

Units = Annotated[Decimal, Field(ge=0, allow_inf_nan=False, max_digits=18, decimal_places=6)]
Identifier = Annotated[str, Field(min_length=1, max_length=200)]
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
}

NOT_SUPPORTED_YET = frozenset(
    {
        "accumulator.schedule_defined",
        "member.enrolled",
        "claim.adjudicated",
        "claim.status_changed",
        "claim.adjusted",
        "claim.voided",
    }
)


class EventIn(Strict):
    """One event as a client sends it."""

    id: UUID
    type: str
    data: dict[str, Any]


class EventsRequest(Strict):
    events: Annotated[list[EventIn], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]


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
