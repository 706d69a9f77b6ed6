"""The value facts of a member's keys: lines (authorizations), visits, caps, billings and opening
balances, as the events fold them (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from services.projections.core.billable_time import shift_units
from services.projections.core.payer_settings import PayerSettings

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

KeyId = tuple[str, str]
"""An accumulation key inside one member: (authorization_number, service_code)."""


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
        return shift_units(
            self.clock_in, self.clock_out, settings.unit_minutes, settings.rounding_minutes
        )
