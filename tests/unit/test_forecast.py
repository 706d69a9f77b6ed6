"""accumulation.md 2.15: burn rate and forecast of one key, exact, rounded only when written.

The spec's example: 10 units a week for eight weeks from Sunday 2026-10-04, accumulation allowed,
used 8, 6 and 12 in the first three weeks; as of week 4 (nothing used yet that week):

| week | authorized | used | projected used | projected balance |
| --- | --- | --- | --- | --- |
| 1..3 | 10 | 8, 6, 12 | (ended) | B_3 = 4 |
| 4..8 | 10 each | 0 | 26/3 each | 4 + 50 - 130/3 = 32/3 at week 8 |
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from services.projections.core.accumulation import KeyResult
from services.projections.core.forecast import burn_rate, forecast, two_places
from tests.unit.builders import CODE, MEMBER, NUMBER, PAYER, WEEK1, History

KEY = (NUMBER, CODE)


def week(number: int, weekday: int = 1) -> date:
    return WEEK1 + timedelta(days=7 * (number - 1) + weekday)


def eight_weeks(used: tuple[int, ...] = (8, 6, 12), units: int = 10) -> KeyResult:
    history = History()
    history.settings(allow_accumulation=True)
    history.grant(units=units, end=WEEK1 + timedelta(days=8 * 7 - 1))
    for number, amount in enumerate(used, start=1):
        history.visit(f"v{number}", week(number), amount)
    return history.project().result.keys[KEY]


def test_the_spec_example_burn_rate_and_projected_balance():
    result = eight_weeks()
    projection = forecast(result, week(4, 3))
    assert projection.burn_rate == Fraction(26, 3)
    assert projection.projected_balance == Fraction(32, 3)
    assert projection.projected_unused == Fraction(32, 3)
    assert projection.runs_out_on is None
    assert [p.start for p in projection.periods] == [week(n, 0) for n in range(4, 9)]
    assert {p.projected_used for p in projection.periods} == {Fraction(26, 3)}
    assert [p.projected_balance for p in projection.periods] == [
        4 + (10 - Fraction(26, 3)) * n for n in range(1, 6)
    ]
    assert two_places(projection.burn_rate) == Decimal("8.67")
    assert str(two_places(projection.projected_balance)) == "10.67"


def test_known_usage_above_the_burn_rate_counts_as_known():
    result = eight_weeks(used=(8, 6, 12, 9, 12))  # week 4 used 9, week 5 (future) 12
    projection = forecast(result, week(4, 3))
    assert projection.burn_rate == Fraction(26, 3)
    used = [p.projected_used for p in projection.periods]
    assert used == [Fraction(9), Fraction(12), *[Fraction(26, 3)] * 3]


def test_the_window_averages_only_the_last_ended_periods():
    result = eight_weeks(used=(2, 6, 12, 7))
    assert burn_rate(result, week(5, 0), window=2) == Fraction(19, 2)
    assert burn_rate(result, week(5, 0), window=4) == Fraction(27, 4)
    assert burn_rate(result, week(5, 0), window=52) == Fraction(27, 4)  # only 4 ended


def test_no_ended_period_no_burn_rate_and_known_usage_projects():
    result = eight_weeks(used=(8,))
    projection = forecast(result, week(1, 3))
    assert projection.burn_rate is None
    assert projection.projected_balance == 80 - 8
    assert projection.periods[0].projected_used == 8


def test_runs_out_on_the_first_projected_period_below_zero():
    even = eight_weeks(used=(10, 10, 10))  # B_3 = 0, burning exactly what is granted
    projection = forecast(even, week(4))
    assert projection.runs_out_on is None and projection.projected_balance == 0
    over = eight_weeks(used=(12, 12, 12))  # B_3 = -6, burning 12 of 10
    projection = forecast(over, week(4))
    assert projection.runs_out_on == week(4, 0)
    assert projection.projected_balance == -6 - 2 * 5
    assert projection.projected_unused == 0
    heavy = eight_weeks(used=(4, 4, 16))  # B_3 = 6, burn 8 of 10: never below 0
    assert forecast(heavy, week(4)).runs_out_on is None
    late = eight_weeks(used=(4, 4, 31))  # B_3 = -1 is known, not projected; burn 13
    assert forecast(late, week(4)).runs_out_on == week(4, 0)
    recovering = eight_weeks(used=(0, 0, 27, 0, 0, 0, 0, 40))  # the known week 8 overdraws
    projection = forecast(recovering, week(4))
    assert projection.burn_rate == 9
    assert projection.runs_out_on == week(8, 0)
    assert projection.projected_balance == 3 + 4 * 1 + 10 - 40


def test_after_the_last_period_nothing_is_projected():
    result = eight_weeks()
    projection = forecast(result, week(12))
    assert projection.periods == ()
    assert projection.projected_balance == result.periods[-1].balance == 80 - 26
    assert projection.burn_rate == Fraction(0)  # the last four weeks used nothing


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (Fraction(26, 3), "8.67"),
        (Fraction(-32, 3), "-10.67"),
        (Fraction(1, 200), "0.01"),  # a tie rounds up
        (Fraction(-1, 200), "-0.01"),  # and away from zero below it
        (Fraction(1, 300), "0.00"),
        (Fraction(7), "7.00"),
    ],
)
def test_two_places_rounds_half_up_from_the_exact_value(value: Fraction, written: str):
    assert str(two_places(value)) == written


def test_an_opening_balance_of_the_period_holding_as_of_is_where_the_projection_goes_on():
    """A clinic moving to the ledger in week 4 states B_4 = 3 (2.17): the projection closes
    week 4 at 3, whatever the burn rate, and goes on from there (2.15)."""
    history = History()
    history.settings(allow_accumulation=True)
    history.grant(units=10, end=WEEK1 + timedelta(days=8 * 7 - 1))
    for number, amount in enumerate((8, 6, 12), start=1):
        history.visit(f"v{number}", week(number), amount)
    history.add(
        "accumulation.opening_balance",
        member_id=MEMBER,
        payer_id=PAYER,
        authorization_number=NUMBER,
        service_code=CODE,
        as_of=week(4, 3).isoformat(),
        balance="3",
        source="previous system",
    )
    projection = forecast(history.project().result.keys[KEY], week(4, 3))
    assert projection.periods[0].projected_balance == 3
    assert projection.projected_balance == 3 + 4 * (10 - Fraction(26, 3))
    without = forecast(eight_weeks(), week(4, 3))
    assert without.periods[0].projected_balance == 4 + 10 - Fraction(26, 3)  # B_3 = 4 on
