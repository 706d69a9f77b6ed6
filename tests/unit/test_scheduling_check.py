"""accumulation.md 2.8: the scheduling check.

A proposed visit is checked against its key's state with every known visit: available = regular
units left in its period + accumulation carried in, max(0, B_(k-1)), not yet drawn, and never more
than what later periods leave: min(max(0, B_j)) over every later period j > k that has usage (the
guide's "For Past Weeks"). Short by any unit gives `insufficient_units` with the shortfall.

In the guide's weekly example (10 a week; used 8, 6, 12, 7; B = 2, 6, 4, 7) that is:

| week | regular left | carried in | drawn from it | later periods leave | available |
| --- | --- | --- | --- | --- | --- |
| 1 | 2 | 0 | 0 | min(6, 4, 7) = 4 | 2 |
| 2 | 4 | 2 | 0 | min(4, 7) = 4 | 4 (4 regular + 0) |
| 3 | 0 | 6 | 2 | 7 | 4 |
| 4 | 3 | 4 | 0 | - | 7 |
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.projections.core.views import CheckResult, scheduling_check
from tests.unit.builders import CODE, NUMBER, PAYER, WEEK1, History, weekly_example

KEY = (NUMBER, CODE)


def decimals(*values: str | int) -> list[Decimal]:
    return [Decimal(str(value)) for value in values]


def day(week: int, weekday: int = 1) -> date:
    """A date of the example's grid: week 1..n, weekday 0 = Sunday .. 6 = Saturday."""
    return WEEK1 + timedelta(days=7 * (week - 1) + weekday)


def check(
    history: History,
    service_date: date,
    units: str | int,
    number: str | None = None,
    payer: str = PAYER,
    code: str = CODE,
) -> CheckResult:
    projection = history.project()
    return scheduling_check(projection, payer, code, service_date, Decimal(str(units)), number)


def available(result: CheckResult) -> list[Decimal]:
    return [result.available_regular, result.available_accumulated, result.available_total]


def allocation(result: CheckResult) -> list[Decimal]:
    return [result.regular, result.accumulated, result.shortfall]


def warning_codes(result: CheckResult) -> list[str]:
    return [warning["code"] for warning in result.warnings]


@pytest.mark.parametrize(
    ("week", "regular", "accumulated"),
    [(1, 2, 0), (2, 4, 0), (3, 0, 4), (4, 3, 4)],
)
def test_available_is_regular_left_plus_accumulation_carried_in_capped_by_later_periods(
    week: int, regular: int, accumulated: int
):
    result = check(weekly_example(), day(week, 4), 1)
    assert result.key == KEY
    assert available(result) == decimals(regular, accumulated, regular + accumulated)


def test_proposed_visit_beyond_the_available_units_gets_insufficient_units_with_the_shortfall():
    result = check(weekly_example(), day(4, 4), 9)
    assert allocation(result) == decimals(3, 4, 2)
    assert warning_codes(result) == ["insufficient_units"]
    assert Decimal(result.warnings[0]["shortfall"]) == Decimal(2)
    assert result.warnings[0]["message"]


def test_proposed_visit_within_the_available_units_has_no_warning():
    result = check(weekly_example(), day(4, 4), 7)
    assert allocation(result) == decimals(3, 4, 0)
    assert result.warnings == []


def test_proposed_visit_draws_regular_units_before_accumulated_ones():
    result = check(weekly_example(), day(4, 4), "4.5")
    assert allocation(result) == decimals("3", "1.5", "0")


def test_short_by_a_fraction_of_a_unit_is_insufficient():
    result = check(weekly_example(), day(1, 4), "2.25")
    assert allocation(result) == decimals("2", "0", "0.25")
    assert warning_codes(result) == ["insufficient_units"]
    assert Decimal(result.warnings[0]["shortfall"]) == Decimal("0.25")


def test_negative_balance_carried_in_gives_no_accumulated_units():
    history = weekly_example()
    history.add("authorization.amended", authorization_id="L1", units="5")  # B = -3, -4, ...
    result = check(history, day(2, 4), 1)
    assert available(result) == decimals(0, 0, 0)
    assert allocation(result) == decimals(0, 0, 1)
    assert warning_codes(result) == ["insufficient_units"]


def test_without_allow_accumulation_only_regular_units_are_available():
    history = History()
    history.grant()
    for week, used in zip((1, 2, 3, 4), (8, 6, 12, 7), strict=True):
        history.visit(f"v{week}", day(week), used)
    result = check(history, day(4, 4), 5)
    assert available(result) == decimals(3, 0, 3)
    assert allocation(result) == decimals(3, 0, 2)
    assert warning_codes(result) == ["insufficient_units"]


def test_scheduled_visits_reduce_the_available_units_with_include_scheduled_units():
    history = weekly_example()
    history.visit("planned", day(4, 3), 5, status="scheduled")
    assert available(check(history, day(4, 4), 1)) == decimals(3, 4, 7)
    history.settings(include_scheduled_units=True)
    assert available(check(history, day(4, 4), 1)) == decimals(0, 2, 2)


def test_every_known_visit_of_the_period_counts_also_those_on_later_dates():
    history = weekly_example()
    history.visit("saturday", day(4, 6), 2)
    result = check(history, day(4, 2), 1)  # Tuesday, before the Saturday visit
    assert available(result) == decimals(1, 4, 5)


def test_after_the_last_period_only_the_accumulation_carried_out_of_it_is_available():
    history = weekly_example()
    result = check(history, day(6), 8, number=NUMBER)
    assert result.key == KEY
    assert available(result) == decimals(0, 7, 7)
    assert allocation(result) == decimals(0, 7, 1)


def test_before_the_first_period_nothing_is_available():
    result = check(weekly_example(), day(-1), 2, number=NUMBER)
    assert result.key == KEY
    assert available(result) == decimals(0, 0, 0)
    assert allocation(result) == decimals(0, 0, 2)


def test_voided_line_keeps_its_key_but_has_nothing_available():
    history = weekly_example()
    history.add("authorization.voided", authorization_id="L1")
    result = check(history, day(4, 4), 1)
    assert result.key == KEY
    assert available(result) == decimals(0, 0, 0)
    assert warning_codes(result) == ["insufficient_units"]


@pytest.mark.parametrize(
    ("service_date", "number"),
    [
        (day(6), None),  # no line covers the date
        (day(2), "NOPE"),  # no line of that number
    ],
)
def test_no_matching_authorization_where_the_member_has_a_line_for_payer_and_code(
    service_date: date, number: str | None
):
    result = check(weekly_example(), service_date, 2, number=number)
    assert result.key is None
    assert available(result) == decimals(0, 0, 0)
    assert allocation(result) == decimals(0, 0, 2)
    assert "no_authorization" in warning_codes(result)
    insufficient = [w for w in result.warnings if w["code"] == "insufficient_units"]
    assert [Decimal(w["shortfall"]) for w in insufficient] == [Decimal(2)]


# section 3, "Warnings only where a rule applies" (decision): a visit that matches no
# authorization gets `no_authorization` (and `insufficient_units`) only when the member has some
# line with that payer for that service code, or the payer's `authorization_required` lists the
# code (or is "all"). A clinic tracking visit limits alone sees no authorization warnings.


@pytest.mark.parametrize(
    ("payer", "code"),
    [
        ("payer-2", CODE),  # another payer: the member has no line with it
        (PAYER, "G0151"),  # another service code: no line for it
    ],
)
def test_no_warning_where_no_authorization_rule_applies(payer: str, code: str):
    result = check(weekly_example(), day(2), 2, payer=payer, code=code)
    assert result.key is None
    assert allocation(result) == decimals(0, 0, 0)
    assert result.warnings == []


def test_a_clinic_tracking_visit_limits_alone_sees_no_authorization_warnings():
    history = History()
    history.add(
        "benefit.limit_defined",
        benefit_id="B-1",
        member_id="m-1",
        payer_id=PAYER,
        benefit_code="PT",
        service_codes=["97110"],
        limit="20",
        unit="visits",
        period={"type": "calendar_year"},
    )
    result = check(history, day(1), 1, code="97110")
    assert (result.key, result.shortfall, result.warnings) == (None, Decimal(0), [])


@pytest.mark.parametrize("required", [["97110"], "all"])
def test_the_payers_authorization_required_setting_brings_the_warnings_back(
    required: list[str] | str,
):
    history = History()
    history.settings(authorization_required=required)
    result = check(history, day(1), 1, code="97110")
    assert warning_codes(result) == ["no_authorization", "insufficient_units"]
    assert allocation(result) == decimals(0, 0, 1)
    assert warning_codes(check(history, day(1), 1, code="97112")) == (
        ["no_authorization", "insufficient_units"] if required == "all" else []
    )


def test_authorization_required_for_other_codes_only_or_cleared_asks_nothing():
    history = History()
    history.settings(authorization_required=["G0151"])
    assert check(history, day(1), 1, code="97110").warnings == []
    history.settings(authorization_required="all")
    history.settings(authorization_required=[])
    assert check(history, day(1), 1, code="97110").warnings == []


def test_a_voided_line_of_the_payer_and_code_still_makes_the_rule_apply():
    history = History()
    history.grant()
    history.add("authorization.voided", authorization_id="L1")
    result = check(history, day(8), 1)  # after the line's dates: matches no key
    assert result.key is None
    assert warning_codes(result) == ["no_authorization", "insufficient_units"]


def test_the_check_stores_nothing():
    history = weekly_example()
    projection = history.project()
    before = projection.result.keys[KEY].periods
    scheduling_check(projection, PAYER, CODE, day(4, 4), Decimal(50), None)
    assert projection.result.keys[KEY].periods == before
    assert set(projection.facts.visits) == {"v1", "v2", "v3", "v4"}


def test_a_visit_scheduled_beyond_the_check_is_recorded_and_shows_as_overuse():
    history = weekly_example()
    history.settings(include_scheduled_units=True)
    proposed = check(history, day(4, 4), 9)
    override = {"by": "supervisor-1", "reason": "clinically necessary"}
    history.add(
        "visit.scheduled",
        visit_id="beyond",
        member_id="m-1",
        payer_id=PAYER,
        service_code=CODE,
        service_date=day(4, 4),
        units="9",
        override=override,
    )
    projection = history.project()
    recorded = projection.result.keys[KEY].visits["beyond"]
    assert [recorded.regular, recorded.accumulated] == [proposed.regular, proposed.accumulated]
    assert recorded.unauthorized == proposed.shortfall == Decimal(2)
    assert projection.facts.visits["beyond"].override == override
    assert projection.result.keys[KEY].periods[-1].balance == Decimal(-2)


# a span key is one period from the earliest to the latest line or matched visit date (2.3): a
# visit outside the lines' dates stretches that one period, so it draws the span's regular units


def span_history(allow_accumulation: bool) -> History:
    history = History()
    history.settings(allow_accumulation=allow_accumulation)
    history.grant(units=40, start=date(2026, 10, 5), end=date(2026, 11, 30), frequency="span")
    history.visit("used", date(2026, 10, 20), 10)
    return history


@pytest.mark.parametrize("allow_accumulation", [False, True])
def test_span_key_inside_its_dates_has_the_regular_units_left(allow_accumulation: bool):
    result = check(span_history(allow_accumulation), date(2026, 11, 1), 5)
    assert available(result) == decimals(30, 0, 30)
    assert result.warnings == []


@pytest.mark.parametrize("allow_accumulation", [False, True])
def test_span_key_after_its_end_offers_the_span_regular_units_the_visit_would_draw(
    allow_accumulation: bool,
):
    history = span_history(allow_accumulation)
    late = date(2027, 1, 10)
    result = check(history, late, 5, number=NUMBER)
    history.visit("late", late, 5, number=NUMBER)
    recorded = history.project().result.keys[KEY].visits["late"]
    assert [recorded.regular, recorded.accumulated, recorded.unauthorized] == decimals(5, 0, 0)
    assert available(result) == decimals(30, 0, 30)
    assert allocation(result) == decimals(5, 0, 0)
    assert result.warnings == []


@pytest.mark.parametrize("allow_accumulation", [False, True])
def test_span_key_before_its_start_offers_the_span_regular_units_the_visit_would_draw(
    allow_accumulation: bool,
):
    history = span_history(allow_accumulation)
    early = date(2026, 9, 1)
    result = check(history, early, 5, number=NUMBER)
    history.visit("early", early, 5, number=NUMBER)
    recorded = history.project().result.keys[KEY].visits["early"]
    assert [recorded.regular, recorded.accumulated, recorded.unauthorized] == decimals(5, 0, 0)
    assert available(result) == decimals(30, 0, 30)
    assert allocation(result) == decimals(5, 0, 0)
    assert result.warnings == []


# 2.8 "For Past Weeks": units a later period already drew from the accumulation are not offered
# again to a past one. Week 2 has 4 regular left + 2 carried = 6, but week 3 leaves only 4.


def test_past_week_offers_no_more_than_the_later_weeks_leave():
    result = check(weekly_example(), day(2, 4), 5)
    assert available(result) == decimals(4, 0, 4)
    assert allocation(result) == decimals(4, 0, 1)
    assert warning_codes(result) == ["insufficient_units"]
    assert Decimal(result.warnings[0]["shortfall"]) == Decimal(1)


def test_past_week_proposal_within_the_cap_has_no_warning():
    result = check(weekly_example(), day(2, 4), 4)
    assert allocation(result) == decimals(4, 0, 0)
    assert result.warnings == []


def balances(history: History) -> list[Decimal]:
    return [period.balance for period in history.project().result.keys[KEY].periods]


def split(history: History, visit_id: str) -> list[Decimal]:
    allocation_ = history.project().result.keys[KEY].visits[visit_id]
    return [allocation_.regular, allocation_.accumulated, allocation_.unauthorized]


def test_recording_what_the_check_offers_leaves_the_later_weeks_as_they_were():
    """4 units in week 2 (what the check offers): B = 2, 2, 0, 3; week 3's visit keeps its
    10 regular + 2 accumulated, nothing turns negative."""
    history = weekly_example()
    history.visit("extra", day(2, 4), 4)
    assert balances(history) == decimals(2, 2, 0, 3)
    assert split(history, "extra") == decimals(4, 0, 0)
    assert split(history, "v3") == decimals(10, 2, 0)
    assert not history.project().flags


def test_recording_beyond_the_offer_shows_as_overuse_in_the_later_week_by_2_6():
    """5 units in week 2 (one beyond the offer) are recorded all the same (the ledger records
    facts). By 2.6 week 2 carries only 1 into week 3, so week 3's 12 units are 10 regular +
    1 accumulated + 1 unauthorized; B = 2, 1, -1, 2, flagged `overuse` by the new visit."""
    history = weekly_example()
    history.visit("extra", day(2, 4), 5)
    projection = history.project()
    assert balances(history) == decimals(2, 1, -1, 2)
    assert split(history, "v2") == decimals(6, 0, 0)
    assert split(history, "extra") == decimals(4, 1, 0)
    assert split(history, "v3") == decimals(10, 1, 1)
    assert split(history, "v4") == decimals(7, 0, 0)
    flag = projection.flags[KEY]
    assert (flag.cause, flag.event_id) == ("overuse", history.events[-1].event_id)


def test_a_later_week_already_overdrawn_leaves_nothing_to_a_past_one():
    history = weekly_example()
    history.visit("extra", day(3, 4), 5)  # B = 2, 6, -1, 2
    result = check(history, day(1, 4), 1)
    assert available(result) == decimals(0, 0, 0)
    assert allocation(result) == decimals(0, 0, 1)
    assert warning_codes(result) == ["insufficient_units"]


def test_later_weeks_without_usage_do_not_cap():
    history = History()
    history.settings(allow_accumulation=True)
    history.grant()
    history.visit("v1", day(1), 8)  # B = 2, 12, 22, 32; no usage after week 1
    assert available(check(history, day(1, 4), 1)) == decimals(2, 0, 2)
    history.visit("v3", day(3), 21)  # B = 2, 12, 1, 11: week 3 leaves 1
    assert available(check(history, day(2, 4), 1)) == decimals(1, 0, 1)
    assert available(check(history, day(1, 4), 1)) == decimals(1, 0, 1)


def test_without_accumulation_later_weeks_do_not_cap_a_past_one():
    history = History()
    history.grant()
    for week, used in zip((1, 2, 3, 4), (8, 6, 12, 7), strict=True):
        history.visit(f"v{week}", day(week), used)
    assert available(check(history, day(2, 4), 1)) == decimals(4, 0, 4)
