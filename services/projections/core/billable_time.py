"""Units from billable time: a shift's clock times to units, under a payer's settings (pure;
accumulation.md 2.12)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

UNITS_PLACES = Decimal("0.000001")  # the ledger's finest unit amount (contracts' `Units`)
_MICROSECONDS_PER_MINUTE = 60_000_000


def worked_minutes(clock_in: datetime, clock_out: datetime) -> Decimal:
    """The minutes between two instants, exactly (no float: microseconds as an integer)."""
    microseconds = (clock_out - clock_in) // timedelta(microseconds=1)
    return Decimal(microseconds) / _MICROSECONDS_PER_MINUTE


def billable_minutes(minutes: Decimal, rounding_minutes: int) -> Decimal:
    """Worked minutes rounded half up to a multiple of `rounding_minutes`: of a 15-minute step,
    7 minutes round down and 8 (7.5 too) round up."""
    step = Decimal(rounding_minutes)
    return (minutes / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step


def billable_units(
    clock_in: datetime, clock_out: datetime, unit_minutes: int, rounding_minutes: int
) -> Decimal:
    """Billable minutes / `unit_minutes`: 09:00-12:08 is 188 minutes -> 195 -> 3.25 hourly units.
    Exact; only a quotient that does not end (200 / 45) is rounded half up to the ledger's six
    decimal places, the precision of every unit amount it stores."""
    assert clock_out > clock_in, "validated: a shift ends after it begins"
    minutes = billable_minutes(worked_minutes(clock_in, clock_out), rounding_minutes)
    units = minutes / Decimal(unit_minutes)
    exponent = units.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        units = units.quantize(UNITS_PLACES, rounding=ROUND_HALF_UP)
    return units


def shift_units(clock_in: str, clock_out: str, unit_minutes: int, rounding_minutes: int) -> Decimal:
    """The units of a shift from its clock times as recorded (ISO text, offset kept)."""
    start, end = datetime.fromisoformat(clock_in), datetime.fromisoformat(clock_out)
    return billable_units(start, end, unit_minutes, rounding_minutes)


def units_of_visit_data(
    data: Mapping[str, Any], unit_minutes: int, rounding_minutes: int
) -> Decimal:
    """The units a `visit.confirmed` or `visit.scheduled` states: given, or from clock times."""
    if data.get("units") is not None:
        return Decimal(data["units"])
    return shift_units(data["clock_in"], data["clock_out"], unit_minutes, rounding_minutes)
