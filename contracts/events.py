"""The event types clients record and the body of `POST /v1/events` (api.md, "Recording events").

`EVENT_TYPES` maps each type to its payload model. The models live by concern beside this
module (fields, settings, authorizations, visits, periods, benefit_events, claim_events,
opening_balances); every public name is re-exported here, so `from contracts.events import X`
keeps working for every client of the contract.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from contracts.authorizations import (
    MAX_CAPS,
    AuthorizationAmended,
    AuthorizationGranted,
    AuthorizationServiceRemoved,
    AuthorizationVoided,
    Cap,
    ServiceCodeList,
)
from contracts.benefit_events import (
    BenefitLimitAmended,
    BenefitLimitDefined,
    BenefitPeriod,
    BenefitUnit,
    BenefitUsageVerified,
    CoverageChanged,
    Positive,
    ServiceCodes,
    Thresholds,
)
from contracts.claim_events import (
    AccumulatorDefinition,
    Applied,
    ClaimAdjudicated,
    ClaimAdjusted,
    ClaimLine,
    ClaimLines,
    ClaimStatus,
    ClaimStatusChanged,
    ClaimVoided,
    MemberEnrolled,
    Money,
    Percent,
    ReversionLevel,
    ScheduleDefined,
    SchedulePeriod,
)
from contracts.decimals import UnitsString
from contracts.fields import (
    EARLIEST_DATE,
    LATEST_DATE,
    Fraction,
    Frequency,
    Identifier,
    LedgerDate,
    Strict,
    Units,
    Weekday,
    example,
    field_problem,
)
from contracts.opening_balances import (
    AccumulationOpeningBalance,
    AccumulatorOpeningBalance,
    SignedUnits,
)
from contracts.periods import (
    MAX_SLIDING_DAYS,
    Anniversary,
    CalendarYear,
    Episode,
    Lifetime,
    PlanYear,
    Rolling,
    SlidingDays,
)
from contracts.settings import PayerSettingsChanged, TenantSettingsChanged, TimeZoneName
from contracts.visits import (
    MAX_SHIFT,
    Override,
    VisitBilled,
    VisitCancelled,
    VisitConfirmed,
    VisitMissed,
    VisitRescheduled,
    VisitScheduled,
)

__all__ = [
    "EARLIEST_DATE",
    "EVENT_TYPES",
    "LATEST_DATE",
    "MAX_BATCH_EVENTS",
    "MAX_CAPS",
    "MAX_SHIFT",
    "MAX_SLIDING_DAYS",
    "NOT_SUPPORTED_YET",
    "AccumulationOpeningBalance",
    "AccumulatorDefinition",
    "AccumulatorOpeningBalance",
    "Anniversary",
    "AppendCondition",
    "Applied",
    "AuthorizationAmended",
    "AuthorizationGranted",
    "AuthorizationServiceRemoved",
    "AuthorizationVoided",
    "BenefitLimitAmended",
    "BenefitLimitDefined",
    "BenefitPeriod",
    "BenefitUnit",
    "BenefitUsageVerified",
    "CalendarYear",
    "Cap",
    "ClaimAdjudicated",
    "ClaimAdjusted",
    "ClaimLine",
    "ClaimLines",
    "ClaimStatus",
    "ClaimStatusChanged",
    "ClaimVoided",
    "CoverageChanged",
    "Episode",
    "EventIn",
    "EventResult",
    "EventWarning",
    "EventsRequest",
    "EventsResponse",
    "Fraction",
    "Frequency",
    "Identifier",
    "LedgerDate",
    "Lifetime",
    "MemberEnrolled",
    "Money",
    "Override",
    "PayerSettingsChanged",
    "Percent",
    "PlanYear",
    "Positive",
    "ReversionLevel",
    "Rolling",
    "ScheduleDefined",
    "SchedulePeriod",
    "ServiceCodeList",
    "ServiceCodes",
    "SignedUnits",
    "SlidingDays",
    "Strict",
    "TenantSettingsChanged",
    "Thresholds",
    "TimeZoneName",
    "Units",
    "VisitBilled",
    "VisitCancelled",
    "VisitConfirmed",
    "VisitMissed",
    "VisitRescheduled",
    "VisitScheduled",
    "Weekday",
    "example",
    "field_problem",
]

MAX_BATCH_EVENTS = 1000


EVENT_TYPES: dict[str, type[Strict]] = {
    "tenant.settings_changed": TenantSettingsChanged,
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
    "visit.billed": VisitBilled,
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
    "accumulation.opening_balance": AccumulationOpeningBalance,
    "accumulator.opening_balance": AccumulatorOpeningBalance,
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
    """Something the client should know; the event was recorded all the same."""

    code: str = Field(description="insufficient_units, no_authorization and the like.")
    message: str
    shortfall: UnitsString | None = Field(
        default=None, description="Units beyond what was available, where that applies."
    )


class EventResult(BaseModel):
    id: UUID
    status: Literal["recorded", "duplicate"] = Field(
        description="duplicate: the same id with the same body was recorded before; nothing "
        "was stored again and `position` is the first recording's."
    )
    position: int = Field(description="The event's position in the tenant's ledger, from 1.")
    recorded_at: datetime
    warnings: list[EventWarning] = []


class EventsResponse(BaseModel):
    results: list[EventResult] = Field(description="One per event, in the batch's order.")
    last_position: int = Field(description="The highest position among the results.")
