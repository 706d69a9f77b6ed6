"""Pydantic models of query answers, reports, operations and errors (api.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.decimals import UnitsString
from contracts.events import Identifier, LedgerDate, Units

Role = Literal["writer", "reader", "subscriber", "supervisor", "admin"]


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


class KeyRef(BaseModel):
    authorization_number: str
    service_code: str


class VisitAllocation(BaseModel):
    """Where the visit's units were drawn from (accumulation.md 2.6)."""

    regular: UnitsString = Field(description="From the period's authorized units.")
    accumulated: UnitsString = Field(description="From the accumulation carried in.")
    unauthorized: UnitsString = Field(description="Beyond both.")
    reason: Literal["cap_exceeded"] | None = Field(
        default=None,
        description="`cap_exceeded` when some of the unauthorized units lie beyond a pacing cap "
        "of the authorization (accumulation.md 2.14).",
    )


class VisitOut(BaseModel):
    visit_id: str
    member_id: str
    payer_id: str
    service_code: str
    status: Literal["scheduled", "confirmed", "missed", "cancelled"]
    service_date: date
    units: UnitsString
    key: KeyRef | None = Field(description="The key the visit matched; null when unauthorized.")
    unauthorized: bool = Field(description="The visit matches no authorization.")
    allocation: VisitAllocation
    override: dict[str, Any] | None = Field(
        description="`{by, reason}` when a supervisor allowed the visit beyond the units."
    )
    not_eligible: bool = Field(
        default=False,
        description="the service date lies outside the member's coverage by the payer "
        "(eligibility is not accumulation: the visit still counts where it counts)",
    )
    billed: bool = Field(
        default=False,
        description="The visit went out on a claim: `allocation` is frozen as it stood then "
        "(accumulation.md 2.11).",
    )
    claim_reference: str | None = Field(
        default=None, description="The claim named by `visit.billed`, if any."
    )
    clock_in: AwareDatetime | None = Field(
        default=None,
        description="The shift's clock times as recorded, when its units come from them "
        "(accumulation.md 2.12); null when the units were given.",
    )
    clock_out: AwareDatetime | None = None
    position: int = Field(
        description="The last ledger position the answer reflects (with `known_at`, the last "
        "one recorded at or before it)."
    )


class SchedulingCheckIn(BaseModel):
    """A proposed visit, checked against the member's key without recording anything."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "member_id": "M-1",
                    "payer_id": "P-1",
                    "service_code": "T1019",
                    "service_date": "2026-01-13",
                    "units": "5",
                }
            ]
        },
    )

    member_id: Identifier
    payer_id: Identifier
    service_code: Identifier
    service_date: LedgerDate
    units: Units = Field(gt=0)
    authorization_number: Identifier | None = Field(
        default=None, description="As in `visit.scheduled`: match this authorization."
    )


class Available(BaseModel):
    regular: UnitsString = Field(description="Regular units left in the visit's period.")
    accumulated: UnitsString = Field(
        description="Accumulated units the period may draw, never more than later periods leave."
    )
    total: UnitsString


class CheckAllocation(BaseModel):
    """How the proposed units would be drawn."""

    regular: UnitsString
    accumulated: UnitsString
    shortfall: UnitsString = Field(description="Units beyond what is available.")


class CheckWarning(BaseModel):
    code: str  # no_authorization | insufficient_units | cap_exceeded | not_eligible
    message: str
    shortfall: UnitsString | None = Field(default=None, description="null for not_eligible")


class SchedulingCheckOut(BaseModel):
    authorization_number: str | None = Field(description="The key matched; null when none.")
    service_code: str
    position: int = Field(description=POSITION)
    available: Available
    allocation: CheckAllocation
    warnings: list[CheckWarning]


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


class RecalculateIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"member_id": "M-1"}]}
    )

    member_id: str | None = Field(default=None, description="Only this member (default: all).")


class RecalculateOut(BaseModel):
    checked: int = Field(description="Members replayed from the ledger.")
    corrected: int = Field(description="Members whose read models differed and were corrected.")


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"roles": ["writer", "reader"], "name": "scheduling system"}]
        },
    )

    roles: list[Role] = Field(min_length=1, description="The new key's roles in this tenant.")
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
    """One precise reason the request was refused."""

    index: int | None = Field(
        default=None, description="The event's index in the batch; null for the request itself."
    )
    field: str = Field(description="Where: `data.units`, `events`, `as_of`, `body` and the like.")
    problem: str
    position: int | None = Field(
        default=None,
        description="`condition_failed` only: the tenant's current ledger position, to read "
        "from and retry.",
    )


class ErrorBody(BaseModel):
    code: str = Field(
        description="What failed, for programs: invalid_event, invalid_request, "
        "not_supported_yet, event_id_reused, condition_failed, concurrency_conflict, "
        "not_found, method_not_allowed, unauthenticated, forbidden, unavailable, "
        "internal_error."
    )
    message: str = Field(description="What failed, for people.")
    details: list[ErrorDetail] = Field(default=[], description="Every problem found, at once.")


class ErrorOut(BaseModel):
    """Every error answer has this shape (api.md)."""

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


class TenantStatusOut(BaseModel):
    """GET /v1/admin/status: the caller's tenant only (/readyz and /metrics show no tenant)."""

    tenant: str
    events: int = Field(description="The tenant's last position (positions are gap-free).")
    projected_position: int = Field(description="The last position its read models reflect.")
    lag: int = Field(description="events - projected_position")
    lag_oldest_age_seconds: float = Field(
        description="How long the first event not reflected yet has waited (0 when none)."
    )
    derived_events: int = Field(description="The tenant's last derived-event sequence.")
    relay_lag: dict[str, int] = Field(
        description="Per relay stream, the tenant's derived events not published yet."
    )
