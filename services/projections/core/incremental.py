"""The incremental update of one key after some of its visits changed (pure): what
`compute_key` gives, at the cost of the periods walked again, not of every visit of the key.
`accumulation.compute_key` is the reference it is checked against (tests/unit/test_incremental.py).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from operator import attrgetter

from services.projections.core.caps import has_caps
from services.projections.core.fact_types import KeyId, Line, Opening, Visit
from services.projections.core.facts import MemberFacts
from services.projections.core.key_results import ZERO, Allocation, KeyResult, PeriodResult
from services.projections.core.payer_settings import PayerSettings
from services.projections.core.period_walk import carried_balance, walk_period


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
    opening: Opening | None = None,
) -> KeyUpdate | None:
    """`previous` after some of its visits changed, the key's lines and settings unchanged:
    `left` the visits that were on the key (id -> the service date they had), `joined` those on
    it now (a visit that changed on the key is in both). What compute_key gives, at the cost of
    the key's periods and of the visits of the periods walked again, not of every visit.

    Walked again: the periods whose visits changed, and after them the overdrawn ones (used
    above authorized) whose cover from the balance carried in moved. Every other period keeps
    its draws; only its balance moves with the balance carried in, and once that is what it
    was, the periods after it are as they were. None when the key must be walked whole:
    compute_key then (see `_walks_whole`)."""
    days = [*left.values(), *(visit.service_date for visit in joined)]
    if _walks_whole(previous, lines, settings, opening, days):
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


def update_key_of(
    facts: MemberFacts,
    key: KeyId,
    previous: KeyResult,
    left: Mapping[str, date],
    joined: Sequence[Visit],
) -> KeyUpdate | None:
    """`update_key` for one key of a member: its lines, settings and opening balance from the
    facts, as `accumulation.compute_key_of` takes them."""
    lines = facts.key_lines(key)
    settings = facts.key_settings(key)
    return update_key(
        previous, lines, settings, facts.visits, left, joined, facts.openings.get(key)
    )


def _walks_whole(
    previous: KeyResult,
    lines: list[Line],
    settings: PayerSettings,
    opening: Opening | None,
    days: list[date],
) -> bool:
    """Whether only a walk of the whole key gives its result: the one before lacks its periods'
    visits, accumulation was switched, an opening balance sets one period's balance (2.17), a
    cap's week may reach into other periods (2.14), or the period grid may change (a service
    date outside the lines' dates)."""
    if len(previous.period_visits) != len(previous.periods) or not previous.periods:
        return True
    if previous.accumulates != settings.allow_accumulation:
        return True
    if opening is not None or has_caps(lines):
        return True
    first_day = min(line.start_date for line in lines)
    last_day = max(line.end_date for line in lines)
    return any(not first_day <= day <= last_day for day in days)


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
        if index > last and _same_amount(
            carried_balance(balance, settings), carried_balance(was, settings)
        ):
            periods += previous.periods[index:]  # the same balance carried in: as they were
            break
        ids = period_ids[index]
        if index in changed or _draws_move(old, was, balance, settings):
            found = [visits[visit_id] for visit_id in ids]
            start, end, granted = old.start, old.end, old.authorized
            period = walk_period(start, end, granted, balance, found, settings, allocations, {})
            walked.update(ids)
        else:  # drawn from its regular units alone: the draws stay, the balance moves
            carried = carried_balance(balance, settings)
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
    covered_was = min(max(ZERO, carried_balance(was, settings)), overdraft)
    covered_now = min(max(ZERO, carried_balance(now, settings)), overdraft)
    return not _same_amount(covered_was, covered_now)


def _same_amount(one: Decimal, other: Decimal) -> bool:
    """Equal and written alike ("5" is not "5.0"): the balances after are then the same text."""
    return one == other and one.as_tuple().exponent == other.as_tuple().exponent
