"""Benefit limits: periods, used and remaining, cross-provider verification (pure; spec section 3).

Periods reset on a calendar (`calendar_year`, `plan_year`, `anniversary`), never (`lifetime`),
slide with the date asked about (`rolling`: the N days ending on `as_of`) or open at the first
counted visit (`episode`: N days from it; the next opens at the first visit after it ends). An
episode's dates therefore depend on the visits: `Window` finds the period holding a date from the
limit's rule and its usages, whatever the rule.

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
SLIDING_TYPES = ("rolling", "episode")  # periods of `days` that follow the date or the visits


@dataclass(frozen=True)
class PeriodRule:
    """How a benefit's periods fall: `calendar_year`, `plan_year`, `anniversary`, `lifetime`,
    `rolling` or `episode` (these two with their length in `days`)."""

    type: str
    start_month: int = 1
    start_day: int = 1
    days: int = 0  # rolling and episode only: the period's length

    @classmethod
    def from_json(cls, period: Mapping[str, Any]) -> PeriodRule:
        kind = period["type"]
        if kind == "plan_year":
            return cls(kind, int(period["start_month"]), int(period["start_day"]))
        if kind == "anniversary":
            anchor = date.fromisoformat(period["anchor_date"])
            return cls(kind, anchor.month, anchor.day)
        if kind in SLIDING_TYPES:
            return cls(kind, days=int(period["days"]))
        return cls(kind)

    @property
    def sliding(self) -> bool:
        return self.type in SLIDING_TYPES

    def start_in(self, year: int) -> date:
        """The reset day of a year; 29 February falls back to the 28th in common years."""
        last = calendar.monthrange(year, self.start_month)[1]
        return date(year, self.start_month, min(self.start_day, last))

    def period_of(self, day: date) -> tuple[date | None, date | None]:
        """The calendar period holding `day`, both ends included; (None, None) for a lifetime;
        for `rolling` the N days ending on `day` (an episode needs the visits: `window_of`)."""
        assert self.type != "episode", "an episode's dates follow the visits: use window_of"
        if self.type == "lifetime":
            return None, None
        if self.type == "rolling":
            return _days_back(day, self.days), day
        start = self.start_in(day.year)
        if day < start and day.year == date.min.year:  # before the calendar's first reset
            return date.min, start - timedelta(days=1)
        if day < start:
            start = self.start_in(day.year - 1)
        if start.year == date.max.year:  # the last period runs to the end of the calendar
            return start, date.max
        return start, self.start_in(start.year + 1) - timedelta(days=1)


def _days_back(day: date, days: int) -> date:
    """The first of the `days` days ending on `day` (never before the calendar's first day)."""
    return day - timedelta(days=min(days - 1, (day - date.min).days))


def _days_on(day: date, days: int) -> date:
    """The last of the `days` days starting on `day` (never past the calendar's last day)."""
    return day + timedelta(days=min(days - 1, (date.max - day).days))


def episodes(days: int, visit_dates: Iterable[date]) -> list[tuple[date, date]]:
    """The episodes the visits open: the first at the first visit, lasting `days` days; the next
    at the first visit after one ends."""
    found: list[tuple[date, date]] = []
    for day in sorted(set(visit_dates)):
        if not found or day > found[-1][1]:
            found.append((day, _days_on(day, days)))
    return found


@dataclass(frozen=True)
class Window:
    """The period holding a date. `open` is False for an episode limit on a date in no episode:
    the period is then the one a counted visit on that date would open, with nothing used."""

    start: date | None
    end: date | None
    open: bool = True


def window_of(rule: PeriodRule, usages: Iterable[Usage], day: date) -> Window:
    """The period of a limit holding `day`; episodes follow the usages (a visit after `day`
    cannot open the episode `day` lies in, so all usages may be passed)."""
    if rule.type != "episode":
        return Window(*rule.period_of(day))
    for start, end in episodes(
        rule.days, (u.service_date for u in usages if u.service_date <= day)
    ):
        if start <= day <= end:
            return Window(start, end)
    return Window(day, _days_on(day, rule.days), open=False)


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
    open: bool = True  # False: an episode limit on a date in no episode (nothing used)

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
    """Used and remaining of the period holding `as_of`, counting what happened up to it.

    A verification is in effect in the period holding its date (for `rolling`, while its date lies
    in the window: conservatively, its figure may include use that has slid out since). Its
    reconciliation compares it with the own visits of its own period up to its date.
    """
    usages = tuple(usages)
    window = window_of(limit.period, usages, as_of)
    start, end = window.start, window.end
    own = tuple(
        sorted(
            (u for u in usages if in_period(u.service_date, start, min(as_of, end or as_of))),
            key=lambda u: (u.service_date, u.visit_id),
        )
    )
    seen = tuple(
        sorted(
            (
                v
                for v in verifications
                if window.open and in_period(v.as_of, start, end) and v.as_of <= as_of
            ),
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
        used = current.used + sum((u.amount for u in counted), Decimal(0))
        reconciliation = _reconciliation(limit, usages, current)
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
        open=window.open,
    )


def _reconciliation(limit: Limit, usages: Sequence[Usage], verification: Verification) -> bool:
    """Own visits of the verification's period up to its date exceed the reported figure."""
    window = window_of(limit.period, usages, verification.as_of)
    before = sum(
        (u.amount for u in usages if in_period(u.service_date, window.start, verification.as_of)),
        Decimal(0),
    )
    return before > verification.used


def period_totals(
    limit: Limit, usages: Sequence[Usage], verifications: Sequence[Verification]
) -> list[BenefitStatus]:
    """Every period that has any use, each as of its last day (what threshold alerts judge).
    Episodes are the ones the visits open (a verification in none of them counts in none);
    rolling windows are judged by `rolling_crossings` instead."""
    assert limit.period.type != "rolling", "a rolling limit has a window per day"
    ends: set[date] = set()
    for day in [u.service_date for u in usages] + [v.as_of for v in verifications]:
        window = window_of(limit.period, usages, day)
        if window.open:
            ends.add(window.end or LIFETIME_END)
    return [benefit_status(limit, usages, verifications, end) for end in sorted(ends)]


def rolling_since(
    limit: Limit,
    usages: Sequence[Usage],
    verifications: Sequence[Verification],
    threshold: Decimal,
    today: date,
) -> date | None:
    """For a rolling limit: the first day of the run of days up to `today` whose window has
    reached `threshold` of the limit without a break; None when today's window has not.

    Used changes only where a visit or a verification enters the window (its date) or leaves
    it (its date + N), so the run is found by walking back over those days alone.
    """
    days = limit.period.days
    changes = {today}
    for day in [u.service_date for u in usages] + [v.as_of for v in verifications]:
        changes.update(d for d in (day, day + timedelta(days=days)) if d <= today)
    since: date | None = None
    for day in sorted(changes, reverse=True):
        if benefit_status(limit, usages, verifications, day).used < threshold * limit.limit:
            break
        since = day
    return since


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
