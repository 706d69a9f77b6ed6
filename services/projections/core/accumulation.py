"""Authorization accumulation (accumulation.md section 2) as pure functions: facts in, balances out.

No database, no clock, no logging: time comes in as arguments.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from services.projections.core.facts import KeyId, Line, MemberFacts, PayerSettings, Visit
from services.projections.core.periods import periods_between

ZERO = Decimal(0)


class Allocation(NamedTuple):
    """How a visit's counted units were drawn: regular, accumulated, unauthorized overuse."""

    regular: Decimal = ZERO
    accumulated: Decimal = ZERO
    unauthorized: Decimal = ZERO


class PeriodResult(NamedTuple):
    start: date
    end: date
    authorized: Decimal
    used: Decimal
    from_regular: Decimal
    from_accumulation: Decimal
    unauthorized: Decimal
    balance: Decimal  # the raw balance B_k, may be negative


@dataclass(frozen=True)
class KeyResult:
    key: KeyId
    payer_id: str
    frequency: str
    span_start: date
    span_end: date
    accumulates: bool
    periods: tuple[PeriodResult, ...]
    visits: dict[str, Allocation]

    @property
    def negative(self) -> bool:
        return any(period.balance < 0 for period in self.periods)


@dataclass(frozen=True)
class MemberResult:
    keys: dict[KeyId, KeyResult]
    unmatched: dict[str, Allocation]  # unauthorized visits: never in a balance
    matches: dict[str, KeyId | None]


def _match_rank(line: Line) -> tuple[bool, int, str]:
    # active before voided, then the latest start, then the smaller number (decision)
    return (not line.active, -line.start_date.toordinal(), line.authorization_number)


def match_visit(
    lines: Iterable[Line],
    payer_id: str,
    service_code: str,
    service_date: date,
    authorization_number: str | None,
) -> KeyId | None:
    """The key a visit draws from (accumulation.md 2.2), or None when it is unauthorized."""
    lines = list(lines)
    if authorization_number is not None:
        key = (authorization_number, service_code)
        return key if any(line.key == key for line in lines) else None
    covering = [
        line
        for line in lines
        if line.payer_id == payer_id
        and line.service_code == service_code
        and line.covers(service_date)
    ]
    if not covering:
        return None
    return min(covering, key=_match_rank).key


def _all_missed_dates(visits: Iterable[Visit]) -> set[date]:
    """Dates on which every visit that is not cancelled is missed."""
    statuses: dict[date, set[str]] = defaultdict(set)
    for visit in visits:
        if visit.status != "cancelled":
            statuses[visit.service_date].add(visit.status)
    return {day for day, seen in statuses.items() if seen == {"missed"}}


def counted_units(visit: Visit, settings: PayerSettings, all_missed: set[date]) -> Decimal:
    """Units a visit uses (accumulation.md 2.4)."""
    if visit.status == "confirmed":
        return visit.units
    if visit.status == "scheduled":
        return visit.units if settings.include_scheduled_units else ZERO
    if visit.status == "missed":
        excluded = settings.exclude_missed_days and visit.service_date in all_missed
        return ZERO if excluded else visit.units
    return ZERO


def key_frequency(lines: list[Line]) -> str:
    active = [line for line in lines if line.active]
    return (active or lines)[-1].frequency


@lru_cache(maxsize=4096)
def _grid(
    frequency: str, first: date, last: date, week_starts_on: str
) -> tuple[tuple[tuple[date, date], ...], tuple[date, ...]]:
    """The period grid and its start dates; many keys share a span, so it is cached."""
    grid = tuple(periods_between(frequency, first, last, week_starts_on))
    return grid, tuple(start for start, _ in grid)


def compute_key(
    key: KeyId,
    lines: list[Line],
    visits: list[Visit],
    settings: PayerSettings,
    since: date | None = None,
    previous: KeyResult | None = None,
) -> KeyResult:
    """Periods, balances and allocation of one key from its lines and matched visits.

    `since` and `previous`: the key's result before a change that touched only visits on or
    after `since` (the lines, the settings and the period grid unchanged). The periods before
    the one holding `since` are then taken from `previous` and the walk starts there with their
    balance: the running sums, instead of every period again."""
    assert lines, "a key exists only through its lines"
    frequency = key_frequency(lines)
    dates = [d for line in lines for d in (line.start_date, line.end_date)]
    dates += [visit.service_date for visit in visits]
    grid, starts = _grid(frequency, min(dates), max(dates), settings.week_starts_on)
    authorized = [ZERO] * len(grid)
    for line in lines:
        if not line.active or line.end_date < line.start_date:
            continue
        first = max(0, bisect_right(starts, line.start_date) - 1)
        last = bisect_right(starts, line.end_date) - 1
        for index in range(first, last + 1):
            authorized[index] += line.units
    by_period: dict[int, list[Visit]] = defaultdict(list)
    for visit in visits:
        by_period[bisect_right(starts, visit.service_date) - 1].append(visit)
    first = 0
    if since is not None and previous is not None and _same_grid(grid, previous.periods):
        first = max(0, bisect_right(starts, since) - 1)
    periods, allocations = _allocate(grid, authorized, by_period, visits, settings, first, previous)
    return KeyResult(
        key=key,
        payer_id=lines[-1].payer_id,
        frequency=frequency,
        span_start=min(line.start_date for line in lines),
        span_end=max(line.end_date for line in lines),
        accumulates=settings.allow_accumulation,
        periods=tuple(periods),
        visits=allocations,
    )


def _same_grid(grid: tuple[tuple[date, date], ...], periods: tuple[PeriodResult, ...]) -> bool:
    """Whether a previous result has this grid (grids are contiguous: the ends decide)."""
    return (
        len(grid) == len(periods)
        and bool(grid)
        and grid[0][0] == periods[0].start
        and grid[-1][1] == periods[-1].end
    )


def _visit_order(visit: Visit) -> tuple[date, int]:
    return (visit.service_date, visit.first_position)


def _allocate(
    grid: tuple[tuple[date, date], ...],
    authorized: list[Decimal],
    by_period: dict[int, list[Visit]],
    visits: list[Visit],
    settings: PayerSettings,
    first: int = 0,
    previous: KeyResult | None = None,
) -> tuple[list[PeriodResult], dict[str, Allocation]]:
    """Walk the periods: B_k = B_(k-1) + authorized_k - used_k; draw regular, then carried.
    From period `first` on: the ones before are `previous`'s, unchanged."""
    all_missed = _all_missed_dates(visits) if settings.exclude_missed_days else set()
    accumulates = settings.allow_accumulation
    balance = ZERO
    periods: list[PeriodResult] = []
    allocations: dict[str, Allocation] = {}
    if first:
        assert previous is not None
        periods = list(previous.periods[:first])
        balance = periods[-1].balance
        for index in range(first):
            for visit in by_period.get(index, ()):
                allocations[visit.visit_id] = previous.visits[visit.visit_id]
    for index in range(first, len(grid)):
        (start, end), granted = grid[index], authorized[index]
        carried = balance if accumulates else ZERO
        period_visits = by_period.get(index)
        if not period_visits:  # most periods of a long key: nothing to draw
            balance = carried + granted
            periods.append(PeriodResult(start, end, granted, ZERO, ZERO, ZERO, ZERO, balance))
            continue
        regular_left, accumulated_left = granted, max(ZERO, carried)
        used = drawn_regular = drawn_accumulated = unauthorized = ZERO
        if len(period_visits) > 1:
            period_visits.sort(key=_visit_order)
        for visit in period_visits:
            units = counted_units(visit, settings, all_missed)
            regular = min(units, regular_left)
            accumulated = min(units - regular, accumulated_left)
            over = units - regular - accumulated
            regular_left -= regular
            accumulated_left -= accumulated
            allocations[visit.visit_id] = Allocation(regular, accumulated, over)
            used += units
            drawn_regular += regular
            drawn_accumulated += accumulated
            unauthorized += over
        balance = carried + granted - used
        periods.append(
            PeriodResult(
                start, end, granted, used, drawn_regular, drawn_accumulated, unauthorized, balance
            )
        )
    return periods, allocations


def unmatched_allocation(facts: MemberFacts, visit: Visit) -> Allocation:
    """An unauthorized visit: all its counted units are overuse, never in a balance (2.2)."""
    settings = facts.settings_for(visit.payer_id)
    return Allocation(unauthorized=counted_units(visit, settings, _all_missed_dates([visit])))


def compute_key_of(
    facts: MemberFacts,
    key: KeyId,
    visits: list[Visit],
    since: date | None = None,
    previous: KeyResult | None = None,
) -> KeyResult:
    """One key of a member, given the visits matched to it (see compute_key for `since`)."""
    key_lines = facts.key_lines(key)
    settings = facts.settings_for(key_lines[-1].payer_id)
    return compute_key(key, key_lines, visits, settings, since, previous)


def match_all(facts: MemberFacts) -> dict[str, KeyId | None]:
    """The key every visit of the member draws from, or None (2.2)."""
    lines = list(facts.lines.values())
    return {
        visit.visit_id: match_visit(
            lines,
            visit.payer_id,
            visit.service_code,
            visit.service_date,
            visit.authorization_number,
        )
        for visit in facts.visits.values()
    }


def compute_member(facts: MemberFacts) -> MemberResult:
    """Every key of a member and every visit's allocation, from the member's facts.

    The reference: `MemberProjection` computes the same results one touched key at a time.
    """
    matches = match_all(facts)
    matched: dict[KeyId, list[Visit]] = defaultdict(list)
    unmatched: dict[str, Allocation] = {}
    for visit in facts.visits.values():
        key = matches[visit.visit_id]
        if key is None:
            unmatched[visit.visit_id] = unmatched_allocation(facts, visit)
        else:
            matched[key].append(visit)
    keys = {key: compute_key_of(facts, key, matched[key]) for key in facts.key_ids()}
    return MemberResult(keys=keys, unmatched=unmatched, matches=matches)
