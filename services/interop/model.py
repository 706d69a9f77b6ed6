"""The figures an eligibility export carries and a payer report brings (pure: no I/O, no clock).

An export is a `Snapshot`: the member's benefit limits and deductible, out-of-pocket and day
accumulators as of a date and a ledger position, each a `Line` (limit, used, remaining). A payer's
report is read into `Reported` figures, one per benefit it names, whatever its format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

LineKind = Literal["limit", "deductible", "out_of_pocket", "day"]
Measure = Literal["visits", "units", "amount", "days"]
MAX_REPORTED_BENEFITS = 500  # one report's benefits: far more than any member has limits


@dataclass(frozen=True)
class Line:
    """One benefit limit or accumulator of the export: its figures for the period holding as_of.

    `ident` is the benefit_id of a limit, the accumulator code of an accumulator (with its illness
    or tooth); `remaining` is limit - used, never below 0, exactly as the JSON answers say."""

    kind: LineKind
    ident: str
    benefit_code: str
    payer_id: str
    service_codes: tuple[str, ...]
    measure: Measure
    period_type: str  # calendar_year | plan_year | anniversary | lifetime | ...
    period_start: date | None
    period_end: date | None
    limit: Decimal
    used: Decimal
    remaining: Decimal
    level: str = "individual"  # individual | family
    network: str = "any"  # in | out | any


@dataclass(frozen=True)
class Snapshot:
    member_id: str
    as_of: date
    position: int
    created: datetime  # the instant the export reflects: known_at, else the time of the answer
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Reported:
    """One benefit as a payer reported it. `codes` identify it (service type codes, procedure
    codes, FHIR category and product codes); `name` is a plan description or item name."""

    index: int  # its place in the report, for answers that name it
    kind: LineKind
    codes: tuple[str, ...]
    name: str | None
    measure: Measure
    limit: Decimal | None
    used: Decimal | None


@dataclass(frozen=True)
class Report:
    """A payer report: whose, as of which day, its reference, and the benefits it names."""

    format: Literal["x12-271", "fhir"]
    member_id: str | None
    as_of: date
    reference: str | None
    benefits: tuple[Reported, ...] = field(default_factory=tuple)

    @property
    def source(self) -> str:
        return "X12 271" if self.format == "x12-271" else "FHIR CoverageEligibilityResponse"
