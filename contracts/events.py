"""Pydantic models of the events clients record (api.md, "Recording events")."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from contracts.decimals import DecimalJsonSchema, UnitsString

Units = Annotated[
    Decimal,
    Field(ge=0, allow_inf_nan=False, max_digits=18, decimal_places=6),
    DecimalJsonSchema(),
]
# ids and codes: 1 to 200 characters, no control characters (NUL cannot be stored on PostgreSQL)
Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
# What the periods and the ledger represent: every date of an event or a query lies in these
# years (docs/api.md, "Conventions"); a date outside is refused with 422, never computed with.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)


def _in_ledger_years(day: date) -> date:
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValueError(f"{day.isoformat()} is outside {EARLIEST_DATE} to {LATEST_DATE}")
    return day


LedgerDate = Annotated[date, AfterValidator(_in_ledger_years)]
"""A date of a request that is not an event (events are checked whole by the ledger)."""
Frequency = Literal["day", "week", "month", "span"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
Fraction = Annotated[
    Decimal,
    Field(gt=0, le=1, allow_inf_nan=False, max_digits=7, decimal_places=6),
    DecimalJsonSchema(),
]
MAX_BATCH_EVENTS = 1000


def example(**data: Any) -> ConfigDict:
    """A model's configuration with one example of its data, shown in the OpenAPI document
    and the exported JSON Schemas (tests check that every example is valid)."""
    return ConfigDict(json_schema_extra={"examples": [data]})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def field_problem(title: str, problems: list[tuple[str, str]]) -> ValidationError:
    """A model-level check reported at the fields it concerns (`data.clock_out`), not at the
    model as a whole: a client is told exactly which field to fix."""
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type=PydanticCustomError("field_rule", message), loc=(name,), input=None
            )
            for name, message in problems
        ],
    )


class PayerSettingsChanged(Strict):
    """A payer's accumulation settings; a field left out keeps its value. A change applies to
    the whole history from the position it was recorded at (accumulation.md 2.1)."""

    model_config = example(payer_id="P-1", allow_accumulation=True, week_starts_on="monday")

    payer_id: Identifier
    allow_accumulation: bool | None = Field(
        default=None,
        description="Units a period leaves unused carry into later periods of the same key "
        "(default false).",
    )
    include_scheduled_units: bool | None = Field(
        default=None,
        description="Scheduled visits, not yet confirmed, count as used (default false).",
    )
    exclude_missed_days: bool | None = Field(
        default=None,
        description="A service date on which every visit of the key was missed uses nothing "
        "(default false: missed visits count as used).",
    )
    week_starts_on: Weekday | None = Field(
        default=None, description="The first day of a `week` period (default sunday)."
    )
    # authorization.renewal_due: a key this many days before its end, or with this share of its
    # authorized units used (defaults 14 and 0.8; accumulation.md section 3)
    renewal_days_before_end: Annotated[int, Field(ge=0, le=366)] | None = Field(
        default=None,
        description="`authorization.renewal_due` is sent this many days before a key ends "
        "(default 14).",
    )
    renewal_used_fraction: Fraction | None = Field(
        default=None,
        description="... or once this share of a key's authorized units is used: more than 0, "
        "at most 1 (default 0.8).",
    )
    unit_minutes: Annotated[int, Field(ge=1, le=1440)] | None = Field(
        default=None,
        description="Minutes in one unit when a visit is confirmed with `clock_in`/`clock_out` "
        "(default 60: hourly units; accumulation.md 2.12).",
    )
    rounding_minutes: Annotated[int, Field(ge=1, le=1440)] | None = Field(
        default=None,
        description="Worked minutes are rounded half up to a multiple of this before they are "
        "divided into units (default 15: 7 minutes round down, 8 round up).",
    )
    authorization_required: (
        Annotated[list[Identifier], Field(max_length=1000)] | Literal["all"] | None
    ) = Field(
        default=None,
        description="Service codes whose visits need an authorization, or `all`: a visit of "
        "such a code that matches none is warned `no_authorization` even when the member has no "
        "line with the payer for its code (default none; `[]` clears it; accumulation.md 3).",
    )
    benefit_code_map: Annotated[dict[Identifier, Identifier], Field(max_length=500)] | None = Field(
        default=None,
        description="How the payer's reports name our benefits: its code (an X12 service "
        "type such as `AE`, a procedure code, a FHIR category code) -> our `benefit_code`, "
        "used when reconciling its 271 or CoverageEligibilityResponse (accumulation.md 5; "
        "`{}` leaves the map as it is).",
    )


@cache
def _time_zones() -> frozenset[str]:
    # `localtime` and `posixrules` name the host's own set-up, not a zone: never a tenant's
    return frozenset(zoneinfo.available_timezones() - {"localtime", "posixrules"}) | {"UTC"}


def _iana_time_zone(name: str) -> str:
    """An IANA time zone name the server's time zone database knows (`America/New_York`)."""
    if name not in _time_zones():
        raise ValueError(f"{name!r} is not an IANA time zone name such as America/New_York")
    return name


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_iana_time_zone)]


class TenantSettingsChanged(Strict):
    """The tenant's own settings; a field left out keeps its value (accumulation.md section 3)."""

    model_config = example(time_zone="America/New_York")

    time_zone: TimeZoneName | None = Field(
        default=None,
        description='The IANA time zone whose date is the tenant\'s "today": the default '
        "`as_of`, the day the tick rolls periods over, and how soon an authorization ends "
        "(default UTC).",
    )

    @model_validator(mode="after")
    def _changes_something(self) -> TenantSettingsChanged:
        if self.time_zone is None:
            raise ValueError("a tenant settings change needs at least one setting: time_zone")
        return self


MAX_CAPS = 10  # pacing caps of one line: a bound, not a business rule


class Cap(Strict):
    """A pacing cap (accumulation.md 2.14): at most `units` a day or a week (from the payer's
    `week_starts_on`), counting only visits on `days` when given. Units beyond it still count as
    used and are allocated as unauthorized with the reason `cap_exceeded`."""

    per: Literal["day", "week"] = Field(description="The cap's window: one day or one week.")
    units: Units = Field(gt=0, description="The most units a window may use.")
    days: Annotated[list[Weekday], Field(min_length=1, max_length=7)] | None = Field(
        default=None,
        description="Only visits on these weekdays count towards and are held to the cap "
        "(default: every day).",
    )

    @model_validator(mode="after")
    def _distinct_days(self) -> Cap:
        if self.days is not None and len(set(self.days)) != len(self.days):
            raise ValueError("days names a weekday twice")
        return self


def _distinct_caps(caps: list[Cap] | None) -> list[Cap] | None:
    """Two caps of one line with the same window and days would be one cap written twice."""
    seen: set[tuple[str, frozenset[str] | None]] = set()
    for index, cap in enumerate(caps or ()):
        window = (cap.per, frozenset(cap.days) if cap.days is not None else None)
        if window in seen:
            raise ValueError(f"cap {index} repeats the window and days of an earlier cap")
        seen.add(window)
    return caps


def _distinct_codes(codes: list[str]) -> list[str]:
    if len(set(codes)) != len(codes):
        raise ValueError("service codes must be distinct")
    return codes


ServiceCodeList = Annotated[
    list[Identifier], Field(min_length=1, max_length=100), AfterValidator(_distinct_codes)
]


class AuthorizationGranted(Strict):
    """One regular authorization line: `units` per period of `frequency` for one service code,
    from `start_date` through `end_date` (inclusive)."""

    model_config = example(
        authorization_id="AUTH-1001-L1",
        authorization_number="AUTH-1001",
        member_id="M-1",
        payer_id="P-1",
        service_code="T1019",
        frequency="week",
        units="10",
        start_date="2026-01-04",
        end_date="2026-06-27",
    )

    authorization_id: Identifier = Field(
        description="The line's own id, unique in the tenant; amendments and voids name it."
    )
    authorization_number: Identifier = Field(
        description="The payer's authorization number, shared by the lines of one "
        "authorization; with the service code it names the accumulation key."
    )
    member_id: Identifier
    payer_id: Identifier
    service_code: Identifier | None = Field(
        default=None,
        description="The one service code the line grants; or, instead, `service_codes` and "
        "`pool` (accumulation.md 2.13).",
    )
    service_codes: ServiceCodeList | None = Field(
        default=None,
        description="A shared pool: visits of every listed code draw from the line's units, on "
        "the key (authorization number, `pool`). Given with `pool`, instead of `service_code`.",
    )
    pool: Identifier | None = Field(
        default=None,
        description="The pool's name: it stands where a service code stands in every answer "
        "and URL. A code belongs to at most one key per authorization number and member.",
    )
    frequency: Frequency = Field(
        description="The period `units` are granted for: a day, a week (from the payer's "
        "`week_starts_on`), a calendar month, or the whole span as one period."
    )
    units: Units = Field(description="Units granted for every period the line overlaps.")
    start_date: date
    end_date: date = Field(description="The last day of the line (inclusive).")
    caps: Annotated[
        list[Cap] | None, Field(max_length=MAX_CAPS), AfterValidator(_distinct_caps)
    ] = Field(
        default=None,
        description="Pacing caps inside the line's periods (accumulation.md 2.14), e.g. at most "
        "10 units a week inside a monthly authorization.",
    )

    @model_validator(mode="after")
    def _end_not_before_start(self) -> AuthorizationGranted:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self

    @model_validator(mode="after")
    def _one_code_or_a_pool(self) -> AuthorizationGranted:
        problems: list[tuple[str, str]] = []
        if self.service_code is not None and (self.pool or self.service_codes) is not None:
            problems.append(
                ("service_code", "give service_code, or pool with service_codes, not both")
            )
        elif self.service_code is None and self.pool is None and self.service_codes is None:
            problems.append(("service_code", "required (or pool with service_codes)"))
        elif self.service_code is None and self.pool is None:
            problems.append(("pool", "required with service_codes: the pool's name"))
        elif self.service_code is None and self.service_codes is None:
            problems.append(("service_codes", "required with pool: the codes it shares"))
        if problems:
            raise field_problem("AuthorizationGranted", problems)
        return self

    @property
    def key_code(self) -> str:
        """What stands for a service code in the key: the code, or the pool's name."""
        code = self.service_code if self.service_code is not None else self.pool
        assert code is not None, "validated: a service code or a pool"
        return code


class AuthorizationAmended(Strict):
    """Changes a line for its whole span, retroactively; at least one of `units`, `start_date`,
    `end_date`."""

    model_config = example(authorization_id="AUTH-1001-L1", units="8")

    authorization_id: Identifier = Field(
        description="The line, as `authorization.granted` named it."
    )
    units: Units | None = Field(default=None, description="The new units per period.")
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
    """Voids a line: it keeps its key and dates but grants 0 units from now on and for the past."""

    model_config = example(authorization_id="AUTH-1001-L1", reason="issued in error")

    authorization_id: Identifier = Field(
        description="The line, as `authorization.granted` named it."
    )
    reason: str | None = Field(default=None, max_length=1000)


class AuthorizationServiceRemoved(Strict):
    """Removes a service code from every line of an authorization number of the member."""

    model_config = example(member_id="M-1", authorization_number="AUTH-1001", service_code="T1019")

    member_id: Identifier
    authorization_number: Identifier
    service_code: Identifier


class Override(Strict):
    """Who allowed a visit beyond the available units, and why (needs the supervisor role)."""

    by: Identifier = Field(description="The supervisor who allowed it.")
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class VisitScheduled(Strict):
    """A visit planned for a service date; its latest recorded state wins (accumulation.md 2.1)."""

    model_config = example(
        visit_id="V-1",
        member_id="M-1",
        payer_id="P-1",
        service_code="T1019",
        service_date="2026-01-06",
        units="4",
        authorization_number="AUTH-1001",
    )

    visit_id: Identifier
    member_id: Identifier
    payer_id: Identifier
    service_code: Identifier
    service_date: date
    units: Units
    authorization_number: Identifier | None = Field(
        default=None,
        description="Match the visit to this authorization; without it, the line of the same "
        "payer and service code covering the service date (accumulation.md 2.2).",
    )
    override: Override | None = Field(
        default=None,
        description="Schedule beyond the available units; the caller needs the supervisor role.",
    )


class VisitRescheduled(Strict):
    """Moves a visit to another date and/or changes its units."""

    model_config = example(visit_id="V-1", service_date="2026-01-07")

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

    model_config = example(visit_id="V-1", units="3.5")

    visit_id: Identifier
    units: Units | None = Field(
        default=None, description="The units actually given (default: the scheduled units)."
    )
    clock_in: AwareDatetime | None = Field(
        default=None,
        description="Instead of `units`: when the work began (RFC 3339 with offset). Units "
        "are the worked minutes rounded to the payer's `rounding_minutes`, half up, divided "
        "by its `unit_minutes` (accumulation.md 2.12). Given with `clock_out`.",
    )
    clock_out: AwareDatetime | None = Field(
        default=None,
        description="When the work ended: after `clock_in`, at most 24 hours later.",
    )
    member_id: Identifier | None = Field(
        default=None, description="For a visit never scheduled, as in `visit.scheduled`."
    )
    payer_id: Identifier | None = Field(
        default=None, description="For a visit never scheduled, as in `visit.scheduled`."
    )
    service_code: Identifier | None = Field(
        default=None, description="For a visit never scheduled, as in `visit.scheduled`."
    )
    service_date: date | None = Field(
        default=None, description="For a visit never scheduled, as in `visit.scheduled`."
    )
    authorization_number: Identifier | None = Field(
        default=None, description="As in `visit.scheduled`."
    )
    override: Override | None = Field(default=None, description="As in `visit.scheduled`.")

    @model_validator(mode="after")
    def _units_or_clock_times(self) -> VisitConfirmed:
        problems: list[tuple[str, str]] = []
        clock_in, clock_out = self.clock_in, self.clock_out
        if self.units is not None and (clock_in or clock_out) is not None:
            problems.append(("units", "give units or clock_in and clock_out, not both"))
        if clock_in is not None and clock_out is None:
            problems.append(("clock_out", "required with clock_in"))
        elif clock_out is not None and clock_in is None:
            problems.append(("clock_in", "required with clock_out"))
        elif clock_in is not None and clock_out is not None:
            if clock_out <= clock_in:
                problems.append(("clock_out", "must be after clock_in"))
            elif clock_out - clock_in > MAX_SHIFT:
                problems.append(("clock_out", "a shift lasts at most 24 hours after clock_in"))
        if problems:
            raise field_problem("VisitConfirmed", problems)
        return self


MAX_SHIFT = timedelta(hours=24)


class VisitMissed(Strict):
    """The member missed the visit: its units still count as used, unless the payer's
    `exclude_missed_days` applies."""

    model_config = example(visit_id="V-1", reason="no show")

    visit_id: Identifier
    reason: str | None = Field(default=None, max_length=1000)


class VisitCancelled(Strict):
    """The visit will not take place: it uses nothing."""

    model_config = example(visit_id="V-1", reason="member in hospital")

    visit_id: Identifier
    reason: str | None = Field(default=None, max_length=1000)


class VisitBilled(Strict):
    """The visit went out on a claim: its allocation as it stands now is frozen (accumulation.md
    2.11). Only a confirmed visit, billed once; a billed visit cannot change after."""

    model_config = example(visit_id="V-1", claim_reference="CLM-2026-0042")

    visit_id: Identifier
    claim_reference: Identifier | None = Field(
        default=None, description="The claim the visit went out on, as the billing system names it."
    )


class CalendarYear(Strict):
    """Resets every 1 January."""

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
    """Never resets: one period for the member's whole life."""

    type: Literal["lifetime"]


MAX_SLIDING_DAYS = 3660  # about ten years: a bound, far beyond any payer's rolling limit
SlidingDays = Annotated[int, Field(ge=1, le=MAX_SLIDING_DAYS)]


class Rolling(Strict):
    """Counts the `days` days ending on the date asked about ("20 visits in any 90 days")."""

    type: Literal["rolling"]
    days: SlidingDays = Field(description=f"The window's length, 1 to {MAX_SLIDING_DAYS} days.")


class Episode(Strict):
    """Opens at the first counted visit and lasts `days` days; the next episode opens at the
    first counted visit after it ends."""

    type: Literal["episode"]
    days: SlidingDays = Field(description=f"An episode's length, 1 to {MAX_SLIDING_DAYS} days.")


BenefitPeriod = Annotated[
    CalendarYear | PlanYear | Anniversary | Lifetime | Rolling | Episode,
    Field(discriminator="type"),
]
BenefitUnit = Literal["visits", "units", "amount"]
Thresholds = Annotated[list[Fraction], Field(min_length=1, max_length=10)]
ServiceCodes = Annotated[list[Identifier], Field(min_length=1, max_length=100)]
Positive = Annotated[
    Decimal,
    Field(gt=0, allow_inf_nan=False, max_digits=18, decimal_places=6),
    DecimalJsonSchema(),
]


def _distinct_sorted(values: list[Decimal] | None) -> list[Decimal] | None:
    if values is None:
        return None
    if len(set(values)) != len(values):
        raise ValueError("thresholds must be distinct")
    return sorted(values)


class CoverageChanged(Strict):
    """coverage.started / coverage.ended: the member is covered by the payer from / through date."""

    model_config = example(member_id="M-1", payer_id="P-1", date="2026-01-01")

    member_id: Identifier
    payer_id: Identifier
    # annotated, not assigned: a default named `date` would hide the type `date`
    date: Annotated[
        date,
        Field(description="The first day covered (coverage.started) or the last (coverage.ended)."),
    ]


class BenefitLimitDefined(Strict):
    """A limit on the member's use of a benefit per period, counted over its service codes."""

    model_config = example(
        benefit_id="B-1",
        member_id="M-1",
        payer_id="P-1",
        benefit_code="PT",
        service_codes=["97110", "97112"],
        limit="20",
        unit="visits",
        period={"type": "calendar_year"},
        thresholds=["0.8"],
    )

    benefit_id: Identifier = Field(description="The limit's own id; later events name it.")
    member_id: Identifier
    payer_id: Identifier
    benefit_code: Identifier = Field(description="The payer's code of the benefit.")
    service_codes: ServiceCodes = Field(description="Visits of these service codes use the limit.")
    limit: Positive = Field(description="How much of `unit` a period allows.")
    unit: BenefitUnit = Field(
        description="What is counted: visits, their units, or an amount of money."
    )
    period: BenefitPeriod = Field(description="When the limit starts again.")
    thresholds: Thresholds | None = Field(
        default=None,
        description="Shares of the limit (more than 0, at most 1) whose crossing sends "
        "`benefit.threshold_crossed`.",
    )

    @model_validator(mode="after")
    def _thresholds(self) -> BenefitLimitDefined:
        self.thresholds = _distinct_sorted(self.thresholds)
        return self


class BenefitLimitAmended(Strict):
    """Changes a defined limit for every period, retroactively (like authorization.amended)."""

    model_config = example(benefit_id="B-1", limit="24")

    benefit_id: Identifier
    service_codes: ServiceCodes | None = None
    limit: Positive | None = None
    period: BenefitPeriod | None = None
    thresholds: Thresholds | None = Field(
        default=None, description="As in `benefit.limit_defined`."
    )

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

    model_config = example(
        benefit_id="B-1", as_of="2026-03-31", used="6", source="payer portal", reference="R-77"
    )

    benefit_id: Identifier
    as_of: date = Field(description="The day the reported figure is valid on.")
    used: Units = Field(description="Used in the period holding `as_of`, in the limit's unit.")
    source: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Where the figure comes from (a portal, a call, an X12 271)."
    )
    reference: Annotated[str, Field(max_length=200)] | None = Field(
        default=None, description="The source's reference of the report."
    )


# --- claims accumulators (accumulation.md section 4) ---------------------------------------------

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


SignedUnits = Annotated[
    Decimal,
    Field(allow_inf_nan=False, max_digits=18, decimal_places=6),
    DecimalJsonSchema(),
]


class AccumulationOpeningBalance(Strict):
    """The raw balance B_k of a key at the end of the period holding `as_of`, as another system
    computed it (a clinic or payer migrating mid-period; accumulation.md 2.17). From the next
    period the balance continues from it; the key's own visits up to that period's end are taken
    as included. A later opening balance of the same key replaces an earlier one."""

    model_config = example(
        member_id="M-1",
        payer_id="P-1",
        authorization_number="AUTH-1001",
        service_code="T1019",
        as_of="2026-02-14",
        balance="6.5",
        source="previous scheduling system",
        reference="export 2026-02-15",
    )

    member_id: Identifier
    payer_id: Identifier
    authorization_number: Identifier
    service_code: Identifier = Field(
        description="The key's service code, or its pool's name (accumulation.md 2.13)."
    )
    as_of: date = Field(description="A day of the period whose closing balance this is.")
    balance: SignedUnits = Field(
        description="The raw balance at the end of that period; below 0 for negative accrual."
    )
    source: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="The system the figure comes from."
    )
    reference: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class AccumulatorOpeningBalance(Strict):
    """Where another system left a claims accumulator (accumulation.md 2.17): `applied` as of a
    date, for one member's accumulator (`member_id`) or a family-level one (`family_id`, not
    both). From then on applied = that figure + the claims with lines after `as_of` in the
    period; lines on or before it are taken as included in the figure."""

    model_config = example(
        member_id="M-1",
        schedule_id="S-MED-2026",
        accumulator_code="DED",
        as_of="2026-03-31",
        applied="350.00",
        source="previous claims system",
    )

    member_id: Identifier | None = Field(
        default=None, description="The member, for an individual accumulator."
    )
    family_id: Identifier | None = Field(
        default=None, description="The family, for a family-level accumulator (instead of member)."
    )
    schedule_id: Identifier
    accumulator_code: Identifier
    illness: Identifier | None = Field(
        default=None, description="For an accumulator kept per illness: which one."
    )
    tooth: Identifier | None = Field(
        default=None, description="For an accumulator kept per tooth: which one."
    )
    as_of: date = Field(
        description="The day the figure is valid on (its period is the one holding it)."
    )
    applied: Units = Field(description="Applied in the period up to `as_of`: money, or days.")
    source: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Where the figure comes from (the system migrated from)."
    )
    reference: Annotated[str, Field(max_length=200)] | None = Field(
        default=None, description="The source's reference of the figure."
    )


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
