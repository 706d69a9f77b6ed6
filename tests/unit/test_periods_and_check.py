"""Periods (2.3) and the scheduling check (2.8)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.projections.periods import period_start, periods_between
from services.projections.views import scheduling_check
from tests.unit.builders import CODE, NUMBER, PAYER, WEEK1, weekly_example


@pytest.mark.parametrize(
    ("first_day", "expected"),
    [
        ("sunday", date(2026, 11, 22)),
        ("monday", date(2026, 11, 23)),
        ("saturday", date(2026, 11, 21)),
    ],
)
def test_week_start(first_day: str, expected: date):
    assert period_start("week", date(2026, 11, 23), first_day) == expected  # a Monday
    assert period_start("week", date(2026, 11, 28), first_day) <= date(2026, 11, 28)


def test_months_cross_the_year_end():
    periods = periods_between("month", date(2026, 12, 15), date(2027, 2, 1))
    assert periods == [
        (date(2026, 12, 1), date(2026, 12, 31)),
        (date(2027, 1, 1), date(2027, 1, 31)),
        (date(2027, 2, 1), date(2027, 2, 28)),
    ]


def test_leap_february_and_span_and_day():
    assert periods_between("month", date(2028, 2, 10), date(2028, 2, 10)) == [
        (date(2028, 2, 1), date(2028, 2, 29))
    ]
    assert periods_between("span", date(2026, 1, 3), date(2026, 5, 1)) == [
        (date(2026, 1, 3), date(2026, 5, 1))
    ]
    assert len(periods_between("day", date(2026, 1, 1), date(2026, 1, 31))) == 31


def check(day: date, units: str, number: str | None = None):
    projection = weekly_example().project()
    return scheduling_check(projection, PAYER, CODE, day, Decimal(units), number)


def test_available_is_regular_left_plus_carried_accumulation():
    result = check(WEEK1 + timedelta(days=23), "9")  # week 4: 3 regular left, 4 carried
    assert result.key == (NUMBER, CODE)
    assert (result.available_regular, result.available_accumulated) == (3, 4)
    assert (result.regular, result.accumulated, result.shortfall) == (3, 4, 2)
    assert [w["code"] for w in result.warnings] == ["insufficient_units"]
    assert result.warnings[0]["shortfall"] == "2"


def test_accumulation_already_drawn_this_period_is_not_available_again():
    result = check(WEEK1 + timedelta(days=16), "1")  # week 3 used 10 regular + 2 of 6 carried
    assert (result.available_regular, result.available_accumulated) == (0, 4)
    assert result.warnings == []


def test_no_matching_authorization():
    result = check(WEEK1 + timedelta(days=100), "2")
    assert result.key is None
    assert result.shortfall == 2
    assert {w["code"] for w in result.warnings} == {"no_authorization", "insufficient_units"}
