"""accumulation.md 2.5 (negative accrual) and 2.7: why a balance went negative.

The guide's weekly example (tests.unit.builders.weekly_example): 10 units a week from Sunday
2026-10-04 for four weeks, accumulation allowed, 8, 6, 12 and 7 units used. History records
events a minute apart from 2026-10-01 unless told otherwise, so by default every visit is
recorded before its week ends.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from services.projections.core.member import Flag, MemberProjection
from services.projections.core.views import KeyView, key_view
from tests.unit.builders import CODE, MEMBER, NUMBER, WEEK1, History, weekly_example

KEY = (NUMBER, CODE)


def decimals(*values: str | int) -> list[Decimal]:
    return [Decimal(str(value)) for value in values]


def day(week: int, weekday: int = 1) -> date:
    """A date of the example's grid: week 1..n, weekday 0 = Sunday .. 6 = Saturday."""
    return WEEK1 + timedelta(days=7 * (week - 1) + weekday)


def balances(projection: MemberProjection, key: tuple[str, str] = KEY) -> list[Decimal]:
    return [p.balance for p in projection.result.keys[key].periods]


def view(projection: MemberProjection, as_of: date, key: tuple[str, str] = KEY) -> KeyView:
    return key_view(projection.result.keys[key], projection.flags.get(key), as_of)


def flag_of(history: History, key: tuple[str, str] = KEY) -> Flag | None:
    return history.project().flags.get(key)


def remove_service_code(history: History, code: str = CODE):
    return history.add(
        "authorization.service_removed",
        member_id=MEMBER,
        authorization_number=NUMBER,
        service_code=code,
    )


# the guide's retroactive reduction: 10 -> 5 units a week after the visits were confirmed


def test_retroactive_reduction_from_10_to_5_gives_raw_balances_minus_3_4_11_13():
    history = weekly_example()
    history.add("authorization.amended", authorization_id="L1", units="5")
    projection = history.project()
    periods = projection.result.keys[KEY].periods
    assert [p.authorized for p in periods] == decimals(5, 5, 5, 5)
    assert [p.used for p in periods] == decimals(8, 6, 12, 7)
    assert balances(projection) == decimals(-3, -4, -11, -13)


def test_retroactive_reduction_shows_zero_and_keeps_the_overuse():
    history = weekly_example()
    history.add("authorization.amended", authorization_id="L1", units="5")
    projection = history.project()
    for week, overuse in zip((1, 2, 3, 4), (3, 4, 11, 13), strict=True):
        week_view = view(projection, day(week, 0))
        assert week_view.accumulated_units == Decimal(0)
        assert week_view.raw_balance == -Decimal(overuse)
        assert week_view.negative_accrual is not None
        assert week_view.negative_accrual.overuse == Decimal(overuse)


def test_retroactive_reduction_is_caused_by_the_amendment():
    history = weekly_example()
    amendment = history.add("authorization.amended", authorization_id="L1", units="5")
    projection = history.project()
    negative = view(projection, date(2030, 1, 1)).negative_accrual
    assert negative is not None
    assert negative.overuse == Decimal(13)
    assert negative.cause == "authorization_reduction"
    assert negative.event_id == amendment.event_id
    assert negative.period_start == WEEK1
    assert projection.flags[KEY].position == amendment.position


def test_state_known_before_the_amendment_is_the_guide_table():
    history = weekly_example()
    known_at = len(history.events)
    history.add("authorization.amended", authorization_id="L1", units="5")
    before = history.project(until=known_at)
    assert balances(before) == decimals(2, 6, 4, 7)
    assert before.flags == {}
    assert view(before, date(2030, 1, 1)).negative_accrual is None
    assert balances(history.project()) == decimals(-3, -4, -11, -13)


def test_balance_turned_negative_only_in_a_later_period_is_flagged_by_that_event():
    history = weekly_example()
    extra = history.add(
        "visit.confirmed",
        visit_id="extra",
        member_id=MEMBER,
        payer_id="payer-1",
        service_code=CODE,
        service_date=str(day(2, 3)),
        units="6",
    )
    projection = history.project()
    assert balances(projection) == decimals(2, 0, -2, 1)
    assert view(projection, day(2, 0)).negative_accrual is None
    week3 = view(projection, day(3, 0))
    assert week3.accumulated_units == Decimal(0)
    assert week3.negative_accrual is not None
    assert (week3.negative_accrual.overuse, week3.negative_accrual.period_start) == (
        Decimal(2),
        day(3, 0),
    )
    assert (week3.negative_accrual.cause, week3.negative_accrual.event_id) == (
        "overuse",
        extra.event_id,
    )
    assert view(projection, day(4, 0)).negative_accrual is None  # B_4 = 1


# authorization_reduction


def test_shortened_end_date_is_an_authorization_reduction():
    history = weekly_example()
    cut = history.add("authorization.amended", authorization_id="L1", end_date=day(1, 6))
    flag = flag_of(history)
    assert flag is not None
    assert (flag.cause, flag.event_id) == ("authorization_reduction", cut.event_id)


def test_later_start_date_is_an_authorization_reduction():
    history = weekly_example()
    later = history.add("authorization.amended", authorization_id="L1", start_date=day(3, 0))
    flag = flag_of(history)
    assert flag is not None
    assert (flag.cause, flag.event_id) == ("authorization_reduction", later.event_id)


def test_voided_line_is_an_authorization_reduction():
    history = weekly_example()
    history.grant("L2", units=2)
    void = history.add("authorization.voided", authorization_id="L1")
    projection = history.project()
    assert balances(projection) == decimals(-6, -10, -20, -25)
    flag = projection.flags[KEY]
    assert (flag.cause, flag.event_id) == ("authorization_reduction", void.event_id)


def test_reduction_that_keeps_the_balance_non_negative_raises_no_flag():
    history = weekly_example()
    history.add("authorization.amended", authorization_id="L1", units="9")
    projection = history.project()
    assert balances(projection) == decimals(1, 4, 1, 3)
    assert projection.flags == {}


# service_code_removed


def test_removed_service_code_is_its_own_cause():
    history = weekly_example()
    history.grant("L2", units=4, code="G0151")
    history.visit("pt", day(1, 2), 3, code="G0151")
    removal = remove_service_code(history)
    projection = history.project()
    assert [p.authorized for p in projection.result.keys[KEY].periods] == decimals(0, 0, 0, 0)
    assert balances(projection) == decimals(-8, -14, -26, -33)
    flag = projection.flags[KEY]
    assert (flag.cause, flag.event_id) == ("service_code_removed", removal.event_id)
    # the other service code of the same authorization number keeps its units
    assert (NUMBER, "G0151") not in projection.flags
    assert balances(projection, (NUMBER, "G0151")) == decimals(1, 5, 9, 13)


# backdated_confirmation


def test_confirmation_recorded_after_its_period_ended_is_backdated():
    history = weekly_example(History(recorded_from=datetime(2026, 12, 1, tzinfo=UTC)))
    assert flag_of(history) is None
    history.visit("last-month", day(1, 3), 30)
    flag = flag_of(history)
    assert flag is not None
    assert (flag.cause, flag.event_id) == ("backdated_confirmation", history.events[-1].event_id)


def test_confirmation_on_the_last_day_of_its_period_is_overuse():
    history = History(recorded_from=datetime(2026, 10, 10, 23, 50, tzinfo=UTC))  # a Saturday
    history.settings(allow_accumulation=True)
    history.grant()
    history.visit("v", day(1, 3), 12)
    assert history.events[-1].recorded_at.date() == day(1, 6)
    assert flag_of(history) == Flag("overuse", history.events[-1].event_id, 3)


def test_confirmation_on_the_day_after_its_period_is_backdated():
    history = History(recorded_from=datetime(2026, 10, 10, 23, 58, tzinfo=UTC))
    history.settings(allow_accumulation=True)
    history.grant()
    history.visit("v", day(1, 3), 12)
    assert history.events[-1].recorded_at.date() == day(2, 0)
    assert flag_of(history) == Flag("backdated_confirmation", history.events[-1].event_id, 3)


def test_scheduled_in_time_and_confirmed_after_the_period_ended_is_backdated():
    history = History()
    history.settings(allow_accumulation=True)
    history.grant()
    history.visit("v", day(1, 3), 12, status="scheduled")
    assert flag_of(history) is None
    history.clock = datetime(2026, 10, 20, tzinfo=UTC)
    confirmation = history.add("visit.confirmed", visit_id="v")
    flag = flag_of(history)
    assert flag is not None
    assert (flag.cause, flag.event_id) == ("backdated_confirmation", confirmation.event_id)


def test_units_raised_on_a_visit_of_an_ended_period_are_backdated():
    history = weekly_example()
    history.clock = datetime(2026, 11, 2, tzinfo=UTC)
    raise_ = history.add("visit.rescheduled", visit_id="v1", units="20")
    projection = history.project()
    assert balances(projection) == decimals(-10, -6, -8, -5)
    flag = projection.flags[KEY]
    assert (flag.cause, flag.event_id) == ("backdated_confirmation", raise_.event_id)


# overuse


def test_usage_beyond_authorized_and_accumulated_within_its_period_is_overuse():
    history = History()
    history.settings(allow_accumulation=True)
    history.grant()
    history.visit("w1", day(1), 12)  # the guide: authorized 10 a week, used 12
    projection = history.project()
    assert balances(projection)[0] == Decimal(-2)
    flag = projection.flags[KEY]
    assert (flag.cause, flag.event_id) == ("overuse", history.events[-1].event_id)


def test_settings_change_that_turns_the_balance_negative_is_overuse():
    history = weekly_example()
    history.visit("planned", day(1, 3), 5, status="scheduled")
    assert flag_of(history) is None
    change = history.settings(include_scheduled_units=True)
    projection = history.project()
    assert balances(projection) == decimals(-3, 1, -1, 2)
    flag = projection.flags[KEY]
    assert (flag.cause, flag.event_id) == ("overuse", change.event_id)


# the flag's life


def test_flag_is_cleared_when_the_balance_becomes_non_negative_again():
    history = weekly_example()
    history.visit("too-much", day(4, 3), 10)
    assert flag_of(history) is not None
    history.add("visit.cancelled", visit_id="too-much")
    projection = history.project()
    assert balances(projection) == decimals(2, 6, 4, 7)
    assert projection.flags == {}


def test_flag_is_cleared_by_restoring_the_units_and_set_again_with_the_new_cause():
    history = weekly_example()
    history.add("authorization.amended", authorization_id="L1", units="5")
    assert flag_of(history) is not None
    history.add("authorization.amended", authorization_id="L1", units="10")
    assert flag_of(history) is None
    removal = remove_service_code(history)
    assert flag_of(history) == Flag("service_code_removed", removal.event_id, removal.position)


def test_first_cause_is_kept_while_the_key_stays_negative():
    history = weekly_example()
    first = history.add("authorization.amended", authorization_id="L1", units="5")
    history.visit("more", day(2, 3), 4)
    history.add("authorization.voided", authorization_id="L1")
    projection = history.project()
    assert balances(projection) == decimals(-8, -18, -30, -37)
    assert projection.flags[KEY] == Flag("authorization_reduction", first.event_id, first.position)


def test_flags_belong_to_their_own_key():
    history = weekly_example()
    history.grant("L2", units=4, code="G0151")
    history.visit("pt", day(1, 2), 6, code="G0151")
    projection = history.project()
    assert set(projection.flags) == {(NUMBER, "G0151")}
    assert view(projection, day(1, 0)).negative_accrual is None
