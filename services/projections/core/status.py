"""Authorization status per line and per key as of a date (accumulation.md 2.16), pure.

A line is `voided` (voided, or its service code removed), `pending` (starts after the date),
`expired` (ended before it), `expiring` (in force, and within the payer's
`renewal_days_before_end` of its end, or with at least `renewal_used_fraction` of its units used),
else `active`. A key takes the status of its most advanced line: active > expiring > pending >
expired > voided. "Near its end" is the one rule `authorization.renewal_due` uses too
(`renewal_reasons`, with the payer's settings and their defaults of 14 days and 0.8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from services.projections.core.accumulation import KeyResult
from services.projections.core.facts import Line, PayerSettings

# from the least to the most advanced: a key answers the most advanced of its lines
STATUS_ORDER = ("voided", "expired", "pending", "expiring", "active")
ZERO = Decimal(0)


def renewal_reasons(
    days_left: int, fraction_used: Decimal | None, settings: PayerSettings
) -> list[str]:
    """Why an authorization in force is due for renewal: `ending_soon` within the payer's
    `renewal_days_before_end` of its end, `units_used` at `renewal_used_fraction` of its units
    (no units authorized: no fraction)."""
    reasons = []
    if days_left <= settings.renewal_days_before_end:
        reasons.append("ending_soon")
    if fraction_used is not None and fraction_used >= settings.renewal_used_fraction:
        reasons.append("units_used")
    return reasons


def line_fraction_used(line: Line, result: KeyResult, as_of: date) -> Decimal | None:
    """The share of the units of the periods the line overlaps that were used by the date:
    used in those periods up to the one holding `as_of`, over what the key authorizes in all of
    them (decision: usage is the key's, not a line's; for a key of one line this is the line's
    own units). None when those periods authorize nothing."""
    overlapping = [
        period
        for period in result.periods
        if period.start <= line.end_date and period.end >= line.start_date
    ]
    authorized = sum((period.authorized for period in overlapping), ZERO)
    if authorized <= 0:
        return None
    used = sum((period.used for period in overlapping if period.start <= as_of), ZERO)
    return used / authorized


def line_status(line: Line, result: KeyResult, settings: PayerSettings, as_of: date) -> str:
    if not line.active:
        return "voided"
    if line.start_date > as_of:
        return "pending"
    if line.end_date < as_of:
        return "expired"
    days_left = (line.end_date - as_of).days
    if renewal_reasons(days_left, line_fraction_used(line, result, as_of), settings):
        return "expiring"
    return "active"


@dataclass(frozen=True)
class LineStatus:
    authorization_id: str
    start: date
    end: date
    units: Decimal
    status: str


@dataclass(frozen=True)
class KeyStatus:
    status: str  # the most advanced of `lines`
    lines: tuple[LineStatus, ...]  # by start date, then authorization id


def key_status(
    lines: Sequence[Line], result: KeyResult, settings: PayerSettings, as_of: date
) -> KeyStatus:
    """Every line's status and the key's (2.16)."""
    assert lines, "a key exists only through its lines"
    found = tuple(
        LineStatus(
            line.authorization_id,
            line.start_date,
            line.end_date,
            line.units,
            line_status(line, result, settings, as_of),
        )
        for line in sorted(lines, key=lambda line: (line.start_date, line.authorization_id))
    )
    status = max((line.status for line in found), key=STATUS_ORDER.index)
    return KeyStatus(status, found)
