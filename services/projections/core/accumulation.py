"""Authorization accumulation (accumulation.md section 2) as pure functions: facts in, balances out.

No database, no clock, no logging: time comes in as arguments. This module computes a key whole
and a member whole, the reference the incremental path (`incremental.py`) is checked against.
Its parts live beside it: the results (`key_results.py`), matching (`matching.py`), drawing a
period (`period_walk.py`), caps (`caps.py`); their names are re-exported here.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from datetime import date
from decimal import Decimal
from functools import lru_cache

from services.projections.core.caps import fill_key_caps, has_caps
from services.projections.core.fact_types import KeyId, Line, Opening, Visit
from services.projections.core.facts import MemberFacts
from services.projections.core.incremental import KeyUpdate, update_key, update_key_of
from services.projections.core.key_results import (
    ZERO,
    Allocation,
    KeyResult,
    MemberResult,
    PeriodResult,
    frozen_allocation,
)
from services.projections.core.matching import match_all, match_visit, visit_key
from services.projections.core.payer_settings import PayerSettings
from services.projections.core.period_walk import (
    all_missed_dates,
    counted_units,
    walk_period,
)
from services.projections.core.periods import periods_between

__all__ = [
    "ZERO",
    "Allocation",
    "KeyResult",
    "KeyUpdate",
    "MemberResult",
    "PeriodResult",
    "all_missed_dates",
    "compute_key",
    "compute_key_of",
    "compute_member",
    "counted_units",
    "frozen_allocation",
    "key_frequency",
    "match_all",
    "match_visit",
    "unmatched_allocation",
    "update_key",
    "update_key_of",
    "visit_key",
]


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
    opening: Opening | None = None,
) -> KeyResult:
    """Periods, balances and allocation of one key from its lines and matched visits (and an
    opening balance that sets B_k of the period holding its date: 2.17)."""
    assert lines, "a key exists only through its lines"
    frequency = key_frequency(lines)
    dates = [d for line in lines for d in (line.start_date, line.end_date)]
    dates += [visit.service_date for visit in visits]
    dates += [opening.as_of] if opening is not None else []
    grid, starts = _grid(frequency, min(dates), max(dates), settings.week_starts_on)
    excess = _cap_excess(lines, visits, settings)
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
    balance = ZERO
    periods: list[PeriodResult] = []
    allocations: dict[str, Allocation] = {}
    for index, (start, end) in enumerate(grid):
        found = by_period.get(index, ())
        period = walk_period(
            start, end, authorized[index], balance, found, settings, allocations, excess
        )
        if opening is not None and start <= opening.as_of <= end:
            period = period._replace(balance=opening.balance)  # its visits are in the figure
        periods.append(period)
        balance = period.balance
    return KeyResult(
        key=key,
        payer_id=lines[-1].payer_id,
        frequency=frequency,
        span_start=min(line.start_date for line in lines),
        span_end=max(line.end_date for line in lines),
        accumulates=settings.allow_accumulation,
        periods=tuple(periods),
        visits=allocations,
        period_visits=tuple(
            tuple(visit.visit_id for visit in by_period.get(index, ()))
            for index in range(len(grid))
        ),
        service_codes=tuple(sorted({code for line in lines for code in line.service_codes})),
    )


def _cap_excess(
    lines: list[Line], visits: list[Visit], settings: PayerSettings
) -> dict[str, Decimal]:
    """Each visit's units beyond a pacing cap of the key's lines (2.14); empty without caps."""
    if not has_caps(lines):
        return {}
    excess, _ = fill_key_caps(lines, visits, settings)
    return excess


def unmatched_allocation(facts: MemberFacts, visit: Visit) -> Allocation:
    """An unauthorized visit: all its counted units are overuse, never in a balance (2.2)."""
    frozen = frozen_allocation(visit)
    if frozen is not None:
        return frozen
    settings = facts.settings_for(visit.payer_id)
    return Allocation(unauthorized=counted_units(visit, settings, all_missed_dates([visit])))


def compute_key_of(facts: MemberFacts, key: KeyId, visits: list[Visit]) -> KeyResult:
    """One key of a member, given the visits matched to it."""
    key_lines = facts.key_lines(key)
    return compute_key(key, key_lines, visits, facts.key_settings(key), facts.openings.get(key))


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
