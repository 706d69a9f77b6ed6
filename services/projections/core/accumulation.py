"""Authorization accumulation (accumulation.md section 2) as pure functions: facts in, balances out.

No database, no clock, no logging: time comes in as arguments.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from functools import lru_cache
from operator import attrgetter
from typing import NamedTuple

from services.projections.core.caps import fill_caps, has_caps
from services.projections.core.facts import (
    KeyId,
    Line,
    MemberFacts,
    Opening,
    PayerSettings,
    Visit,
)
from services.projections.core.periods import periods_between

ZERO = Decimal(0)


class Allocation(NamedTuple):
    """How a visit's counted units were drawn: regular, accumulated, unauthorized overuse, and
    of the unauthorized ones those beyond a pacing cap (2.14)."""

    regular: Decimal = ZERO
    accumulated: Decimal = ZERO
    unauthorized: Decimal = ZERO
    cap_exceeded: Decimal = ZERO

    @property
    def reason(self) -> str | None:
        return "cap_exceeded" if self.cap_exceeded > 0 else None


def frozen_allocation(visit: Visit) -> Allocation | None:
    """A billed visit's allocation as it stood when it was billed (2.11); None when unbilled."""
    billed = visit.billed
    if billed is None or billed.allocation is None:
        return None
    return Allocation(*billed.allocation)


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
    # the ids of each period's visits (aligned with `periods`), so that `update_key` walks one
    # period again without sorting every visit of the key into periods; not part of the answer
    period_visits: tuple[tuple[str, ...], ...] = field(default=(), compare=False, repr=False)
    service_codes: tuple[str, ...] = ()  # the codes drawing from the key: a pool's, or its own

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
        # a code belongs to one key per number (2.13): its own, or the pool that lists it
        return next(
            (
                line.key
                for line in lines
                if line.authorization_number == authorization_number and line.serves(service_code)
            ),
            None,
        )
    covering = [
        line
        for line in lines
        if line.payer_id == payer_id and line.serves(service_code) and line.covers(service_date)
    ]
    if not covering:
        return None
    return min(covering, key=_match_rank).key


def all_missed_dates(visits: Iterable[Visit]) -> set[date]:
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
        period = _walk(start, end, authorized[index], balance, found, settings, allocations, excess)
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
    all_missed = all_missed_dates(visits) if settings.exclude_missed_days else set()
    counted = {visit.visit_id: counted_units(visit, settings, all_missed) for visit in visits}
    frozen = {
        visit.visit_id: allocation.cap_exceeded
        for visit in visits
        if (allocation := frozen_allocation(visit)) is not None
    }
    excess, _ = fill_caps(lines, visits, counted, frozen, settings.week_starts_on)
    return excess


def _visit_order(visit: Visit) -> tuple[date, int]:
    return (visit.service_date, visit.first_position)


def _carried(balance: Decimal, settings: PayerSettings) -> Decimal:
    return balance if settings.allow_accumulation else ZERO


def _walk(
    start: date,
    end: date,
    granted: Decimal,
    balance: Decimal,
    visits: Sequence[Visit],
    settings: PayerSettings,
    allocations: dict[str, Allocation],
    excess: Mapping[str, Decimal],
) -> PeriodResult:
    """One period after the raw balance `balance` of the one before: B_k = B_(k-1) +
    authorized_k - used_k (B_(k-1) only when the key accumulates). Billed visits keep the draws
    frozen when they were billed (2.11); the other visits draw what is left of the regular units,
    then of the carried ones, in date order, their units beyond a cap (`excess`, 2.14) being
    unauthorized. The allocations go into `allocations`."""
    carried = _carried(balance, settings)
    if not visits:  # most periods of a long key: nothing to draw
        return PeriodResult(start, end, granted, ZERO, ZERO, ZERO, ZERO, carried + granted)
    # a day lies in one period: its visits are all there to tell whether all were missed
    all_missed = all_missed_dates(visits) if settings.exclude_missed_days else set()
    regular_left, accumulated_left = granted, max(ZERO, carried)
    used = drawn_regular = drawn_accumulated = unauthorized = ZERO
    ordered = sorted(visits, key=_visit_order) if len(visits) > 1 else visits
    frozen = {v.visit_id: a for v in ordered if (a := frozen_allocation(v)) is not None}
    for visit in ordered:
        units = counted_units(visit, settings, all_missed)
        allocation = frozen.get(visit.visit_id)
        if allocation is None:
            continue
        regular_left -= allocation.regular  # may go below 0 after a reduction: nothing left
        accumulated_left -= allocation.accumulated
        allocations[visit.visit_id] = allocation
        used += units
        drawn_regular += allocation.regular
        drawn_accumulated += allocation.accumulated
        unauthorized += allocation.unauthorized
    for visit in ordered:
        if visit.visit_id in frozen:
            continue
        units = counted_units(visit, settings, all_missed)
        capped = excess.get(visit.visit_id, ZERO)
        within = units - capped
        regular = min(within, regular_left if regular_left >= 0 else ZERO)
        accumulated = min(within - regular, accumulated_left if accumulated_left >= 0 else ZERO)
        over = units - regular - accumulated
        regular_left -= regular
        accumulated_left -= accumulated
        allocations[visit.visit_id] = Allocation(regular, accumulated, over, capped)
        used += units
        drawn_regular += regular
        drawn_accumulated += accumulated
        unauthorized += over
    balance = carried + granted - used
    return PeriodResult(
        start, end, granted, used, drawn_regular, drawn_accumulated, unauthorized, balance
    )


@dataclass(frozen=True)
class KeyUpdate:
    result: KeyResult
    walked: frozenset[str]  # the visits whose allocation was drawn again (the others kept theirs)


def update_key(
    previous: KeyResult,
    lines: list[Line],
    settings: PayerSettings,
    visits: Mapping[str, Visit],
    left: Mapping[str, date],
    joined: Sequence[Visit],
) -> KeyUpdate | None:
    """`previous` after some of its visits changed, the key's lines and settings unchanged:
    `left` the visits that were on the key (id -> the service date they had), `joined` those on
    it now (a visit that changed on the key is in both). What compute_key gives, at the cost of
    the key's periods and of the visits of the periods walked again, not of every visit.

    Walked again: the periods whose visits changed, and after them the overdrawn ones (used
    above authorized) whose cover from the balance carried in moved. Every other period keeps
    its draws; only its balance moves with the balance carried in, and once that is what it
    was, the periods after it are as they were. None when the period grid may change (a service date
    outside the lines' dates): compute_key then."""
    if len(previous.period_visits) != len(previous.periods) or not previous.periods:
        return None
    if previous.accumulates != settings.allow_accumulation:
        return None
    if has_caps(lines):  # a cap's week may reach into other periods: walk the key whole
        return None
    first_day = min(line.start_date for line in lines)
    last_day = max(line.end_date for line in lines)
    days = [*left.values(), *(visit.service_date for visit in joined)]
    if any(not first_day <= day <= last_day for day in days):
        return None
    period_ids = list(previous.period_visits)
    changed: set[int] = set()
    for visit_id, day in left.items():
        index = _period_at(previous, day)
        period_ids[index] = tuple(other for other in period_ids[index] if other != visit_id)
        changed.add(index)
    for visit in joined:
        index = _period_at(previous, visit.service_date)
        assert visit.visit_id not in period_ids[index], "a visit on the key is also in `left`"
        period_ids[index] = (*period_ids[index], visit.visit_id)
        changed.add(index)
    if not changed:
        return KeyUpdate(previous, frozenset())
    allocations = dict(previous.visits)
    for visit_id in left:
        allocations.pop(visit_id, None)
    periods, walked = _walk_from(previous, settings, visits, period_ids, changed, allocations)
    result = replace(previous, periods=periods, visits=allocations, period_visits=tuple(period_ids))
    return KeyUpdate(result, walked)


def _period_at(result: KeyResult, day: date) -> int:
    return max(0, bisect_right(result.periods, day, key=attrgetter("start")) - 1)


def _walk_from(
    previous: KeyResult,
    settings: PayerSettings,
    visits: Mapping[str, Visit],
    period_ids: list[tuple[str, ...]],
    changed: set[int],
    allocations: dict[str, Allocation],
) -> tuple[tuple[PeriodResult, ...], frozenset[str]]:
    """The periods from the first changed one on (see update_key), and the visits walked."""
    first, last = min(changed), max(changed)
    periods = list(previous.periods[:first])
    balance = periods[-1].balance if periods else ZERO
    walked: set[str] = set()
    for index in range(first, len(previous.periods)):
        old = previous.periods[index]
        was = previous.periods[index - 1].balance if index else ZERO
        if index > last and _same_amount(_carried(balance, settings), _carried(was, settings)):
            periods += previous.periods[index:]  # the same balance carried in: as they were
            break
        ids = period_ids[index]
        if index in changed or _draws_move(old, was, balance, settings):
            found = [visits[visit_id] for visit_id in ids]
            start, end, granted = old.start, old.end, old.authorized
            period = _walk(start, end, granted, balance, found, settings, allocations, {})
            walked.update(ids)
        else:  # drawn from its regular units alone: the draws stay, the balance moves
            carried = _carried(balance, settings)
            moved = carried + old.authorized - old.used if ids else carried + old.authorized
            period = old._replace(balance=moved)
        periods.append(period)
        balance = period.balance
    return tuple(periods), frozenset(walked)


def _draws_move(old: PeriodResult, was: Decimal, now: Decimal, settings: PayerSettings) -> bool:
    """Whether the draws of a period whose visits did not change move when the balance before it
    moves from `was` to `now`. Its visits draw regular units first, whatever was carried; only
    an overdrawn period draws carried units, and then only as far as they cover the overdraft."""
    overdraft = old.used - old.authorized
    if old.authorized < 0:
        return True
    if overdraft <= 0:
        return False
    covered_was = min(max(ZERO, _carried(was, settings)), overdraft)
    covered_now = min(max(ZERO, _carried(now, settings)), overdraft)
    return not _same_amount(covered_was, covered_now)


def _same_amount(one: Decimal, other: Decimal) -> bool:
    """Equal and written alike ("5" is not "5.0"): the balances after are then the same text."""
    return one == other and one.as_tuple().exponent == other.as_tuple().exponent


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
    settings = facts.settings_for(key_lines[-1].payer_id)
    return compute_key(key, key_lines, visits, settings, facts.openings.get(key))


def visit_key(lines: Iterable[Line], visit: Visit) -> KeyId | None:
    """The key a visit draws from: the one it was billed on (2.11), else as matched (2.2)."""
    billed = visit.billed
    if billed is not None and billed.allocation is not None:
        return billed.key
    return match_visit(
        lines, visit.payer_id, visit.service_code, visit.service_date, visit.authorization_number
    )


def match_all(facts: MemberFacts) -> dict[str, KeyId | None]:
    """The key every visit of the member draws from, or None (2.2)."""
    lines = list(facts.lines.values())
    return {visit.visit_id: visit_key(lines, visit) for visit in facts.visits.values()}


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
