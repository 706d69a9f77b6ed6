"""Accumulation periods: day, week (configurable first day), calendar month, whole span (pure)."""

from __future__ import annotations

from datetime import date, timedelta

from services.projections.core.fact_types import WEEKDAYS

FREQUENCIES = ("day", "week", "month", "span")
MAX_PERIODS = 20_000  # about 55 years of daily periods: a bound, not a business rule


def period_start(frequency: str, day: date, week_starts_on: str = "sunday") -> date:
    """The first date of the period of `frequency` containing `day` (span has no calendar grid)."""
    if frequency == "day":
        return day
    if frequency == "week":
        first_weekday = WEEKDAYS.index(week_starts_on)
        return day - timedelta(days=(day.weekday() - first_weekday) % 7)
    if frequency == "month":
        return day.replace(day=1)
    raise ValueError(f"no calendar grid for frequency {frequency!r}")


def _next_start(frequency: str, start: date) -> date:
    if frequency == "day":
        return start + timedelta(days=1)
    if frequency == "week":
        return start + timedelta(days=7)
    if start.month == 12:
        return date(start.year + 1, 1, 1)
    return date(start.year, start.month + 1, 1)


def periods_between(
    frequency: str, first: date, last: date, week_starts_on: str = "sunday"
) -> list[tuple[date, date]]:
    """Every period of `frequency` from the one containing `first` to the one containing `last`."""
    assert first <= last, "a key's periods need first <= last"
    if frequency == "span":
        return [(first, last)]
    periods: list[tuple[date, date]] = []
    start = period_start(frequency, first, week_starts_on)
    while start <= last:
        following = _next_start(frequency, start)
        periods.append((start, following - timedelta(days=1)))
        start = following
        assert len(periods) <= MAX_PERIODS, "period count beyond its bound"
    return periods
