"""accumulation.md 2.3: periods.

Weeks start on `week_starts_on`, months are calendar months, `day` is one date, `span` is the
whole key span as one period. A key's periods run from the earliest line start or matched visit
date to the latest line end or matched visit date; a line grants its full units to every period
it overlaps (no proration), periods outside every active line grant 0.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.ledger.errors import ProblemList
from services.ledger.rules import check_event
from services.projections.core.accumulation import KeyResult
from services.projections.core.facts import WEEKDAYS
from services.projections.core.periods import period_start, periods_between
from tests.unit.builders import CODE, NUMBER, WEEK1, History, weekly_example

KEY = (NUMBER, CODE)


def decimals(*values: str | int) -> list[Decimal]:
    return [Decimal(str(value)) for value in values]


def day(week: int, weekday: int = 1) -> date:
    """A date of the example's grid: week 1..n, weekday 0 = Sunday .. 6 = Saturday."""
    return WEEK1 + timedelta(days=7 * (week - 1) + weekday)


def key_of(history: History) -> KeyResult:
    return history.project().result.keys[KEY]


def accumulating(**settings: object) -> History:
    history = History()
    history.settings(allow_accumulation=True, **settings)
    return history


def bounds(result: KeyResult) -> list[tuple[date, date]]:
    return [(p.start, p.end) for p in result.periods]


def authorized(result: KeyResult) -> list[Decimal]:
    return [p.authorized for p in result.periods]


# the calendar grid


@pytest.mark.parametrize("first_day", WEEKDAYS)
def test_week_starts_on_any_weekday(first_day: str):
    for offset in range(7):
        some_day = date(2026, 11, 23) + timedelta(days=offset)
        start = period_start("week", some_day, first_day)
        assert WEEKDAYS[start.weekday()] == first_day
        assert start <= some_day < start + timedelta(days=7)


def test_week_starts_on_sunday_by_default_and_on_monday_when_set():
    wednesday = date(2026, 11, 25)
    assert period_start("week", wednesday) == date(2026, 11, 22)
    assert period_start("week", wednesday, "monday") == date(2026, 11, 23)
    assert periods_between("week", date(2026, 11, 22), date(2026, 11, 23), "monday") == [
        (date(2026, 11, 16), date(2026, 11, 22)),
        (date(2026, 11, 23), date(2026, 11, 29)),
    ]


def test_months_are_calendar_months_across_a_year_end():
    assert periods_between("month", date(2026, 12, 15), date(2027, 2, 1)) == [
        (date(2026, 12, 1), date(2026, 12, 31)),
        (date(2027, 1, 1), date(2027, 1, 31)),
        (date(2027, 2, 1), date(2027, 2, 28)),
    ]


def test_month_of_a_leap_february():
    assert periods_between("month", date(2028, 2, 10), date(2028, 3, 1)) == [
        (date(2028, 2, 1), date(2028, 2, 29)),
        (date(2028, 3, 1), date(2028, 3, 31)),
    ]


def test_day_is_one_date_and_span_is_one_period():
    days = periods_between("day", date(2026, 12, 30), date(2027, 1, 2))
    assert days == [(d, d) for d in (date(2026, 12, 30) + timedelta(n) for n in range(4))]
    assert periods_between("span", date(2026, 1, 3), date(2026, 5, 1)) == [
        (date(2026, 1, 3), date(2026, 5, 1))
    ]


# periods of a key


def test_weekly_key_with_sunday_weeks():
    result = key_of(weekly_example())
    assert bounds(result) == [(day(week, 0), day(week, 6)) for week in (1, 2, 3, 4)]
    assert all(p.start.weekday() == 6 for p in result.periods)  # Sunday


def test_weekly_key_with_monday_weeks_grants_full_units_to_each_overlapped_week():
    # the line runs Sunday 2026-10-04 to Saturday 2026-10-31: with Monday weeks it overlaps five
    history = accumulating(week_starts_on="monday")
    history.grant()
    for week, used in zip((1, 2, 3, 4), (8, 6, 12, 7), strict=True):
        history.visit(f"v{week}", day(week), used)  # the Mondays
    result = key_of(history)
    assert bounds(result)[0] == (date(2026, 9, 28), date(2026, 10, 4))
    assert all(p.start.weekday() == 0 for p in result.periods)
    assert authorized(result) == decimals(10, 10, 10, 10, 10)
    assert [p.used for p in result.periods] == decimals(0, 8, 6, 12, 7)
    assert [p.balance for p in result.periods] == decimals(10, 12, 16, 14, 17)


@pytest.mark.parametrize("first_day", WEEKDAYS)
def test_weekly_key_periods_follow_week_starts_on(first_day: str):
    history = accumulating(week_starts_on=first_day)
    history.grant()
    result = key_of(history)
    starts = [p.start for p in result.periods]
    assert all(WEEKDAYS[start.weekday()] == first_day for start in starts)
    assert all(p.end == p.start + timedelta(days=6) for p in result.periods)
    assert starts == [starts[0] + timedelta(days=7 * n) for n in range(len(starts))]
    assert starts[0] <= WEEK1 and result.periods[-1].end >= day(4, 6)
    # 28 days starting on a Sunday: four weeks when weeks start on Sunday, five otherwise
    assert len(starts) == (4 if first_day == "sunday" else 5)
    assert set(authorized(result)) == {Decimal(10)}


def test_monthly_key_across_a_year_end():
    history = accumulating()
    history.grant(units=20, start=date(2026, 12, 15), end=date(2027, 2, 1), frequency="month")
    history.visit("dec", date(2026, 12, 31), 15)
    history.visit("jan", date(2027, 1, 1), 30)
    history.visit("feb", date(2027, 2, 28), 4, number=NUMBER)  # after the end, same month
    result = key_of(history)
    assert bounds(result) == [
        (date(2026, 12, 1), date(2026, 12, 31)),
        (date(2027, 1, 1), date(2027, 1, 31)),
        (date(2027, 2, 1), date(2027, 2, 28)),
    ]
    assert authorized(result) == decimals(20, 20, 20)  # no proration of the partial months
    assert [p.balance for p in result.periods] == decimals(5, -5, 11)


def test_daily_key_has_one_period_per_date():
    history = accumulating()
    history.grant(units=2, start=date(2026, 10, 5), end=date(2026, 10, 7), frequency="day")
    history.visit("v", date(2026, 10, 6), 3)
    result = key_of(history)
    assert bounds(result) == [(d, d) for d in (date(2026, 10, 5) + timedelta(n) for n in range(3))]
    assert authorized(result) == decimals(2, 2, 2)
    assert [p.balance for p in result.periods] == decimals(2, 1, 3)


def test_span_key_is_one_period_from_the_earliest_start_to_the_latest_end():
    history = accumulating()
    history.grant("L1", units=40, start=date(2026, 10, 5), end=date(2026, 11, 30), frequency="span")
    history.grant("L2", units=8, start=date(2026, 11, 1), end=date(2026, 12, 31), frequency="span")
    history.visit("v", date(2026, 12, 20), 30)
    result = key_of(history)
    assert bounds(result) == [(date(2026, 10, 5), date(2026, 12, 31))]
    assert authorized(result) == decimals(48)
    assert [p.balance for p in result.periods] == decimals(18)


def test_span_period_extends_to_a_matched_visit_after_the_span():
    history = accumulating()
    history.grant(units=40, start=date(2026, 10, 5), end=date(2026, 11, 30), frequency="span")
    history.visit("late", date(2027, 1, 10), 5, number=NUMBER)
    result = key_of(history)
    assert bounds(result) == [(date(2026, 10, 5), date(2027, 1, 10))]
    assert [p.balance for p in result.periods] == decimals(35)


def test_periods_extend_to_matched_visits_before_and_after_the_lines_and_grant_zero():
    history = weekly_example()
    history.visit("early", day(-1, 3), 2, number=NUMBER)  # two weeks before week 1
    history.visit("late", day(6, 2), 3, number=NUMBER)
    result = key_of(history)
    assert bounds(result)[0] == (day(-1, 0), day(-1, 6))
    assert bounds(result)[-1] == (day(6, 0), day(6, 6))
    assert authorized(result) == decimals(0, 0, 10, 10, 10, 10, 0, 0)
    assert [p.used for p in result.periods] == decimals(2, 0, 8, 6, 12, 7, 0, 3)
    assert [p.balance for p in result.periods] == decimals(-2, -2, 0, 4, 2, 5, 5, 2)


def test_line_grants_full_units_to_every_period_it_overlaps_without_proration():
    history = accumulating()
    history.grant(start=day(1, 3), end=day(2, 2))  # Wednesday to the next Tuesday
    result = key_of(history)
    assert bounds(result) == [(day(1, 0), day(1, 6)), (day(2, 0), day(2, 6))]
    assert authorized(result) == decimals(10, 10)


def test_a_visit_on_the_last_day_of_a_period_belongs_to_that_period():
    history = weekly_example()
    history.visit("saturday", day(1, 6), 1)
    history.visit("sunday", day(2, 0), 2)
    result = key_of(history)
    assert [p.used for p in result.periods] == decimals(9, 8, 12, 7)


def test_periods_outside_every_active_line_grant_zero():
    history = accumulating()
    history.grant("L1", start=day(1, 0), end=day(1, 6))
    history.grant("L3", start=day(3, 0), end=day(3, 6))
    result = key_of(history)
    assert len(result.periods) == 3
    assert authorized(result) == decimals(10, 0, 10)
    assert [p.balance for p in result.periods] == decimals(10, 10, 20)


def test_lines_of_one_key_add_up_in_the_periods_they_overlap():
    history = accumulating()
    history.grant("L1", units=10)
    history.grant("L2", units=4, start=day(2, 0), end=day(2, 6))
    assert authorized(key_of(history)) == decimals(10, 14, 10, 10)


def test_a_voided_line_still_defines_the_periods_but_grants_zero():
    history = accumulating()
    history.grant("L1", start=day(1, 0), end=day(2, 6))
    history.grant("L2", units=5, start=day(3, 0), end=day(6, 6))
    history.add("authorization.voided", authorization_id="L2")
    result = key_of(history)
    assert bounds(result)[-1] == (day(6, 0), day(6, 6))
    assert authorized(result) == decimals(10, 10, 0, 0, 0, 0)


def test_changing_week_starts_on_regrids_the_whole_history_from_its_position():
    history = weekly_example()
    before = len(history.events)
    history.settings(week_starts_on="monday")
    result = key_of(history)
    assert bounds(result)[0] == (date(2026, 9, 28), date(2026, 10, 4))
    assert [p.balance for p in result.periods] == decimals(10, 12, 16, 14, 17)
    earlier = history.project(until=before).result.keys[KEY]
    assert bounds(earlier)[0] == (day(1, 0), day(1, 6))
    assert [p.balance for p in earlier.periods] == decimals(2, 6, 4, 7)


# 2.1 (decision): all active lines of one key share one frequency


def grant_data(authorization_id: str, frequency: str, code: str = CODE) -> dict[str, str]:
    return {
        "authorization_id": authorization_id,
        "authorization_number": NUMBER,
        "member_id": "m-1",
        "payer_id": "payer-1",
        "service_code": code,
        "frequency": frequency,
        "units": "10",
        "start_date": str(WEEK1),
        "end_date": str(day(4, 6)),
    }


def test_a_line_that_would_mix_frequencies_in_one_key_is_rejected_with_a_clear_error():
    facts = weekly_example().project().facts  # one active weekly line of the key
    problems = ProblemList()
    assert not check_event(facts, 0, "authorization.granted", grant_data("L2", "month"), problems)
    [problem] = problems.problems
    assert (problem.index, problem.field) == (0, "data.frequency")
    assert "week" in problem.problem and "one frequency" in problem.problem


def test_lines_of_the_same_frequency_or_of_another_key_are_accepted():
    facts = weekly_example().project().facts
    problems = ProblemList()
    assert check_event(facts, 0, "authorization.granted", grant_data("L2", "week"), problems)
    other_key = grant_data("L3", "month", code="G0151")
    assert check_event(facts, 1, "authorization.granted", other_key, problems)
    assert problems.problems == []


def test_once_every_line_of_a_key_is_voided_another_frequency_may_follow():
    history = weekly_example()
    history.add("authorization.voided", authorization_id="L1")
    problems = ProblemList()
    facts = history.project().facts
    assert check_event(facts, 0, "authorization.granted", grant_data("L2", "month"), problems)
    history.add("authorization.granted", **grant_data("L2", "month"))
    assert key_of(history).frequency == "month"  # the active line's frequency
