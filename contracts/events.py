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
MAX_BATCH_EVENTS = 1000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PayerSettingsChanged(Strict):
    payer_id: Identifier
    allow_accumulation: bool | None = None
    include_scheduled_units: bool | None = None
    exclude_missed_days: bool | None = None
    week_starts_on: Weekday | None = None


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
}

NOT_SUPPORTED_YET = frozenset(
    {
        "coverage.started",
        "coverage.ended",
        "benefit.limit_defined",
        "benefit.usage_verified",
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
