"""Utilization and forecast of one key (accumulation.md 2.15), pure: periods in, projection out.

As of a date in period k: `burn_rate` is the average used units of the last `window` periods
that ended before the date (None when none has). Every period j >= k is projected as used =
max(known used of j, burn_rate), its balance carried on from the actual B_(k-1) by the balance
formula of 2.5; a period whose balance an opening balance stated (2.17) closes at that figure,
whatever its projected use (the figure includes its visits). The figures stay exact
(`Fraction`: 26/3 is not a terminating decimal) and are rounded half up to 2 decimals only
where the answer writes them (`two_places`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from services.projections.core.accumulation import KeyResult

DEFAULT_WINDOW = 4
MAX_WINDOW = 52  # a year of weeks: a bound on the periods averaged, not a business rule
_ZERO = Fraction(0)


@dataclass(frozen=True)
class ProjectedPeriod:
    start: date
    end: date
    authorized: Decimal
    used: Decimal  # known used units (2.4)
    projected_used: Fraction  # max(used, burn_rate)
    projected_balance: Fraction  # the raw balance with the projected usage


@dataclass(frozen=True)
class Forecast:
    as_of: date
    burn_rate: Fraction | None
    projected_balance: Fraction  # at the key's last period
    runs_out_on: date | None  # the start of the first projected period below 0
    periods: tuple[ProjectedPeriod, ...]  # the projected ones: from the period holding as_of

    @property
    def projected_unused(self) -> Fraction:
        return max(_ZERO, self.projected_balance)


def current_index(result: KeyResult, as_of: date) -> int:
    """The first period not ended before `as_of` (the one holding it; 0 before the key; the
    number of periods after it): where the projection starts."""
    return sum(1 for period in result.periods if period.end < as_of)


def burn_rate(result: KeyResult, as_of: date, window: int = DEFAULT_WINDOW) -> Fraction | None:
    """The average used units of the last `window` periods that ended before `as_of`."""
    assert 1 <= window <= MAX_WINDOW, "window beyond its bound"
    ended = result.periods[: current_index(result, as_of)][-window:]
    if not ended:
        return None
    return sum((Fraction(period.used) for period in ended), _ZERO) / len(ended)


def forecast(result: KeyResult, as_of: date, window: int = DEFAULT_WINDOW) -> Forecast:
    """The key's projection as of a date (2.15)."""
    rate = burn_rate(result, as_of, window)
    index = current_index(result, as_of)
    before = result.periods[index - 1].balance if index > 0 else Decimal(0)
    # the balance carried in: what accumulates carries on (a key that does not starts each
    # period from 0, as in 2.5)
    balance = Fraction(before) if result.accumulates else _ZERO
    projected: list[ProjectedPeriod] = []
    runs_out_on: date | None = None
    for position, period in enumerate(result.periods[index:], start=index):
        used = Fraction(period.used)
        projected_used = used if rate is None else max(used, rate)
        carried = balance if result.accumulates else _ZERO
        balance = carried + Fraction(period.authorized) - projected_used
        if _stated(result, position):  # an opening balance (2.17) closes this period as stated
            balance = Fraction(period.balance)
        if balance < 0 and runs_out_on is None:
            runs_out_on = period.start
        projected.append(
            ProjectedPeriod(
                period.start, period.end, period.authorized, period.used, projected_used, balance
            )
        )
    return Forecast(as_of, rate, balance, runs_out_on, tuple(projected))


def _stated(result: KeyResult, index: int) -> bool:
    """Whether period `index` closes at a balance an opening balance stated (2.17): one that
    does not follow from the period before it by 2.5, which every other period does."""
    period = result.periods[index]
    before = result.periods[index - 1].balance if index > 0 else Decimal(0)
    carried = before if result.accumulates else Decimal(0)
    return period.balance != carried + period.authorized - period.used


def two_places(value: Fraction) -> Decimal:
    """Half up (away from zero on a tie) to 2 decimals, from the exact value: 26/3 -> 8.67,
    -32/3 -> -10.67. Never through a binary float, never rounded twice."""
    sign = -1 if value < 0 else 1
    hundredths = (abs(value) * 100 + Fraction(1, 2)).__floor__()
    return Decimal(sign * hundredths).scaleb(-2)
