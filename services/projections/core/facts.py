"""The facts of one member folded from ledger events: lines, visits, payer and tenant settings
(pure)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from services.projections.core import benefit_claim_folds
from services.projections.core.benefits import (
    Coverage,
    Limit,
    Usage,
    Verification,
    eligible,
)
from services.projections.core.claims import Claim, Enrollment, Schedule

# events of no member: folded into every member's facts, never a member's own position
TENANT_WIDE_TYPES = frozenset(
    {"tenant.settings_changed", "payer.settings_changed", "accumulator.schedule_defined"}
)
DEFAULT_TIME_ZONE = "UTC"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

KeyId = tuple[str, str]
"""An accumulation key inside one member: (authorization_number, service_code)."""


@dataclass(frozen=True)
class LedgerEvent:
    """One recorded fact as the projections see it: normalized data, position and recorded time.

    `data` is the stored JSON (dates and decimals as text). Its typed fields are decoded once per
    event, when first asked for, by `day`, `amount` and their `_or_none` forms: the fold, the
    negative-accrual causes and the scheduling check of one event share the parsed value instead
    of each parsing the text again.
    """

    position: int
    event_id: str
    type: str
    data: Mapping[str, Any]
    recorded_at: datetime
    _typed: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def day(self, name: str) -> date:
        """The date field `name` (present: the event was validated)."""
        value = self._typed.get(name)
        if value is None:
            value = self._typed[name] = date.fromisoformat(self.data[name])
        return value

    def day_or_none(self, name: str) -> date | None:
        return self.day(name) if self.data.get(name) is not None else None

    def amount(self, name: str) -> Decimal:
        """The decimal field `name` (units, limits, used amounts; exact, never float)."""
        value = self._typed.get(name)
        if value is None:
            value = self._typed[name] = Decimal(self.data[name])
        return value

    def amount_or_none(self, name: str) -> Decimal | None:
        return self.amount(name) if self.data.get(name) is not None else None


def local_date(moment: datetime, time_zone: str) -> date:
    """The calendar date of an instant in an IANA time zone: the tenant's "today" (section 3)."""
    if time_zone == DEFAULT_TIME_ZONE:
        return moment.astimezone(UTC).date()
    return moment.astimezone(ZoneInfo(time_zone)).date()  # ZoneInfo keeps its zones cached


@dataclass(frozen=True)
class PayerSettings:
    allow_accumulation: bool = False
    include_scheduled_units: bool = False
    exclude_missed_days: bool = False
    week_starts_on: str = "sunday"
    renewal_days_before_end: int = 14
    renewal_used_fraction: Decimal = Decimal("0.8")
    # service codes whose visits need an authorization, or "all" (accumulation.md section 3)
    authorization_required: frozenset[str] | Literal["all"] = frozenset()

    def requires_authorization(self, service_code: str) -> bool:
        required = self.authorization_required
        return required == "all" or service_code in required


DEFAULT_SETTINGS = PayerSettings()


@dataclass
class Line:
    """A regular authorization line. A voided or removed line keeps its key and dates, grants 0."""

    authorization_id: str
    authorization_number: str
    member_id: str
    payer_id: str
    service_code: str
    frequency: str
    units: Decimal
    start_date: date
    end_date: date
    status: str = "active"  # active | voided | removed
    # every date the line ever covered: a visit matched under the line stays on its key after
    # the line is shortened, and shows as negative accrual (2.2)
    covered_from: date | None = None
    covered_to: date | None = None

    def __post_init__(self) -> None:
        self.covered_from = self.covered_from or self.start_date
        self.covered_to = self.covered_to or self.end_date

    def covers(self, day: date) -> bool:
        assert self.covered_from is not None and self.covered_to is not None
        return self.covered_from <= day <= self.covered_to

    @property
    def key(self) -> KeyId:
        return (self.authorization_number, self.service_code)

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass
class Visit:
    visit_id: str
    member_id: str
    payer_id: str
    service_code: str
    service_date: date
    units: Decimal
    authorization_number: str | None
    status: str
    first_position: int
    override: dict[str, Any] | None = None
    events: list[str] = field(default_factory=list)


@dataclass
class MemberFacts:
    """Everything the accumulation rules need about one member, as of the events folded in."""

    member_id: str
    lines: dict[str, Line] = field(default_factory=dict)
    visits: dict[str, Visit] = field(default_factory=dict)
    settings: dict[str, PayerSettings] = field(default_factory=dict)
    benefits: dict[str, Limit] = field(default_factory=dict)
    verifications: dict[str, list[Verification]] = field(default_factory=dict)  # by benefit
    coverage: dict[str, list[Coverage]] = field(default_factory=dict)  # by payer
    schedules: dict[str, Schedule] = field(default_factory=dict)  # the tenant's
    enrollments: list[Enrollment] = field(default_factory=list)
    claims: dict[str, Claim] = field(default_factory=dict)
    time_zone: str = DEFAULT_TIME_ZONE  # the tenant's (tenant.settings_changed)

    def copy(self) -> MemberFacts:
        return copy.deepcopy(self)

    def local_date(self, moment: datetime) -> date:
        """The tenant's date at an instant (a recorded time): its "today" then."""
        return local_date(moment, self.time_zone)

    def settings_for(self, payer_id: str) -> PayerSettings:
        return self.settings.get(payer_id, DEFAULT_SETTINGS)

    def key_lines(self, key: KeyId) -> list[Line]:
        return [line for line in self.lines.values() if line.key == key]

    def key_ids(self) -> list[KeyId]:
        return sorted({line.key for line in self.lines.values()})

    def usages(self, limit: Limit) -> list[Usage]:
        """The member's confirmed visits a benefit limit counts, with what each one uses."""
        return [
            Usage(
                visit.visit_id,
                visit.service_date,
                visit.service_code,
                Decimal(1)
                if limit.unit == "visits"
                else visit.units
                if limit.unit == "units"
                else Decimal(0),
            )
            for visit in self.visits.values()
            if visit.status == "confirmed"
            and visit.payer_id == limit.payer_id
            and visit.service_code in limit.service_codes
        ]

    def authorization_applies(self, payer_id: str, service_code: str) -> bool:
        """Whether a visit matching no authorization deserves `no_authorization` (section 3,
        decision): the member has some line with the payer for the code (any number, dates or
        state), or the payer requires an authorization for the code."""
        if self.settings_for(payer_id).requires_authorization(service_code):
            return True
        return any(
            line.payer_id == payer_id and line.service_code == service_code
            for line in self.lines.values()
        )

    def eligible(self, visit: Visit) -> bool:
        """Inside the payer's coverage (always, when no coverage fact of the payer exists)."""
        return eligible(self.coverage.get(visit.payer_id), visit.service_date)

    def apply(self, event: LedgerEvent) -> None:
        """Fold one event in. Events were validated by the ledger before they were recorded."""
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event)


def _tenant_settings_changed(facts: MemberFacts, event: LedgerEvent) -> None:
    facts.time_zone = event.data.get("time_zone", facts.time_zone)


def _settings_changed(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    current = facts.settings_for(d["payer_id"])
    facts.settings[d["payer_id"]] = PayerSettings(
        allow_accumulation=d.get("allow_accumulation", current.allow_accumulation),
        include_scheduled_units=d.get("include_scheduled_units", current.include_scheduled_units),
        exclude_missed_days=d.get("exclude_missed_days", current.exclude_missed_days),
        week_starts_on=d.get("week_starts_on", current.week_starts_on),
        renewal_days_before_end=d.get("renewal_days_before_end", current.renewal_days_before_end),
        renewal_used_fraction=Decimal(
            d.get("renewal_used_fraction", current.renewal_used_fraction)
        ),
        authorization_required=_required_codes(
            d.get("authorization_required"), current.authorization_required
        ),
    )


def _required_codes(
    given: list[str] | str | None, current: frozenset[str] | Literal["all"]
) -> frozenset[str] | Literal["all"]:
    if given is None:
        return current
    return "all" if given == "all" else frozenset(given)


def _granted(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    facts.lines[d["authorization_id"]] = Line(
        authorization_id=d["authorization_id"],
        authorization_number=d["authorization_number"],
        member_id=d["member_id"],
        payer_id=d["payer_id"],
        service_code=d["service_code"],
        frequency=d["frequency"],
        units=event.amount("units"),
        start_date=event.day("start_date"),
        end_date=event.day("end_date"),
    )


def _amended(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    line = facts.lines[d["authorization_id"]]
    if d.get("units") is not None:
        line.units = event.amount("units")  # 0 is an amount, not a missing one
    line.start_date = event.day_or_none("start_date") or line.start_date
    line.end_date = event.day_or_none("end_date") or line.end_date
    line.covered_from = min(line.start_date, line.covered_from or line.start_date)
    line.covered_to = max(line.end_date, line.covered_to or line.end_date)


def _voided(facts: MemberFacts, event: LedgerEvent) -> None:
    facts.lines[event.data["authorization_id"]].status = "voided"


def _service_removed(facts: MemberFacts, event: LedgerEvent) -> None:
    key = (event.data["authorization_number"], event.data["service_code"])
    for line in facts.key_lines(key):
        if line.active:
            line.status = "removed"


def _new_visit(facts: MemberFacts, event: LedgerEvent, status: str) -> Visit:
    d = event.data
    visit = Visit(
        visit_id=d["visit_id"],
        member_id=d["member_id"],
        payer_id=d["payer_id"],
        service_code=d["service_code"],
        service_date=event.day("service_date"),
        units=event.amount("units"),
        authorization_number=d.get("authorization_number"),
        status=status,
        first_position=event.position,
        override=d.get("override"),
    )
    facts.visits[visit.visit_id] = visit
    return visit


def _scheduled(facts: MemberFacts, event: LedgerEvent) -> None:
    _new_visit(facts, event, "scheduled").events.append(event.event_id)


def _rescheduled(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    visit = facts.visits[d["visit_id"]]
    visit.service_date = event.day_or_none("service_date") or visit.service_date
    if d.get("units") is not None:
        visit.units = event.amount("units")
    visit.events.append(event.event_id)


def _confirmed(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    visit = facts.visits.get(d["visit_id"])
    if visit is None:
        visit = _new_visit(facts, event, "confirmed")
    else:
        visit.status = "confirmed"
        visit.service_date = event.day_or_none("service_date") or visit.service_date
        if d.get("units") is not None:
            visit.units = event.amount("units")
        if d.get("override") is not None:
            visit.override = d["override"]
    visit.events.append(event.event_id)


def _status(status: str) -> Any:
    def handler(facts: MemberFacts, event: LedgerEvent) -> None:
        visit = facts.visits[event.data["visit_id"]]
        visit.status = status
        visit.events.append(event.event_id)

    return handler


_HANDLERS = {
    "accumulator.schedule_defined": benefit_claim_folds.schedule_defined,
    "member.enrolled": benefit_claim_folds.enrolled,
    "claim.adjudicated": benefit_claim_folds.claim_adjudicated,
    "claim.status_changed": benefit_claim_folds.claim_status_changed,
    "claim.adjusted": benefit_claim_folds.claim_adjusted,
    "claim.voided": benefit_claim_folds.claim_voided,
    "accumulator.opening_balance": benefit_claim_folds.opening_balance,
    "benefit.limit_defined": benefit_claim_folds.limit_defined,
    "benefit.limit_amended": benefit_claim_folds.limit_amended,
    "benefit.usage_verified": benefit_claim_folds.usage_verified,
    "coverage.started": benefit_claim_folds.coverage_started,
    "coverage.ended": benefit_claim_folds.coverage_ended,
    "tenant.settings_changed": _tenant_settings_changed,
    "payer.settings_changed": _settings_changed,
    "authorization.granted": _granted,
    "authorization.amended": _amended,
    "authorization.voided": _voided,
    "authorization.service_removed": _service_removed,
    "visit.scheduled": _scheduled,
    "visit.rescheduled": _rescheduled,
    "visit.confirmed": _confirmed,
    "visit.missed": _status("missed"),
    "visit.cancelled": _status("cancelled"),
}
