"""The facts of one member folded from ledger events: lines, visits, payer and tenant settings
(pure)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from services.projections.core import benefit_claim_folds
from services.projections.core.benefits import (
    Coverage,
    Limit,
    Usage,
    Verification,
    eligible,
)
from services.projections.core.billable_time import billable_units
from services.projections.core.claims import Claim, Enrollment, Schedule
from services.projections.core.payer_settings import DEFAULT_SETTINGS, settings_after
from services.projections.core.payer_settings import (
    PayerSettings as PayerSettings,  # re-exported: the accumulation modules import it from here
)

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
class Opening:
    """A key's raw balance at the end of the period holding `as_of`, from another system
    (2.17); the latest by position replaces earlier ones."""

    as_of: date
    balance: Decimal
    event_id: str
    position: int


@dataclass(frozen=True)
class Cap:
    """A pacing cap of a line (2.14): at most `units` per day or week, counting only the visits
    on `days` (weekday names; None: every day)."""

    per: str  # day | week
    units: Decimal
    days: frozenset[str] | None = None

    def counts(self, day: date) -> bool:
        return self.days is None or WEEKDAYS[day.weekday()] in self.days


@dataclass(frozen=True)
class Billed:
    """A visit went out on a claim (2.11). `key` and `allocation` (regular, accumulated,
    unauthorized, cap_exceeded) are what the visit drew at the billing event's position: the
    member projection fills them in as it steps the event, and they never change after."""

    position: int
    claim_reference: str | None
    key: KeyId | None = None
    allocation: tuple[Decimal, Decimal, Decimal, Decimal] | None = None


@dataclass
class Line:
    """A regular authorization line. A voided or removed line keeps its key and dates, grants 0.

    `service_code` is what stands for the code in the key: the code itself, or the name of a
    shared pool whose `service_codes` all draw from the line (2.13)."""

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
    caps: tuple[Cap, ...] = ()  # pacing caps (2.14)
    service_codes: tuple[str, ...] = ()  # the codes visits draw with; () for a plain line

    def __post_init__(self) -> None:
        self.covered_from = self.covered_from or self.start_date
        self.covered_to = self.covered_to or self.end_date
        self.service_codes = self.service_codes or (self.service_code,)

    def serves(self, service_code: str) -> bool:
        """Whether visits of the code draw from the line (its own code, or one of its pool)."""
        return service_code in self.service_codes

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
    billed: Billed | None = None  # 2.11
    # clock times as recorded (their text, offset kept); units follow from them and the payer's
    # settings while they are set (2.12)
    clock_in: str | None = None
    clock_out: str | None = None

    def clock_units(self, settings: PayerSettings) -> Decimal | None:
        if self.clock_in is None or self.clock_out is None:
            return None
        start, end = datetime.fromisoformat(self.clock_in), datetime.fromisoformat(self.clock_out)
        return billable_units(start, end, settings.unit_minutes, settings.rounding_minutes)


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
    openings: dict[KeyId, Opening] = field(default_factory=dict)  # 2.17

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
            line.payer_id == payer_id and line.serves(service_code) for line in self.lines.values()
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
    payer_id = event.data["payer_id"]
    settings = facts.settings[payer_id] = settings_after(facts.settings_for(payer_id), event.data)
    # units of clocked visits are a function of the ledger: the settings in force now apply to
    # every shift, as every other setting applies to the whole history (decision, 2.12)
    for visit in facts.visits.values():
        units = visit.clock_units(settings) if visit.payer_id == payer_id else None
        if units is not None:
            visit.units = units


def grant_codes(data: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """A grant's key code (its service code or pool name) and the codes that draw from it."""
    if data.get("pool") is not None:
        return data["pool"], tuple(data["service_codes"])
    return data["service_code"], (data["service_code"],)


def _granted(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    code, codes = grant_codes(d)
    facts.lines[d["authorization_id"]] = Line(
        authorization_id=d["authorization_id"],
        authorization_number=d["authorization_number"],
        member_id=d["member_id"],
        payer_id=d["payer_id"],
        service_code=code,
        frequency=d["frequency"],
        units=event.amount("units"),
        start_date=event.day("start_date"),
        end_date=event.day("end_date"),
        caps=tuple(
            Cap(
                cap["per"],
                Decimal(cap["units"]),
                frozenset(cap["days"]) if cap.get("days") else None,
            )
            for cap in d.get("caps") or ()
        ),
        service_codes=codes,
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
        units=event.amount_or_none("units") or Decimal(0),
        authorization_number=d.get("authorization_number"),
        status=status,
        first_position=event.position,
        override=d.get("override"),
    )
    facts.visits[visit.visit_id] = visit
    _set_units(facts, visit, event)
    return visit


def _set_units(facts: MemberFacts, visit: Visit, event: LedgerEvent) -> None:
    """Units given outright replace clock times; clock times set the units from then on."""
    d = event.data
    if d.get("units") is not None:
        visit.units = event.amount("units")  # 0 is an amount, not a missing one
        visit.clock_in = visit.clock_out = None
    elif d.get("clock_in") is not None:
        visit.clock_in, visit.clock_out = d["clock_in"], d["clock_out"]
        units = visit.clock_units(facts.settings_for(visit.payer_id))
        assert units is not None
        visit.units = units


def _scheduled(facts: MemberFacts, event: LedgerEvent) -> None:
    _new_visit(facts, event, "scheduled").events.append(event.event_id)


def _rescheduled(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    visit = facts.visits[d["visit_id"]]
    visit.service_date = event.day_or_none("service_date") or visit.service_date
    _set_units(facts, visit, event)
    visit.events.append(event.event_id)


def _confirmed(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    visit = facts.visits.get(d["visit_id"])
    if visit is None:
        visit = _new_visit(facts, event, "confirmed")
    else:
        visit.status = "confirmed"
        visit.service_date = event.day_or_none("service_date") or visit.service_date
        _set_units(facts, visit, event)
        if d.get("override") is not None:
            visit.override = d["override"]
    visit.events.append(event.event_id)


def _opening_balance(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    key = (d["authorization_number"], d["service_code"])
    opening = Opening(event.day("as_of"), event.amount("balance"), event.event_id, event.position)
    facts.openings[key] = opening  # a later one replaces an earlier one (decision, 2.17)


def _status(status: str) -> Any:
    def handler(facts: MemberFacts, event: LedgerEvent) -> None:
        visit = facts.visits[event.data["visit_id"]]
        visit.status = status
        visit.events.append(event.event_id)

    return handler


def _billed(facts: MemberFacts, event: LedgerEvent) -> None:
    visit = facts.visits[event.data["visit_id"]]
    # the frozen key and allocation are filled in by the member projection (2.11)
    visit.billed = Billed(event.position, event.data.get("claim_reference"))
    visit.events.append(event.event_id)


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
    "visit.billed": _billed,
    "accumulation.opening_balance": _opening_balance,
}
