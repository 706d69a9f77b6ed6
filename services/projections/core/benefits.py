"""Benefit limits: periods, used and remaining, cross-provider verification (pure; spec section 3).

A limit counts, per benefit period, the member's own confirmed visits of its service codes with
its payer (a visit counts 1 for `visits`, its units for `units`, nothing for `amount`, whose use
comes from verifications) plus what other providers used, as the payer reported it. A
verification says `used` as of a date: from that date the figure is the reported one plus own
visits after it; own visits on or before it that exceed the reported figure raise
`reconciliation` (the payer has not seen all of ours, or counts differently).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

DEFAULT_THRESHOLDS = (Decimal("0.8"), Decimal("1.0"))
LIFETIME_END = date.max


@dataclass(frozen=True)
class PeriodRule:
    """How a benefit's periods fall: `calendar_year`, `plan_year`, `anniversary`, `lifetime`."""

    type: str
    start_month: int = 1
    start_day: int = 1

    @classmethod
    def from_json(cls, period: Mapping[str, Any]) -> PeriodRule:
        kind = period["type"]
        if kind == "plan_year":
            return cls(kind, int(period["start_month"]), int(period["start_day"]))
        if kind == "anniversary":
            anchor = date.fromisoformat(period["anchor_date"])
            return cls(kind, anchor.month, anchor.day)
        return cls(kind)

    def start_in(self, year: int) -> date:
        """The reset day of a year; 29 February falls back to the 28th in common years."""
        last = calendar.monthrange(year, self.start_month)[1]
        return date(year, self.start_month, min(self.start_day, last))

    def period_of(self, day: date) -> tuple[date | None, date | None]:
        """The period holding `day`, both ends included; (None, None) for a lifetime."""
        if self.type == "lifetime":
            return None, None
        start = self.start_in(day.year)
        if day < start and day.year == date.min.year:  # before the calendar's first reset
            return date.min, start - timedelta(days=1)
        if day < start:
            start = self.start_in(day.year - 1)
        if start.year == date.max.year:  # the last period runs to the end of the calendar
            return start, date.max
        return start, self.start_in(start.year + 1) - timedelta(days=1)


@dataclass(frozen=True)
class Limit:
    benefit_id: str
    member_id: str
    payer_id: str
    benefit_code: str
    service_codes: frozenset[str]
    limit: Decimal
    unit: str  # visits | units | amount
    period: PeriodRule
    thresholds: tuple[Decimal, ...] = DEFAULT_THRESHOLDS


@dataclass(frozen=True)
class Usage:
    """One own visit counted against a limit: its date and how much it uses."""

    visit_id: str
    service_date: date
    service_code: str
    amount: Decimal


@dataclass(frozen=True)
class Verification:
    event_id: str
    position: int
    as_of: date
    used: Decimal
    source: str
    reference: str | None = None


@dataclass(frozen=True)
class BenefitStatus:
    """A limit as of a date: its period, used, remaining and flags, and what makes up `used`."""

    limit: Limit
    as_of: date
    period_start: date | None
    period_end: date | None
    used: Decimal
    remaining: Decimal  # never below 0
    exhausted: bool
    reconciliation: bool
    verification: Verification | None  # the one in effect
    visits: tuple[Usage, ...]  # own visits of the period up to as_of
    verifications: tuple[Verification, ...]  # of the period up to as_of
    counted: frozenset[str] = field(default_factory=frozenset)  # visit ids added to used

    @property
    def fraction(self) -> Decimal:
        return self.used / self.limit.limit


def in_period(day: date, start: date | None, end: date | None) -> bool:
    return (start is None or start <= day) and (end is None or day <= end)


def benefit_status(
    limit: Limit,
    usages: Iterable[Usage],
    verifications: Iterable[Verification],
    as_of: date,
) -> BenefitStatus:
    """Used and remaining of the period holding `as_of`, counting what happened up to it."""
    start, end = limit.period.period_of(as_of)
    own = tuple(
        sorted(
            (u for u in usages if in_period(u.service_date, start, min(as_of, end or as_of))),
            key=lambda u: (u.service_date, u.visit_id),
        )
    )
    seen = tuple(
        sorted(
            (v for v in verifications if in_period(v.as_of, start, end) and v.as_of <= as_of),
            key=lambda v: (v.as_of, v.position),
        )
    )
    current = seen[-1] if seen else None
    if current is None:
        counted = own
        used = sum((u.amount for u in own), Decimal(0))
        reconciliation = False
    else:
        counted = tuple(u for u in own if u.service_date > current.as_of)
        before = sum((u.amount for u in own if u.service_date <= current.as_of), Decimal(0))
        used = current.used + sum((u.amount for u in counted), Decimal(0))
        reconciliation = before > current.used
    return BenefitStatus(
        limit=limit,
        as_of=as_of,
        period_start=start,
        period_end=end,
        used=used,
        remaining=max(limit.limit - used, Decimal(0)),
        exhausted=used >= limit.limit,
        reconciliation=reconciliation,
        verification=current,
        visits=own,
        verifications=seen,
        counted=frozenset(u.visit_id for u in counted),
    )


def period_totals(
    limit: Limit, usages: Sequence[Usage], verifications: Sequence[Verification]
) -> list[BenefitStatus]:
    """Every period that has any use, each as of its last day (what threshold alerts judge)."""
    starts: dict[date | None, date] = {}
    for day in [u.service_date for u in usages] + [v.as_of for v in verifications]:
        start, end = limit.period.period_of(day)
        starts[start] = end or LIFETIME_END
    return [
        benefit_status(limit, usages, verifications, end)
        for _, end in sorted(starts.items(), key=lambda item: item[1])
    ]


def crossed(status: BenefitStatus) -> list[Decimal]:
    """The thresholds a period's use has reached."""
    return [t for t in status.limit.thresholds if status.used >= t * status.limit.limit]


@dataclass(frozen=True)
class Coverage:
    """A payer's coverage of the member: from `start` through `end` (None while open)."""

    start: date
    end: date | None = None

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


def eligible(spans: Sequence[Coverage] | None, day: date) -> bool:
    """Covered on `day`. With no coverage facts for the payer there is nothing to judge: True."""
    return not spans or any(span.covers(day) for span in spans)
