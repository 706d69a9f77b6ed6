"""Drawing one period of a key (accumulation.md 2.4-2.6, 2.11, 2.14): the units a visit counts,
and how a period's visits draw its regular and carried units (pure)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal

from services.projections.core.fact_types import Visit
from services.projections.core.key_results import ZERO, Allocation, PeriodResult, frozen_allocation
from services.projections.core.payer_settings import PayerSettings


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


def visit_order(visit: Visit) -> tuple[date, int]:
    """The order visits draw in, and fill caps in: service date, then recorded position (2.6)."""
    return (visit.service_date, visit.first_position)


def carried_balance(balance: Decimal, settings: PayerSettings) -> Decimal:
    """What a period carries in of the balance before it: all of it when the key accumulates."""
    return balance if settings.allow_accumulation else ZERO


def walk_period(
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
    carried = carried_balance(balance, settings)
    if not visits:  # most periods of a long key: nothing to draw
        return PeriodResult(start, end, granted, ZERO, ZERO, ZERO, ZERO, carried + granted)
    # a day lies in one period: its visits are all there to tell whether all were missed
    all_missed = all_missed_dates(visits) if settings.exclude_missed_days else set()
    regular_left, accumulated_left = granted, max(ZERO, carried)
    used = drawn_regular = drawn_accumulated = unauthorized = ZERO
    ordered = sorted(visits, key=visit_order) if len(visits) > 1 else visits
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
