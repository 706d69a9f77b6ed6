"""Pydantic models of the forecast, the utilization, authorized-vs-scheduled and
exceeding-accumulation reports, and the members list (api.md, Queries; accumulation.md 2.10,
2.15, 2.16)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from contracts.accumulation_answers import AS_OF, POSITION, AuthorizationStatus, Span
from contracts.decimals import DecimalJsonSchema, Formatted, UnitsString, money_text

ForecastString = Annotated[Decimal, Formatted(money_text), DecimalJsonSchema()]
"""A forecast figure: computed exactly, written half up to 2 decimals (`"8.67"`, 2.15)."""


class ForecastPeriod(BaseModel):
    """One projected period: from the one holding `as_of` to the key's last."""

    start: date
    end: date
    authorized: UnitsString = Field(description="Units the active lines grant the period.")
    used: UnitsString = Field(description="Units its visits use as known (accumulation.md 2.4).")
    projected_used: ForecastString = Field(description="max(used, burn_rate).")
    projected_balance: ForecastString = Field(
        description="The raw balance at the period's end with the projected usage."
    )


class ForecastOut(BaseModel):
    """Will the units last? (accumulation.md 2.15)."""

    member_id: str
    authorization_number: str
    service_code: str
    as_of: date = Field(description=AS_OF)
    window: int = Field(description="The number of ended periods the burn rate averages.")
    position: int = Field(description=POSITION)
    status: AuthorizationStatus = Field(description="The key's status (accumulation.md 2.16).")
    burn_rate: ForecastString | None = Field(
        description="The average used units of the last `window` periods that ended before "
        "`as_of`; null when none has ended."
    )
    projected_balance: ForecastString = Field(
        description="The raw balance at the key's last period with the projected usage."
    )
    projected_unused: ForecastString = Field(description="max(0, projected_balance).")
    runs_out_on: date | None = Field(
        description="The start of the first projected period whose balance is below 0; null "
        "when none is."
    )
    periods: list[ForecastPeriod] = Field(
        description="The projected periods: from the one holding `as_of` to the key's last."
    )


class UtilizationItem(BaseModel):
    member_id: str
    authorization_number: str
    service_code: str
    span: Span = Field(description="From the earliest line start to the latest line end.")
    status: AuthorizationStatus
    burn_rate: ForecastString | None
    projected_unused: ForecastString = Field(
        description="Units projected to be left unused at the key's end."
    )
    runs_out_on: date | None = Field(
        description="When the projection first goes below 0; null when it never does."
    )


class UtilizationReport(BaseModel):
    """Keys in force (active or expiring) projected to leave units unused or to run out before
    their span ends (accumulation.md 2.15), by member, number and service code."""

    as_of: date = Field(description=AS_OF)
    position: int = Field(description=POSITION)
    items: list[UtilizationItem]


class AuthorizedVsScheduledItem(BaseModel):
    """One period of one key: what was authorized against what is booked and done."""

    member_id: str
    authorization_number: str
    service_code: str
    period: Span
    authorized: UnitsString = Field(description="Units the active lines grant the period.")
    scheduled: UnitsString = Field(description="Units of its visits still scheduled.")
    confirmed: UnitsString = Field(description="Units of its confirmed visits.")
    missed: UnitsString = Field(description="Units of its missed visits.")
    variance: UnitsString = Field(
        description="authorized - scheduled - confirmed: below 0 when more is booked and done "
        "than authorized."
    )


class AuthorizedVsScheduledReport(BaseModel):
    from_: date = Field(alias="from", description="The first day of the range.")
    to: date = Field(description="The last day of the range.")
    position: int = Field(description=POSITION)
    items: list[AuthorizedVsScheduledItem] = Field(
        description="Per key and period overlapping the range, by member, number, service code "
        "and period."
    )


class MemberOut(BaseModel):
    member_id: str
    first_position: int = Field(description="The member's first ledger event.")
    last_position: int = Field(description="The member's last ledger event.")


class MembersPage(BaseModel):
    position: int = Field(description=POSITION)
    items: list[MemberOut] = Field(description="By member id.")
    next_after: str | None = Field(
        description="Pass as `after` for the next page; null on the last page."
    )


ReviewReason = Literal["negative_accrual", "zero_balance", "past_overuse"]


class ExceedingItem(BaseModel):
    member_id: str
    authorization_number: str
    service_code: str
    reason: ReviewReason = Field(
        description="The first that applies as of the date: negative_accrual (raw balance below "
        "0), zero_balance (exactly 0), past_overuse (positive, but a period up to the date had "
        "unauthorized units) (accumulation.md 2.10)."
    )
    raw_balance: UnitsString
    overuse: UnitsString = Field(
        description="negative_accrual: -raw_balance; otherwise the unauthorized units of the "
        "periods up to the date (0 for a zero balance that never overdrew)."
    )
    cause: str | None = Field(
        description="As `negative_accrual.cause` (accumulation.md 2.7); null when no period up "
        "to the date overdrew."
    )
    event_id: str | None = Field(description="The event that caused it.")
    period_start: date | None = Field(
        description="The first period up to the date with unauthorized units; null when none."
    )
    override: dict[str, Any] | None = Field(description="`{by, reason}` of an override.")


class ExceedingReport(BaseModel):
    as_of: date
    position: int = Field(description=POSITION)
    items: list[ExceedingItem]
