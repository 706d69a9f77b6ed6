"""accumulation.md 2.14: pacing caps inside a line's periods.

A monthly line of 40 units for October to December 2026 (Sunday weeks by default) with a cap of
10 units a week; or a weekly line with at most 4 units a day on Saturdays and Sundays.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from services.projections.core.accumulation import Allocation, KeyResult
from services.projections.core.explain import describe
from services.projections.core.serialize import member_rows, visit_body
from services.projections.core.views import scheduling_check
from services.projections.runner import replay
from tests.unit.builders import CODE, MEMBER, NUMBER, PAYER, History

KEY = (NUMBER, CODE)
WEEKLY_10 = [{"per": "week", "units": "10"}]
WEEKEND_4 = [{"per": "day", "units": "4", "days": ["saturday", "sunday"]}]


def decimals(*values: str | int) -> list[Decimal]:
    return [Decimal(str(value)) for value in values]


def drawn(allocation: Allocation) -> list[Decimal]:
    return [
        allocation.regular,
        allocation.accumulated,
        allocation.unauthorized,
        allocation.cap_exceeded,
    ]


def capped_history(
    caps: list[dict[str, Any]],
    frequency: str = "month",
    units: str = "40",
    start: date = date(2026, 10, 1),
    end: date = date(2026, 12, 31),
    **settings: Any,
) -> History:
    history = History()
    history.settings(allow_accumulation=True, **settings)
    history.add(
        "authorization.granted",
        authorization_id="L1",
        authorization_number=NUMBER,
        member_id=MEMBER,
        payer_id=PAYER,
        service_code=CODE,
        frequency=frequency,
        units=units,
        start_date=start,
        end_date=end,
        caps=caps,
    )
    return history


def key_of(history: History) -> KeyResult:
    return history.project().result.keys[KEY]


def test_units_beyond_a_weekly_cap_are_unauthorized_with_reason_cap_exceeded_but_count_as_used():
    history = capped_history(WEEKLY_10)
    history.visit("mon", date(2026, 10, 5), 6)
    history.visit("wed", date(2026, 10, 7), 6)
    result = key_of(history)
    assert drawn(result.visits["mon"]) == decimals(6, 0, 0, 0)
    assert drawn(result.visits["wed"]) == decimals(4, 0, 2, 2)
    assert result.visits["wed"].reason == "cap_exceeded"
    october = result.periods[0]
    assert [october.used, october.from_regular, october.unauthorized] == decimals(12, 10, 2)
    assert october.balance == Decimal(28)  # 40 - 12: capped units still count as used


def test_the_next_week_has_its_own_window():
    history = capped_history(WEEKLY_10)
    history.visit("mon", date(2026, 10, 5), 10)
    history.visit("next", date(2026, 10, 12), 10)
    result = key_of(history)
    assert drawn(result.visits["next"]) == decimals(10, 0, 0, 0)


def test_weeks_follow_the_payers_week_starts_on():
    sunday_weeks = capped_history(WEEKLY_10)
    monday_weeks = capped_history(WEEKLY_10, week_starts_on="monday")
    for history in (sunday_weeks, monday_weeks):
        history.visit("sun", date(2026, 10, 4), 6)
        history.visit("mon", date(2026, 10, 5), 6)
    assert drawn(key_of(sunday_weeks).visits["mon"]) == decimals(4, 0, 2, 2)
    assert drawn(key_of(monday_weeks).visits["mon"]) == decimals(6, 0, 0, 0)


def test_a_weekly_cap_window_reaches_across_monthly_periods():
    history = capped_history(WEEKLY_10)
    history.visit("nov30", date(2026, 11, 30), 8)  # Monday of the week Sunday 11-29 .. 12-05
    history.visit("dec1", date(2026, 12, 1), 8)
    result = key_of(history)
    assert drawn(result.visits["dec1"]) == decimals(2, 0, 6, 6)


def test_a_daily_cap_on_named_weekdays_holds_those_days_only():
    history = capped_history(WEEKEND_4, frequency="week", units="20")
    history.visit("sat", date(2026, 10, 10), 6)
    history.visit("mon", date(2026, 10, 12), 6)
    history.visit("sun", date(2026, 10, 11), 3)
    result = key_of(history)
    assert drawn(result.visits["sat"]) == decimals(4, 0, 2, 2)
    assert drawn(result.visits["sun"]) == decimals(3, 0, 0, 0)
    assert drawn(result.visits["mon"]) == decimals(6, 0, 0, 0)


def test_the_scheduling_check_warns_cap_exceeded_with_the_shortfall():
    history = capped_history(WEEKLY_10)
    history.visit("mon", date(2026, 10, 5), 6)
    projection = history.project()
    result = scheduling_check(projection, PAYER, CODE, date(2026, 10, 7), Decimal(6), None)
    assert [result.regular, result.accumulated, result.shortfall] == decimals(4, 0, 2)
    assert result.cap_exceeded == Decimal(2)
    assert [(w["code"], w["shortfall"]) for w in result.warnings] == [("cap_exceeded", "2")]
    inside = scheduling_check(projection, PAYER, CODE, date(2026, 10, 7), Decimal(4), None)
    assert inside.warnings == []


def test_the_check_warns_both_when_units_beyond_the_cap_and_beyond_the_balance():
    history = capped_history(WEEKLY_10, units="12")
    history.visit("mon", date(2026, 10, 5), 6)
    history.visit("oct12", date(2026, 10, 12), 4)  # October: 12 - 10 = 2 regular left
    projection = history.project()
    result = scheduling_check(projection, PAYER, CODE, date(2026, 10, 7), Decimal(6), None)
    # 4 fit the cap, of which 2 regular units are left: short 2 by the cap, 2 by the balance
    assert [result.regular, result.shortfall, result.cap_exceeded] == decimals(2, 4, 2)
    assert [(w["code"], w["shortfall"]) for w in result.warnings] == [
        ("cap_exceeded", "2"),
        ("insufficient_units", "2"),
    ]


def test_a_billed_visits_units_inside_the_cap_take_their_room_first():
    history = capped_history(WEEKLY_10)
    history.visit("wed", date(2026, 10, 7), 6)
    history.add("visit.billed", visit_id="wed")
    history.visit("mon", date(2026, 10, 5), 6)  # earlier date, recorded after the billing
    result = key_of(history)
    assert drawn(result.visits["wed"]) == decimals(6, 0, 0, 0)
    assert drawn(result.visits["mon"]) == decimals(4, 0, 2, 2)


def test_a_voided_line_holds_no_cap():
    history = capped_history(WEEKLY_10)
    history.add(
        "authorization.granted",
        authorization_id="L2",
        authorization_number=NUMBER,
        member_id=MEMBER,
        payer_id=PAYER,
        service_code=CODE,
        frequency="month",
        units="40",
        start_date=date(2026, 10, 1),
        end_date=date(2026, 12, 31),
    )
    history.add("authorization.voided", authorization_id="L1")
    history.visit("mon", date(2026, 10, 5), 12)
    assert drawn(key_of(history).visits["mon"]) == decimals(12, 0, 0, 0)


def test_the_visit_answer_carries_the_reason_and_a_rebuild_equals_the_steps():
    history = capped_history(WEEKLY_10)
    history.visit("mon", date(2026, 10, 5), 6)
    history.visit("wed", date(2026, 10, 7), 6)
    history.add("visit.rescheduled", visit_id="mon", units="3")
    history.visit("thu", date(2026, 10, 8), 5)
    stepped = history.project()
    assert "reason" not in visit_body(stepped, "wed")["allocation"]  # null in the answer
    assert visit_body(stepped, "thu")["allocation"] == {
        "regular": "1",
        "accumulated": "0",
        "unauthorized": "4",
        "reason": "cap_exceeded",
    }
    assert member_rows(replay(MEMBER, history.events)) == member_rows(stepped)


def test_explain_describes_the_caps_of_a_grant():
    history = capped_history(WEEKEND_4, frequency="week", units="20")
    assert describe(history.events[-1]) == (
        "grants 20 units per week from 2026-10-01 to 2026-12-31, at most 4 units a day on "
        "saturday, sunday"
    )
