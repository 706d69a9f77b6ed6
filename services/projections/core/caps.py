"""Pacing caps (accumulation.md 2.14): which of a key's units lie beyond a cap of its lines in the
cap's window, a day or a week from the payer's `week_starts_on` (pure).

A cap of a line counts the visits of the line's key on the days the line covers (while it is
active) and, when it names `days`, only on those weekdays. Units beyond a cap still count as used
(B_k is unchanged); they are allocated as unauthorized with the reason `cap_exceeded`. A billed
visit's frozen units inside the caps take their room first (2.11); the other visits fill what is
left in order of service date, then recorded position, as they draw a period's units (2.6).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal

from services.projections.core.fact_types import Line, Visit
from services.projections.core.key_results import frozen_allocation
from services.projections.core.payer_settings import PayerSettings
from services.projections.core.period_walk import all_missed_dates, counted_units, visit_order
from services.projections.core.periods import period_start

ZERO = Decimal(0)
Window = tuple[str, int, date]  # the line, the cap's index in it, the window's first day


def has_caps(lines: Iterable[Line]) -> bool:
    return any(line.caps for line in lines)


def windows_on(
    lines: Iterable[Line], day: date, week_starts_on: str
) -> list[tuple[Window, Decimal]]:
    """The caps that count a visit on `day`, each with its window and its units."""
    found: list[tuple[Window, Decimal]] = []
    for line in lines:
        if not line.caps or not line.active or not line.start_date <= day <= line.end_date:
            continue
        for number, cap in enumerate(line.caps):
            if cap.counts(day):
                start = day if cap.per == "day" else period_start("week", day, week_starts_on)
                found.append(((line.authorization_id, number, start), cap.units))
    return found


def fill_caps(
    lines: list[Line],
    visits: Iterable[Visit],
    counted: Mapping[str, Decimal],
    frozen_excess: Mapping[str, Decimal],
    week_starts_on: str,
) -> tuple[dict[str, Decimal], dict[Window, Decimal]]:
    """The units of each visit beyond a cap, and the units inside each window's cap.

    `counted`: each visit's counted units (2.4); `frozen_excess`: for billed visits, the
    cap-exceeded units frozen in their allocation (their other units fill the caps first)."""
    inside: dict[Window, Decimal] = defaultdict(Decimal)
    excess: dict[str, Decimal] = {}
    ordered = sorted(visits, key=visit_order)
    for visit in ordered:
        if visit.visit_id in frozen_excess:
            excess[visit.visit_id] = frozen_excess[visit.visit_id]
            within = counted[visit.visit_id] - frozen_excess[visit.visit_id]
            for window, _ in windows_on(lines, visit.service_date, week_starts_on):
                inside[window] += within
    for visit in ordered:
        if visit.visit_id in frozen_excess:
            continue
        windows = windows_on(lines, visit.service_date, week_starts_on)
        if not windows:
            continue
        units = counted[visit.visit_id]
        room = min(max(ZERO, limit - inside[window]) for window, limit in windows)
        over = max(ZERO, units - room)
        if over > 0:
            excess[visit.visit_id] = over
        for window, _ in windows:
            inside[window] += units - over
    return excess, dict(inside)


def fill_key_caps(
    lines: list[Line], visits: list[Visit], settings: PayerSettings
) -> tuple[dict[str, Decimal], dict[Window, Decimal]]:
    """`fill_caps` for the visits of one key under its payer's settings: their counted units
    (2.4), and the cap-exceeded units frozen in the billed ones (2.11)."""
    all_missed = all_missed_dates(visits) if settings.exclude_missed_days else set()
    counted = {visit.visit_id: counted_units(visit, settings, all_missed) for visit in visits}
    frozen = {
        visit.visit_id: allocation.cap_exceeded
        for visit in visits
        if (allocation := frozen_allocation(visit)) is not None
    }
    return fill_caps(lines, visits, counted, frozen, settings.week_starts_on)


def room_on(
    lines: list[Line], inside: Mapping[Window, Decimal], day: date, week_starts_on: str
) -> Decimal | None:
    """The units a proposal on `day` may still use within every cap; None when no cap counts it."""
    windows = windows_on(lines, day, week_starts_on)
    if not windows:
        return None
    return min(max(ZERO, limit - inside.get(window, ZERO)) for window, limit in windows)
