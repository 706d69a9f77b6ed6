"""Pydantic models of the accumulation answers: a member's keys, one key's periods and lines,
and the events that explain its balance (api.md, Queries; accumulation.md 2.3 to 2.7, 2.16)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from contracts.decimals import UnitsString


class Span(BaseModel):
    start: date
    end: date


class NegativeAccrualOut(BaseModel):
    """Why a key's raw balance is below 0 (accumulation.md 2.7)."""

    overuse: UnitsString = Field(description="-raw_balance: units used beyond what was there.")
    cause: Literal[
        "authorization_reduction", "service_code_removed", "backdated_confirmation", "overuse"
    ]
    event_id: str = Field(description="The event that turned the balance negative.")
    period_start: date = Field(description="The first period whose balance went negative.")


AuthorizationStatus = Literal["active", "expiring", "pending", "expired", "voided"]


class LineStatusOut(BaseModel):
    """One authorization line of the key and its status as of `as_of` (accumulation.md 2.16)."""

    authorization_id: str
    start: date
    end: date
    units: UnitsString = Field(description="Units per period, as last recorded.")
    status: AuthorizationStatus = Field(
        description="voided (voided or its service code removed), pending (starts after "
        "`as_of`), expired (ended before it), expiring (within the payer's "
        "`renewal_days_before_end` of its end, or `renewal_used_fraction` of its units used), "
        "else active."
    )


class Summary(BaseModel):
    """One accumulation key of a member: (authorization number, service code or pool)."""

    authorization_number: str
    service_code: str = Field(
        description="The key's service code, or the name of its shared pool (accumulation.md 2.13)."
    )
    service_codes: list[str] = Field(
        default_factory=list,
        description="The service codes whose visits draw from the key: the pool's codes, or "
        "the one code.",
    )
    payer_id: str
    frequency: Literal["day", "week", "month", "span"]
    span: Span = Field(description="From the earliest line start to the latest line end.")
    accumulated_units: UnitsString = Field(
        description="Units carried into later periods as of `as_of`: max(0, raw_balance)."
    )
    raw_balance: UnitsString = Field(
        description="The running balance B_k of the period holding `as_of`; below 0 on "
        "negative accrual (accumulation.md 2.5)."
    )
    negative_accrual: NegativeAccrualOut | None = Field(
        description="null unless the raw balance is below 0."
    )
    status: AuthorizationStatus = Field(
        description="As of `as_of`, the most advanced status of the key's lines: active > "
        "expiring > pending > expired > voided (accumulation.md 2.16)."
    )


class UnauthorizedVisit(BaseModel):
    """A visit that matches no authorization: in no balance, never dropped (accumulation.md 2.2)."""

    visit_id: str
    service_code: str
    service_date: date
    units: UnitsString
    status: str


AS_OF = "The day the answer is for."
KNOWN_AT = "Only events recorded up to this instant are seen."
POSITION = "The last ledger position the answer reflects."


class AccumulationList(BaseModel):
    member_id: str
    as_of: date = Field(description=AS_OF)
    known_at: datetime = Field(description=KNOWN_AT)
    position: int = Field(description=POSITION)
    items: list[Summary] = Field(description="Keys whose payer allows accumulation.")
    unauthorized_visits: list[UnauthorizedVisit] = []


class PeriodOut(BaseModel):
    """One period of a key (accumulation.md 2.3 to 2.6)."""

    start: date
    end: date
    authorized: UnitsString = Field(description="Units the active lines grant the period.")
    used: UnitsString = Field(description="Units its visits use (accumulation.md 2.4).")
    from_regular: UnitsString = Field(description="Used units drawn from `authorized`.")
    from_accumulation: UnitsString = Field(
        description="Used units drawn from the accumulation carried in."
    )
    unauthorized: UnitsString = Field(description="Used units beyond both: overuse.")
    balance: UnitsString = Field(description="The raw balance at the period's end.")


class AccumulationDetail(Summary):
    as_of: date = Field(description=AS_OF)
    known_at: datetime = Field(description=KNOWN_AT)
    position: int = Field(description=POSITION)
    periods: list[PeriodOut] = Field(
        description="Every period from the first up to the one holding `as_of`."
    )
    lines: list[LineStatusOut] = Field(
        description="The key's authorization lines with their status, by start date."
    )


class Effect(BaseModel):
    """What one event did to the key's raw balance as of `as_of`."""

    description: str
    raw_balance_before: UnitsString
    raw_balance_after: UnitsString


class ExplainEntry(BaseModel):
    position: int = Field(description="The event's ledger position.")
    event_id: str
    type: str
    recorded_at: datetime
    data: dict[str, Any]
    effect: Effect


class Explanation(AccumulationDetail):
    events: list[ExplainEntry] = Field(description="The events that make up the balance, in order.")
