"""Pydantic models of query answers, reports, operations and errors (api.md)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Role = Literal["writer", "reader", "subscriber", "supervisor", "admin"]


class Span(BaseModel):
    start: date
    end: date


class NegativeAccrualOut(BaseModel):
    overuse: Decimal
    cause: Literal[
        "authorization_reduction", "service_code_removed", "backdated_confirmation", "overuse"
    ]
    event_id: str
    period_start: date


class Summary(BaseModel):
    authorization_number: str
    service_code: str
    payer_id: str
    frequency: Literal["day", "week", "month", "span"]
    span: Span
    accumulated_units: Decimal
    raw_balance: Decimal
    negative_accrual: NegativeAccrualOut | None


class UnauthorizedVisit(BaseModel):
    visit_id: str
    service_code: str
    service_date: date
    units: Decimal
    status: str


class AccumulationList(BaseModel):
    member_id: str
    as_of: date
    known_at: datetime
    position: int
    items: list[Summary]
    unauthorized_visits: list[UnauthorizedVisit] = []


class PeriodOut(BaseModel):
    start: date
    end: date
    authorized: Decimal
    used: Decimal
    from_regular: Decimal
    from_accumulation: Decimal
    unauthorized: Decimal
    balance: Decimal


class AccumulationDetail(Summary):
    as_of: date
    known_at: datetime
    position: int
    periods: list[PeriodOut]


class Effect(BaseModel):
    description: str
    raw_balance_before: Decimal
    raw_balance_after: Decimal


class ExplainEntry(BaseModel):
    position: int
    event_id: str
    type: str
    recorded_at: datetime
    data: dict[str, Any]
    effect: Effect


class Explanation(AccumulationDetail):
    events: list[ExplainEntry]


class KeyRef(BaseModel):
    authorization_number: str
    service_code: str


class VisitAllocation(BaseModel):
    regular: Decimal
    accumulated: Decimal
    unauthorized: Decimal


class VisitOut(BaseModel):
    visit_id: str
    member_id: str
    payer_id: str
    service_code: str
    status: Literal["scheduled", "confirmed", "missed", "cancelled"]
    service_date: date
    units: Decimal
    key: KeyRef | None
    unauthorized: bool
    allocation: VisitAllocation
    override: dict[str, Any] | None
    not_eligible: bool = Field(
        default=False,
        description="the service date lies outside the member's coverage by the payer "
        "(eligibility is not accumulation: the visit still counts where it counts)",
    )


class SchedulingCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: str = Field(min_length=1)
    payer_id: str = Field(min_length=1)
    service_code: str = Field(min_length=1)
    service_date: date
    units: Decimal = Field(gt=0, allow_inf_nan=False)
    authorization_number: str | None = None


class Available(BaseModel):
    regular: Decimal
    accumulated: Decimal
    total: Decimal


class CheckAllocation(BaseModel):
    regular: Decimal
    accumulated: Decimal
    shortfall: Decimal


class CheckWarning(BaseModel):
    code: str  # no_authorization | insufficient_units | not_eligible
    message: str
    shortfall: Decimal | None = Field(default=None, description="null for not_eligible")


class SchedulingCheckOut(BaseModel):
    authorization_number: str | None
    service_code: str
    position: int
    available: Available
    allocation: CheckAllocation
    warnings: list[CheckWarning]


class ExceedingItem(BaseModel):
    member_id: str
    authorization_number: str
    service_code: str
    raw_balance: Decimal
    overuse: Decimal
    cause: str
    event_id: str | None
    override: dict[str, Any] | None


class ExceedingReport(BaseModel):
    as_of: date
    position: int
    items: list[ExceedingItem]


class RecalculateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: str | None = None


class RecalculateOut(BaseModel):
    checked: int
    corrected: int


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[Role] = Field(min_length=1)
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="What the key is for, e.g. 'scheduling system'; shown in the key list.",
    )
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the key stops working (with a UTC offset; in the future). "
        "Without it the key works until revoked.",
    )


class ApiKeyOut(BaseModel):
    key: str = Field(description="The secret, shown only in this answer: store it now.")
    key_id: str
    tenant: str
    roles: list[Role]
    name: str | None
    expires_at: datetime | None


class ApiKeyInfo(BaseModel):
    """A key as listed: everything but its secret."""

    key_id: str
    name: str | None
    roles: list[Role]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(
        description="The last request made with the key (noted at most once a minute)."
    )
    revoked_at: datetime | None
    status: Literal["active", "expired", "revoked"]


class ApiKeyList(BaseModel):
    items: list[ApiKeyInfo]


class ErrorDetail(BaseModel):
    index: int | None = None
    field: str
    problem: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] = []


class ErrorOut(BaseModel):
    error: ErrorBody


class LedgerEventOut(BaseModel):
    """One recorded fact as the ledger holds it, with what it concerns."""

    position: int = Field(description="The tenant's own ledger position, from 1, gap-free.")
    id: str
    type: str
    recorded_at: datetime
    tags: list[str] = Field(description="`member:M`, `payer:P`, `visit:V` and the like.")
    data: dict[str, Any]


class LedgerEventsPage(BaseModel):
    items: list[LedgerEventOut]
    next_after: int = Field(description="Pass as `after` for the next page.")
