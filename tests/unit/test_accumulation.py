"""accumulation.md 2.2 and 2.4-2.6: matching, used units, balances and allocation.

The guide's weekly example (tests.unit.builders.weekly_example): 10 units a week from Sunday
2026-10-04 for four weeks, accumulation allowed, confirmed visits of 8, 6, 12 and 7 units on the
Monday of each week.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from services.projections.core.accumulation import Allocation, KeyResult, PeriodResult
from services.projections.core.views import key_view
from tests.unit.builders import CODE, NUMBER, PAYER, WEEK1, History, weekly_example

KEY = (NUMBER, CODE)


def decimals(*values: str | int) -> list[Decimal]:
    return [Decimal(str(value)) for value in values]


def day(week: int, weekday: int = 1) -> date:
    """A date of the example's grid: week 1..n, weekday 0 = Sunday .. 6 = Saturday."""
    return WEEK1 + timedelta(days=7 * (week - 1) + weekday)


def drawn(item: Allocation | PeriodResult) -> list[Decimal]:
    """Regular, accumulated and unauthorized units of a visit's allocation or of a period."""
    if isinstance(item, Allocation):
        return [item.regular, item.accumulated, item.unauthorized]
    return [item.from_regular, item.from_accumulation, item.unauthorized]


def key_of(history: History, key: tuple[str, str] = KEY) -> KeyResult:
    return history.project().result.keys[key]


def column(history: History, name: str, key: tuple[str, str] = KEY) -> list[Decimal]:
    return [getattr(period, name) for period in key_of(history, key).periods]


def accumulating() -> History:
    history = History()
    history.settings(allow_accumulation=True)
    return history


# 2.5 the guide's weekly table


def test_guide_weekly_table_authorized_used_balance_and_accumulated_shown():
    result = key_of(weekly_example())
    table = [(p.authorized, p.used, p.balance, max(Decimal(0), p.balance)) for p in result.periods]
    assert table == [
        (Decimal(10), Decimal(8), Decimal(2), Decimal(2)),
        (Decimal(10), Decimal(6), Decimal(6), Decimal(6)),
        (Decimal(10), Decimal(12), Decimal(4), Decimal(4)),
        (Decimal(10), Decimal(7), Decimal(7), Decimal(7)),
    ]
    assert [(p.start, p.end) for p in result.periods] == [
        (day(week, 0), day(week, 6)) for week in (1, 2, 3, 4)
    ]
    assert result.accumulates is True
    assert result.payer_id == PAYER


def test_guide_week_3_uses_10_regular_and_2_accumulated_units():
    result = key_of(weekly_example())
    week3 = result.periods[2]
    assert drawn(week3) == decimals(10, 2, 0)
    v3 = result.visits["v3"]
    assert drawn(v3) == decimals(10, 2, 0)


def test_raw_balance_follows_b_k_equals_b_k_minus_1_plus_authorized_minus_used():
    history = weekly_example()
    history.visit("extra", day(2, 3), 9)
    history.grant("L2", units=3, start=day(3, 0), end=day(3, 6))
    result = key_of(history)
    previous = Decimal(0)
    for period in result.periods:
        assert period.balance == previous + period.authorized - period.used
        previous = period.balance
    assert column(history, "balance") == decimals(2, -3, -2, 1)


def test_exact_decimals_never_binary_floats():
    history = accumulating()
    history.grant(units="7.5")
    history.visit("a", day(1), "0.1")
    history.visit("b", day(1, 2), "0.2")
    history.visit("c", day(2), "7.35")
    balances = column(history, "balance")
    assert balances[:2] == decimals("7.2", "7.35")
    assert all(isinstance(balance, Decimal) for balance in balances)


# 2.5 balance as of a date


def test_balance_as_of_a_date_before_the_first_period_is_zero():
    result = key_of(weekly_example())
    view = key_view(result, None, WEEK1 - timedelta(days=1))
    assert [view.raw_balance, view.accumulated_units] == decimals(0, 0)
    assert view.periods == ()


def test_balance_as_of_is_period_granular_with_all_usage_of_that_period():
    result = key_of(weekly_example())
    # Sunday of week 1, before the Monday visit of 8 units: the whole week counts
    assert key_view(result, None, day(1, 0)).raw_balance == Decimal(2)
    assert key_view(result, None, day(1, 6)).raw_balance == Decimal(2)
    assert key_view(result, None, day(2, 0)).raw_balance == Decimal(6)
    assert key_view(result, None, day(3, 3)).raw_balance == Decimal(4)
    assert len(key_view(result, None, day(3, 3)).periods) == 3


def test_balance_after_the_last_period_stays_at_b_n():
    result = key_of(weekly_example())
    assert key_view(result, None, day(5, 0)).raw_balance == Decimal(7)
    assert key_view(result, None, date(2030, 1, 1)).accumulated_units == Decimal(7)


def test_balance_known_at_sees_only_facts_recorded_until_then():
    history = weekly_example()
    before_week_4 = len(history.events) - 1
    assert column(history, "balance") == decimals(2, 6, 4, 7)
    projection = history.project(until=before_week_4)
    assert [p.balance for p in projection.result.keys[KEY].periods] == decimals(2, 6, 4, 14)


# 2.6 allocation


def test_allocation_draws_regular_first_then_carried_accumulation_then_unauthorized():
    history = accumulating()
    history.grant()
    history.visit("w1", day(1), 4)  # B_1 = 6
    history.visit("a", day(2, 1), 6)
    history.visit("b", day(2, 2), 6)
    history.visit("c", day(2, 3), 6)
    result = key_of(history)
    assert drawn(result.visits["a"]) == decimals(6, 0, 0)
    assert drawn(result.visits["b"]) == decimals(4, 2, 0)  # split: regular, then accumulated
    assert drawn(result.visits["c"]) == decimals(0, 4, 2)
    week2 = result.periods[1]
    assert drawn(week2) == decimals(10, 6, 2)
    assert week2.balance == Decimal(-2)


def test_allocation_orders_by_service_date_before_recorded_position():
    history = accumulating()
    history.grant(units=5)
    history.visit("recorded-first", day(1, 3), 4)
    history.visit("recorded-second", day(1, 1), 4)
    visits = key_of(history).visits
    assert drawn(visits["recorded-second"]) == decimals(4, 0, 0)
    assert drawn(visits["recorded-first"]) == decimals(1, 0, 3)


def test_allocation_on_the_same_date_follows_recorded_position():
    history = accumulating()
    history.grant(units=5)
    history.visit("z-first", day(1), 4)
    history.visit("a-second", day(1), 4)
    visits = key_of(history).visits
    assert drawn(visits["z-first"]) == decimals(4, 0, 0)
    assert drawn(visits["a-second"]) == decimals(1, 0, 3)


def test_each_unit_is_counted_once_in_past_and_current_periods():
    history = weekly_example()
    history.visit("late", day(4, 3), 12)  # week 4: 10 regular, 4 carried, 5 beyond
    result = key_of(history)
    for period in result.periods:
        assert period.from_regular + period.from_accumulation + period.unauthorized == period.used
        assert period.from_regular <= period.authorized
    for visit_id, allocation in result.visits.items():
        parts = allocation.regular + allocation.accumulated + allocation.unauthorized
        assert parts == {"v1": 8, "v2": 6, "v3": 12, "v4": 7, "late": 12}[visit_id]
    # the 2 accumulated units drawn in week 3 are gone: week 4 carries 4 in, not 6
    week4 = result.periods[3]
    assert drawn(week4) == decimals(10, 4, 5)
    assert week4.balance == Decimal(-5)


def test_negative_carry_gives_no_accumulation_to_draw():
    history = accumulating()
    history.grant()
    history.visit("over", day(1), 13)  # B_1 = -3
    history.visit("w2", day(2), 12)
    result = key_of(history)
    week2 = result.periods[1]
    assert drawn(week2) == decimals(10, 0, 2)
    assert week2.balance == Decimal(-5)


# allow_accumulation false (the default)


def test_without_allow_accumulation_nothing_is_carried_between_periods():
    history = History()
    history.grant()
    for week, used in zip((1, 2, 3, 4), (8, 6, 12, 7), strict=True):
        history.visit(f"v{week}", day(week), used)
    result = key_of(history)
    assert result.accumulates is False
    for period in result.periods:
        assert period.balance == period.authorized - period.used
    assert column(history, "balance") == decimals(2, 4, -2, 3)


def test_without_allow_accumulation_allocation_draws_only_regular():
    history = History()
    history.grant()
    for week, used in zip((1, 2, 3, 4), (8, 6, 12, 7), strict=True):
        history.visit(f"v{week}", day(week), used)
    result = key_of(history)
    assert all(p.from_accumulation == 0 for p in result.periods)
    v3 = result.visits["v3"]
    assert drawn(v3) == decimals(10, 0, 2)
    assert key_view(result, None, date(2030, 1, 1)).raw_balance == Decimal(3)


# 2.2 matching a visit to a key


def test_visit_with_authorization_number_matches_that_key_even_outside_the_line_dates():
    history = weekly_example()
    history.visit("late", day(6), 3, number=NUMBER)
    result = history.project().result
    assert result.matches["late"] == KEY
    periods = result.keys[KEY].periods
    assert len(periods) == 6  # the key's periods extend to the visit's week
    assert periods[-1].start <= day(6) <= periods[-1].end
    late = result.keys[KEY].visits["late"]
    assert drawn(late) == decimals(0, 3, 0)


def test_visit_with_the_number_of_a_voided_line_stays_on_its_key():
    history = weekly_example()
    history.add("authorization.voided", authorization_id="L1")
    history.visit("numbered", day(2, 2), 2, number=NUMBER)
    result = history.project().result
    assert result.matches["numbered"] == KEY
    assert result.keys[KEY].periods[1].used == Decimal(8)


def test_visit_with_a_number_that_has_no_line_for_its_service_code_is_unauthorized():
    history = weekly_example()
    history.grant("other", number="B-200", code="G0151")
    history.visit("wrong-code", day(1, 2), 2, number=NUMBER, code="G0151")
    history.visit("unknown-number", day(1, 2), 2, number="NOPE")
    result = history.project().result
    assert result.matches["wrong-code"] is None
    assert result.matches["unknown-number"] is None
    assert column(history, "used") == decimals(8, 6, 12, 7)
    assert column(history, "used", ("B-200", "G0151")) == decimals(0, 0, 0, 0)


def test_visit_without_number_matches_a_covering_line_of_the_same_payer_and_service_code():
    history = weekly_example()
    history.visit("other-code", day(1, 2), 2, code="G0151")
    history.visit("other-payer", day(1, 2), 2, payer="payer-2")
    history.visit("outside-dates", day(5, 2), 2)
    matches = history.project().result.matches
    assert [matches[f"v{week}"] for week in (1, 2, 3, 4)] == [KEY] * 4
    assert matches["other-code"] is None
    assert matches["other-payer"] is None
    assert matches["outside-dates"] is None


def test_without_number_an_active_line_wins_over_a_voided_one():
    history = accumulating()
    history.grant("active", number="A-200", start=day(1, 0))
    history.grant("voided", number="A-100", start=day(2, 0))  # later start, smaller number
    history.add("authorization.voided", authorization_id="voided")
    history.visit("v", day(2, 2), 1)
    assert history.project().result.matches["v"] == ("A-200", CODE)


def test_without_number_the_latest_start_wins_among_active_lines():
    history = accumulating()
    history.grant("early", number="A-100", start=day(1, 0))
    history.grant("late", number="A-300", start=day(2, 0))
    history.visit("v", day(2, 2), 1)
    history.visit("before-late", day(1, 2), 1)
    matches = history.project().result.matches
    assert matches["v"] == ("A-300", CODE)
    assert matches["before-late"] == ("A-100", CODE)


def test_without_number_the_smaller_number_wins_on_the_same_start():
    history = accumulating()
    history.grant("second", number="A-200", start=day(1, 0))
    history.grant("first", number="A-100", start=day(1, 0))
    history.visit("v", day(1, 2), 1)
    assert history.project().result.matches["v"] == ("A-100", CODE)


def test_without_number_a_voided_line_still_matches_when_nothing_active_covers():
    history = weekly_example()
    history.add("authorization.voided", authorization_id="L1")
    history.visit("after-void", day(2, 3), 2)
    result = history.project().result
    assert result.matches["after-void"] == KEY
    assert column(history, "authorized") == decimals(0, 0, 0, 0)
    assert column(history, "used") == decimals(8, 8, 12, 7)


def test_unauthorized_visit_is_reported_and_never_in_a_balance():
    history = weekly_example()
    history.visit("stray", day(1, 2), 50, number="NOPE")
    history.visit("stray-scheduled", day(2, 2), 4, code="G0151", status="scheduled")
    result = history.project().result
    assert result.unmatched["stray"].unauthorized == Decimal(50)
    assert "stray-scheduled" in result.unmatched
    assert "stray" not in result.keys[KEY].visits
    assert column(history, "balance") == decimals(2, 6, 4, 7)


def test_voided_line_keeps_its_key_and_dates_and_grants_zero():
    history = weekly_example()
    history.add("authorization.voided", authorization_id="L1")
    result = key_of(history)
    assert [(p.start, p.end) for p in result.periods] == [
        (day(week, 0), day(week, 6)) for week in (1, 2, 3, 4)
    ]
    assert column(history, "authorized") == decimals(0, 0, 0, 0)
    assert column(history, "used") == decimals(8, 6, 12, 7)
    assert column(history, "balance") == decimals(-8, -14, -26, -33)


def test_removed_service_code_keeps_the_key_and_grants_zero():
    history = weekly_example()
    history.add(
        "authorization.service_removed",
        member_id="m-1",
        authorization_number=NUMBER,
        service_code=CODE,
    )
    result = history.project().result
    assert [result.matches[f"v{week}"] for week in (1, 2, 3, 4)] == [KEY] * 4
    assert column(history, "authorized") == decimals(0, 0, 0, 0)
    assert column(history, "balance") == decimals(-8, -14, -26, -33)


def test_usage_under_a_shortened_line_stays_on_its_key():
    history = weekly_example()
    history.add("authorization.amended", authorization_id="L1", end_date=day(1, 6))
    result = history.project().result
    assert [result.matches[f"v{week}"] for week in (1, 2, 3, 4)] == [KEY] * 4
    assert column(history, "authorized") == decimals(10, 0, 0, 0)
    assert column(history, "balance") == decimals(2, -4, -16, -23)


def test_usage_before_a_later_start_stays_on_its_key():
    history = weekly_example()
    history.add("authorization.amended", authorization_id="L1", start_date=day(3, 0))
    result = history.project().result
    assert result.matches["v1"] == KEY
    assert column(history, "authorized") == decimals(0, 0, 10, 10)
    assert column(history, "balance") == decimals(-8, -14, -16, -13)


def test_each_service_code_of_one_number_is_its_own_key():
    history = weekly_example()
    history.grant("L2", units=4, code="G0151")
    history.visit("pt", day(1, 2), 3, code="G0151")
    result = history.project().result
    assert set(result.keys) == {KEY, (NUMBER, "G0151")}
    assert column(history, "balance", (NUMBER, "G0151")) == decimals(1, 5, 9, 13)
    assert column(history, "balance") == decimals(2, 6, 4, 7)


# 2.4 used units of a period


def test_confirmed_visit_counts_its_units_and_actual_units_replace_scheduled_ones():
    history = weekly_example()
    history.visit("p", day(4, 2), 5, status="scheduled")
    history.add("visit.confirmed", visit_id="p", units="2")
    assert column(history, "used") == decimals(8, 6, 12, 9)


def test_scheduled_units_count_only_with_include_scheduled_units():
    history = weekly_example()
    history.visit("planned", day(4, 3), 3, status="scheduled")
    assert column(history, "used") == decimals(8, 6, 12, 7)
    history.settings(include_scheduled_units=True)
    assert column(history, "used") == decimals(8, 6, 12, 10)
    history.settings(include_scheduled_units=False)
    assert column(history, "used") == decimals(8, 6, 12, 7)


def test_missed_visit_counts_by_default():
    history = weekly_example()
    history.visit("missed", day(4, 3), 2, status="missed")
    assert column(history, "used") == decimals(8, 6, 12, 9)


def test_exclude_missed_days_drops_a_day_where_every_visit_was_missed():
    history = weekly_example()
    history.visit("missed-1", day(4, 3), 2, status="missed")
    history.visit("missed-2", day(4, 3), 1, status="missed")
    history.settings(exclude_missed_days=True)
    assert column(history, "used") == decimals(8, 6, 12, 7)
    assert key_of(history).visits["missed-1"].regular == Decimal(0)


def test_exclude_missed_days_still_counts_a_missed_visit_beside_a_confirmed_one():
    history = weekly_example()
    history.visit("missed", day(4), 2, status="missed")  # the date of v4 (confirmed, 7)
    history.settings(exclude_missed_days=True)
    assert column(history, "used") == decimals(8, 6, 12, 9)


def test_exclude_missed_days_ignores_cancelled_visits_of_that_date():
    history = weekly_example()
    history.visit("missed", day(4, 3), 2, status="missed")
    history.visit("cancelled", day(4, 3), 4, status="cancelled")
    history.settings(exclude_missed_days=True)
    assert column(history, "used") == decimals(8, 6, 12, 7)


def test_exclude_missed_days_still_counts_a_missed_visit_beside_a_scheduled_one():
    history = weekly_example()
    history.visit("missed", day(4, 3), 2, status="missed")
    history.visit("planned", day(4, 3), 4, status="scheduled")  # not cancelled, not missed
    history.settings(exclude_missed_days=True)
    assert column(history, "used") == decimals(8, 6, 12, 9)


def test_exclude_missed_days_looks_only_at_visits_of_the_same_key():
    history = weekly_example()
    history.grant("L2", code="G0151")
    history.visit("missed", day(4, 3), 2, status="missed")
    history.visit("other-key", day(4, 3), 1, code="G0151")
    history.settings(exclude_missed_days=True)
    assert column(history, "used") == decimals(8, 6, 12, 7)


def test_cancelled_visit_counts_zero():
    history = weekly_example()
    history.visit("cancelled", day(4, 3), 5, status="cancelled")
    history.settings(include_scheduled_units=True)
    assert column(history, "used") == decimals(8, 6, 12, 7)
    history.add("visit.cancelled", visit_id="v4")
    assert column(history, "used") == decimals(8, 6, 12, 0)


def test_reschedule_moves_usage_to_the_period_of_the_new_date():
    history = weekly_example()
    history.add("visit.rescheduled", visit_id="v1", service_date=day(2, 2))
    assert column(history, "used") == decimals(0, 14, 12, 7)
    assert column(history, "balance") == decimals(10, 6, 4, 7)


# 2.1 payer settings are facts applied to the whole history


def test_settings_change_applies_to_the_whole_history_from_its_position():
    history = weekly_example()
    history.visit("planned", day(1, 3), 3, status="scheduled")
    before = len(history.events)
    history.settings(allow_accumulation=False, include_scheduled_units=True)
    assert column(history, "balance") == decimals(-1, 4, -2, 3)
    projection = history.project(until=before)
    assert [p.balance for p in projection.result.keys[KEY].periods] == decimals(2, 6, 4, 7)


def test_settings_of_another_payer_do_not_apply():
    history = weekly_example()
    history.add("payer.settings_changed", payer_id="payer-2", allow_accumulation=False)
    assert column(history, "balance") == decimals(2, 6, 4, 7)


def test_settings_default_to_no_accumulation_no_scheduled_no_missed_exclusion_sunday_weeks():
    history = History()
    history.grant()
    history.visit("planned", day(1, 3), 3, status="scheduled")
    history.visit("missed", day(2, 3), 2, status="missed")
    result = key_of(history)
    assert result.accumulates is False
    assert result.periods[0].start == WEEK1  # a Sunday
    assert column(history, "used") == decimals(0, 2, 0, 0)


def test_recorded_time_does_not_change_the_balance():
    early = key_of(weekly_example(History(recorded_from=datetime(2026, 9, 1, tzinfo=UTC))))
    late = key_of(weekly_example(History(recorded_from=datetime(2027, 3, 1, tzinfo=UTC))))
    assert early.periods == late.periods
    assert early.visits == late.visits
