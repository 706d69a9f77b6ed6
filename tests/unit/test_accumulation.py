"""accumulation.md 2.2-2.6: matching, used units, balances and allocation."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from services.projections.views import key_view
from tests.unit.builders import CODE, NUMBER, PAYER, WEEK1, History, weekly_example

KEY = (NUMBER, CODE)


def balances(history: History, key=KEY) -> list[Decimal]:
    return [p.balance for p in history.project().result.keys[key].periods]


def used(history: History, key=KEY) -> list[Decimal]:
    return [p.used for p in history.project().result.keys[key].periods]


def test_guide_weekly_table():
    result = weekly_example().project().result.keys[KEY]
    assert [p.authorized for p in result.periods] == [10, 10, 10, 10]
    assert [p.used for p in result.periods] == [8, 6, 12, 7]
    assert [p.balance for p in result.periods] == [2, 6, 4, 7]
    assert [max(p.balance, 0) for p in result.periods] == [2, 6, 4, 7]


def test_week3_draws_10_regular_and_2_accumulated():
    result = weekly_example().project().result.keys[KEY]
    week3 = result.periods[2]
    assert (week3.from_regular, week3.from_accumulation, week3.unauthorized) == (10, 2, 0)
    allocation = result.visits["v3"]
    assert (allocation.regular, allocation.accumulated, allocation.unauthorized) == (10, 2, 0)


def test_retroactive_reduction_gives_negative_accrual_caused_by_the_amendment():
    history = weekly_example()
    amendment = history.add("authorization.amended", authorization_id="L1", units="5")
    projection = history.project()
    result = projection.result.keys[KEY]
    assert [p.balance for p in result.periods] == [-3, -4, -11, -13]
    view = key_view(result, projection.flags.get(KEY), WEEK1 + timedelta(days=27))
    assert view.accumulated_units == 0
    assert view.negative_accrual is not None
    assert view.negative_accrual.overuse == 13
    assert view.negative_accrual.cause == "authorization_reduction"
    assert view.negative_accrual.event_id == amendment.event_id
    assert view.negative_accrual.period_start == WEEK1


def test_known_at_before_the_amendment_is_the_original_table():
    history = weekly_example()
    known = len(history.events)
    history.add("authorization.amended", authorization_id="L1", units="5")
    result = history.project(until=known).result.keys[KEY]
    assert [p.balance for p in result.periods] == [2, 6, 4, 7]


def test_as_of_is_period_granular_zero_before_and_b_n_after():
    projection = weekly_example().project()
    result = projection.result.keys[KEY]
    assert key_view(result, None, WEEK1 - timedelta(days=1)).raw_balance == 0
    assert key_view(result, None, WEEK1).raw_balance == 2  # all usage of week 1 counts
    assert key_view(result, None, WEEK1 + timedelta(days=9)).raw_balance == 6
    assert key_view(result, None, date(2030, 1, 1)).raw_balance == 7
    assert len(key_view(result, None, WEEK1 + timedelta(days=9)).periods) == 2


def test_without_allow_accumulation_nothing_is_carried():
    history = History()
    history.grant()
    for week, units in enumerate((8, 6, 12, 7)):
        history.visit(f"v{week}", WEEK1 + timedelta(days=7 * week + 1), units)
    result = history.project().result.keys[KEY]
    assert result.accumulates is False
    assert [p.balance for p in result.periods] == [2, 4, -2, 3]
    assert (result.periods[2].from_accumulation, result.periods[2].unauthorized) == (0, 2)


# 2.2 matching


def test_visit_with_number_matches_that_key_even_outside_the_line_dates():
    history = weekly_example()
    history.visit("late", WEEK1 + timedelta(days=40), 3, number=NUMBER)
    result = history.project().result
    assert result.matches["late"] == KEY
    # periods extend to matched visit dates; weeks outside the line grant 0
    periods = result.keys[KEY].periods
    assert periods[-1].start <= WEEK1 + timedelta(days=40) <= periods[-1].end
    assert periods[-1].authorized == 0


def test_visit_with_unknown_number_is_unauthorized_and_in_no_balance():
    history = weekly_example()
    history.visit("stray", WEEK1 + timedelta(days=2), 5, number="NOPE")
    result = history.project().result
    assert result.matches["stray"] is None
    assert result.unmatched["stray"].unauthorized == 5
    assert [p.used for p in result.keys[KEY].periods] == [8, 6, 12, 7]


def test_without_number_active_before_voided_then_latest_start_then_smaller_number():
    history = History()
    history.settings(allow_accumulation=True)
    history.grant("old", number="A-2", start=WEEK1)
    history.grant("new", number="A-3", start=WEEK1 + timedelta(days=7))
    history.grant("same", number="A-1", start=WEEK1 + timedelta(days=7))
    history.visit("v", WEEK1 + timedelta(days=8), 1)
    assert history.project().result.matches["v"] == ("A-1", CODE)
    history.add("authorization.voided", authorization_id="same")
    history.add("authorization.voided", authorization_id="new")
    assert history.project().result.matches["v"] == ("A-2", CODE)


def test_voided_line_keeps_its_key_and_dates_but_grants_zero():
    history = weekly_example()
    history.add("authorization.voided", authorization_id="L1")
    result = history.project().result.keys[KEY]
    assert [p.authorized for p in result.periods] == [0, 0, 0, 0]
    assert [p.used for p in result.periods] == [8, 6, 12, 7]
    assert result.periods[-1].balance == -33


def test_visit_of_another_service_code_or_payer_does_not_match():
    history = weekly_example()
    history.visit("other-code", WEEK1 + timedelta(days=1), 2, code="G0151")
    history.visit("other-payer", WEEK1 + timedelta(days=1), 2, payer="payer-2")
    matches = history.project().result.matches
    assert matches["other-code"] is None
    assert matches["other-payer"] is None


# 2.3 periods


def test_line_grants_full_units_to_every_overlapping_period_without_proration():
    history = History()
    history.settings(allow_accumulation=True)
    history.grant(start=WEEK1 + timedelta(days=3), end=WEEK1 + timedelta(days=9))
    result = history.project().result.keys[KEY]
    assert [p.authorized for p in result.periods] == [10, 10]


def test_two_lines_of_one_key_add_up():
    history = History()
    history.settings(allow_accumulation=True)
    history.grant("L1", units=10)
    history.grant("L2", units=4, start=WEEK1 + timedelta(days=7), end=WEEK1 + timedelta(days=13))
    result = history.project().result.keys[KEY]
    assert [p.authorized for p in result.periods] == [10, 14, 10, 10]


def test_month_and_day_and_span_frequencies():
    for frequency, expected in (("month", 1), ("day", 28), ("span", 1)):
        history = History()
        history.settings(allow_accumulation=True)
        history.grant(frequency=frequency, units=3)
        periods = history.project().result.keys[KEY].periods
        assert len(periods) == expected, frequency
        assert all(p.authorized == 3 for p in periods)


def test_week_starts_on_monday():
    history = weekly_example()
    history.settings(week_starts_on="monday")
    periods = history.project().result.keys[KEY].periods
    assert periods[0].start == WEEK1 - timedelta(days=6)  # the Monday before the Sunday
    assert all(p.start.weekday() == 0 for p in periods)


# 2.4 used units


def test_scheduled_units_count_only_with_the_setting():
    history = weekly_example()
    history.visit("planned", WEEK1 + timedelta(days=23), 3, status="scheduled")
    assert used(history)[-1] == 7
    history.settings(include_scheduled_units=True)
    assert used(history)[-1] == 10


def test_missed_counts_unless_the_day_has_only_missed_visits_and_the_setting_is_on():
    history = weekly_example()
    history.visit("miss-alone", WEEK1 + timedelta(days=24), 2, status="missed")
    history.visit("miss-with", WEEK1 + timedelta(days=22), 1, status="missed")  # v4's day
    assert used(history)[-1] == 10
    history.settings(exclude_missed_days=True)
    assert used(history)[-1] == 8  # only the all-missed day is excluded


def test_cancelled_counts_zero_and_does_not_keep_a_missed_day():
    history = weekly_example()
    day = WEEK1 + timedelta(days=24)
    history.visit("miss", day, 2, status="missed")
    history.visit("gone", day, 4, status="cancelled")
    history.settings(exclude_missed_days=True)
    assert used(history)[-1] == 7


def test_settings_change_applies_to_the_whole_history():
    history = weekly_example()
    history.settings(allow_accumulation=False)
    assert balances(history) == [2, 4, -2, 3]
    history.settings(allow_accumulation=True)
    assert balances(history) == [2, 6, 4, 7]


def test_reschedule_moves_usage_between_periods():
    history = weekly_example()
    history.add("visit.rescheduled", visit_id="v1", service_date=str(WEEK1 + timedelta(days=8)))
    assert used(history) == [0, 14, 12, 7]


def test_confirmed_actual_units_replace_scheduled_units():
    history = weekly_example()
    history.visit("p", WEEK1 + timedelta(days=22), 5, status="scheduled")
    history.add("visit.confirmed", visit_id="p", units="2")
    assert used(history)[-1] == 9


def test_allocation_orders_by_service_date_then_position():
    history = History()
    history.settings(allow_accumulation=True)
    history.grant(units=5)
    history.visit("later", WEEK1 + timedelta(days=3), 4)
    history.visit("earlier", WEEK1 + timedelta(days=1), 4)
    visits = history.project().result.keys[KEY].visits
    assert (visits["earlier"].regular, visits["earlier"].unauthorized) == (4, 0)
    assert (visits["later"].regular, visits["later"].unauthorized) == (1, 3)


def test_each_unit_is_counted_once():
    history = weekly_example()
    result = history.project().result.keys[KEY]
    for period in result.periods:
        assert period.from_regular + period.from_accumulation + period.unauthorized == period.used
    assert result.payer_id == PAYER
