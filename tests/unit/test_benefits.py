"""accumulation.md 3: benefit limits.

A limit counts, per benefit period (calendar year, plan year, anniversary or lifetime, each
resetting on its start date), the member's own confirmed visits of its service codes with its
payer plus what other providers used as the payer reported it. A verification says `used` as of
a date: from that date the figure is the reported one plus own visits after it, and own visits
on or before it exceeding the reported figure raise `reconciliation`. Remaining never shows
below 0, exhaustion is flagged. Thresholds (default 80% and 100%) are judged per period.
Eligibility is a separate fact: coverage periods, both ends included.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.projections.core.benefits import (
    DEFAULT_THRESHOLDS,
    BenefitStatus,
    Limit,
    PeriodRule,
    Usage,
    Verification,
    benefit_status,
    crossed,
    period_totals,
)
from services.projections.core.facts import LedgerEvent, MemberFacts

MEMBER = "m1"
PAYER = "payer-1"
OTHER_PAYER = "payer-2"
CODE = "97110"
OTHER_CODE = "97112"
BENEFIT = "b1"
CALENDAR_YEAR = {"type": "calendar_year"}
RECORDED = datetime(2026, 1, 1, tzinfo=UTC)


def decimals(*values: str | int) -> list[Decimal]:
    return [Decimal(str(value)) for value in values]


def limit_of(
    limit: str | int = 30,
    unit: str = "visits",
    period: dict[str, Any] | None = None,
    thresholds: tuple[Decimal, ...] = DEFAULT_THRESHOLDS,
) -> Limit:
    return Limit(
        benefit_id=BENEFIT,
        member_id=MEMBER,
        payer_id=PAYER,
        benefit_code="PT",
        service_codes=frozenset({CODE}),
        limit=Decimal(str(limit)),
        unit=unit,
        period=PeriodRule.from_json(period or CALENDAR_YEAR),
        thresholds=thresholds,
    )


def usage(visit_id: str, day: date, amount: str | int = 1) -> Usage:
    return Usage(visit_id, day, CODE, Decimal(str(amount)))


def daily(prefix: str, first: date, count: int) -> list[Usage]:
    """`count` own visits of 1 on consecutive days from `first`."""
    return [usage(f"{prefix}{n}", first + timedelta(days=n), 1) for n in range(count)]


def verified(as_of: date, used: str | int, position: int = 1) -> Verification:
    return Verification(f"ver{position}", position, as_of, Decimal(str(used)), "payer portal")


def status(
    usages: list[Usage],
    as_of: date,
    verifications: list[Verification] | None = None,
    limit: Limit | None = None,
) -> BenefitStatus:
    return benefit_status(limit or limit_of(), usages, verifications or [], as_of)


def ids(usages: tuple[Usage, ...]) -> list[str]:
    return [u.visit_id for u in usages]


# 3: periods reset on their start date


@pytest.mark.parametrize(
    "period, day, start, end",
    [
        # calendar year, either side of 1 January
        (CALENDAR_YEAR, date(2026, 12, 31), date(2026, 1, 1), date(2026, 12, 31)),
        (CALENDAR_YEAR, date(2027, 1, 1), date(2027, 1, 1), date(2027, 12, 31)),
        # plan year from 1 July
        (
            {"type": "plan_year", "start_month": 7, "start_day": 1},
            date(2026, 6, 30),
            date(2025, 7, 1),
            date(2026, 6, 30),
        ),
        (
            {"type": "plan_year", "start_month": 7, "start_day": 1},
            date(2026, 7, 1),
            date(2026, 7, 1),
            date(2027, 6, 30),
        ),
        # anniversary of 15 March 2024
        (
            {"type": "anniversary", "anchor_date": "2024-03-15"},
            date(2026, 3, 14),
            date(2025, 3, 15),
            date(2026, 3, 14),
        ),
        (
            {"type": "anniversary", "anchor_date": "2024-03-15"},
            date(2026, 3, 15),
            date(2026, 3, 15),
            date(2027, 3, 14),
        ),
    ],
    ids=[
        "calendar-last-day",
        "calendar-reset-day",
        "plan-year-last-day",
        "plan-year-reset-day",
        "anniversary-last-day",
        "anniversary-reset-day",
    ],
)
def test_a_period_resets_on_its_start_date(
    period: dict[str, Any], day: date, start: date, end: date
):
    assert PeriodRule.from_json(period).period_of(day) == (start, end)


LEAP_DAY_PERIODS: list[dict[str, Any]] = [
    {"type": "plan_year", "start_month": 2, "start_day": 29},
    {"type": "anniversary", "anchor_date": "2024-02-29"},
]


@pytest.mark.parametrize("period", LEAP_DAY_PERIODS, ids=["plan-year", "anniversary"])
@pytest.mark.parametrize(
    "day, start, end",
    [
        (date(2027, 2, 27), date(2026, 2, 28), date(2027, 2, 27)),
        (date(2027, 2, 28), date(2027, 2, 28), date(2028, 2, 28)),
        (date(2028, 2, 28), date(2027, 2, 28), date(2028, 2, 28)),
        (date(2028, 2, 29), date(2028, 2, 29), date(2029, 2, 27)),
    ],
    ids=["2027-02-27", "2027-02-28", "2028-02-28", "2028-02-29"],
)
def test_a_period_from_29_february_starts_on_28_february_in_common_years(
    period: dict[str, Any], day: date, start: date, end: date
):
    assert PeriodRule.from_json(period).period_of(day) == (start, end)


def test_a_leap_day_period_ends_the_day_before_the_next_reset_every_year():
    rule = PeriodRule.from_json(LEAP_DAY_PERIODS[0])
    for year in range(2025, 2034):
        start, end = rule.period_of(date(year, 6, 1))
        assert start is not None and end is not None
        assert start.month == 2 and start.day == (29 if year % 4 == 0 else 28)
        assert end + timedelta(days=1) == rule.period_of(end + timedelta(days=1))[0]


def test_an_anniversary_period_before_the_anchor_runs_backwards():
    rule = PeriodRule.from_json({"type": "anniversary", "anchor_date": "2024-03-15"})
    assert rule.period_of(date(2023, 6, 1)) == (date(2023, 3, 15), date(2024, 3, 14))
    assert rule.period_of(date(2024, 3, 14)) == (date(2023, 3, 15), date(2024, 3, 14))


@pytest.mark.parametrize("day", [date(1990, 1, 1), date(2026, 12, 31), date(2099, 6, 15)])
def test_a_lifetime_has_no_period_bounds(day: date):
    assert PeriodRule.from_json({"type": "lifetime"}).period_of(day) == (None, None)


# 3: used and remaining


def test_used_counts_own_visits_of_the_period_up_to_as_of():
    usages = [
        usage("last-year", date(2025, 12, 31)),
        usage("a", date(2026, 3, 1)),
        usage("b", date(2026, 3, 15)),
        usage("after", date(2026, 3, 16)),
    ]
    result = status(usages, date(2026, 3, 15))
    assert (result.period_start, result.period_end) == (date(2026, 1, 1), date(2026, 12, 31))
    assert result.used == Decimal(2)
    assert result.remaining == Decimal(28)
    assert not result.exhausted
    assert not result.reconciliation
    assert result.verification is None
    assert ids(result.visits) == ["a", "b"]
    assert result.counted == {"a", "b"}


def test_nothing_used_leaves_the_whole_limit():
    result = status([], date(2026, 5, 1))
    assert (result.used, result.remaining, result.exhausted) == (Decimal(0), Decimal(30), False)
    assert result.visits == () and result.verifications == ()


def test_the_reset_day_starts_from_zero():
    usages = daily("v", date(2026, 12, 1), 31)  # every day of December 2026
    assert status(usages, date(2026, 12, 31)).used == Decimal(31)
    after = status(usages, date(2027, 1, 1))
    assert (after.used, after.remaining, after.exhausted) == (Decimal(0), Decimal(30), False)


@pytest.mark.parametrize(
    "visits, used, remaining, exhausted",
    [
        (29, 29, 1, False),
        (30, 30, 0, True),
        (31, 31, 0, True),
    ],
    ids=["one-under", "exactly-at-the-limit", "one-over"],
)
def test_remaining_never_goes_below_zero_and_exhaustion_is_flagged(
    visits: int, used: int, remaining: int, exhausted: bool
):
    result = status(daily("v", date(2026, 2, 1), visits), date(2026, 6, 30))
    assert result.used == Decimal(used)
    assert result.remaining == Decimal(remaining)
    assert result.exhausted is exhausted


# 3: cross-provider verification

D = date(2026, 6, 15)


def test_a_verification_includes_own_visits_up_to_its_date_and_adds_those_after():
    usages = [
        usage("before", date(2026, 6, 1)),
        usage("on", D),
        usage("after1", date(2026, 6, 20)),
        usage("after2", date(2026, 6, 25)),
    ]
    check = verified(D, 10)
    result = status(usages, date(2026, 6, 30), [check])
    assert result.used == Decimal(12)
    assert result.remaining == Decimal(18)
    assert result.verification == check
    assert result.counted == {"after1", "after2"}
    assert ids(result.visits) == ["before", "on", "after1", "after2"]
    assert result.verifications == (check,)
    assert not result.reconciliation


def test_a_verification_takes_effect_on_its_date():
    usages = [usage("before", date(2026, 6, 1)), usage("on", D)]
    result = status(usages, D, [verified(D, 10)])
    assert result.used == Decimal(10)
    assert result.counted == frozenset()


def test_a_verification_is_not_in_effect_before_its_date():
    usages = [usage("before", date(2026, 6, 1)), usage("on", D)]
    result = status(usages, D - timedelta(days=1), [verified(D, 10)])
    assert result.used == Decimal(1)
    assert result.verification is None
    assert result.verifications == ()
    assert result.counted == {"before"}


def test_own_visits_exceeding_the_verified_figure_raise_reconciliation():
    usages = [
        usage("a", date(2026, 6, 1)),
        usage("b", date(2026, 6, 10)),
        usage("c", D),
        usage("later", date(2026, 6, 20)),
    ]
    result = status(usages, date(2026, 6, 30), [verified(D, 2)])
    assert result.reconciliation
    assert result.used == Decimal(3)  # the reported 2 plus the one visit after it
    assert result.counted == {"later"}


def test_own_visits_equal_to_the_verified_figure_need_no_reconciliation():
    usages = [usage("a", date(2026, 6, 1)), usage("b", D)]
    result = status(usages, date(2026, 6, 30), [verified(D, 2)])
    assert not result.reconciliation
    assert result.used == Decimal(2)


def test_a_verification_of_the_previous_period_does_not_apply_after_the_reset():
    check = verified(date(2026, 12, 1), 25)
    usages = [usage("dec", date(2026, 12, 10)), usage("jan", date(2027, 1, 5))]
    before = status(usages, date(2026, 12, 31), [check])
    assert before.used == Decimal(26)
    after = status(usages, date(2027, 1, 10), [check])
    assert after.used == Decimal(1)
    assert after.verification is None
    assert after.verifications == ()
    assert not after.reconciliation


def test_the_latest_verification_by_date_is_in_effect_whatever_the_recording_order():
    later = verified(D, 8, position=1)
    earlier = verified(date(2026, 6, 1), 5, position=2)  # recorded after, dated before
    usages = [usage("between", date(2026, 6, 10)), usage("after", date(2026, 6, 20))]
    result = status(usages, date(2026, 6, 30), [later, earlier])
    assert result.verification == later
    assert result.used == Decimal(9)
    assert result.counted == {"after"}
    assert result.verifications == (earlier, later)


def test_an_earlier_verification_is_in_effect_until_the_next_one_is_dated():
    first = verified(date(2026, 6, 1), 5, position=1)
    second = verified(D, 8, position=2)
    usages = [usage("between", date(2026, 6, 10))]
    result = status(usages, date(2026, 6, 12), [first, second])
    assert result.verification == first
    assert result.used == Decimal(6)
    assert result.counted == {"between"}


def test_verifications_of_the_same_date_are_ordered_by_position():
    recorded_last = verified(D, 7, position=7)
    recorded_first = verified(D, 4, position=3)
    result = status([], date(2026, 6, 30), [recorded_last, recorded_first])
    assert result.verification == recorded_last
    assert result.used == Decimal(7)


# 3: units and amount


def test_a_units_limit_counts_each_visits_units():
    usages = [
        usage("a", date(2026, 3, 1), "1.5"),
        usage("b", date(2026, 3, 2), "2"),
        usage("c", date(2026, 3, 3), "0.25"),
    ]
    result = status(usages, date(2026, 3, 31), limit=limit_of(10, "units"))
    assert result.used == Decimal("3.75")
    assert result.remaining == Decimal("6.25")


def test_an_amount_limit_uses_only_what_verifications_report():
    limit = limit_of("1000.00", "amount")
    usages = [usage("a", date(2026, 3, 1), 0), usage("b", date(2026, 5, 1), 0)]
    assert status(usages, date(2026, 3, 31), limit=limit).used == Decimal(0)
    result = status(usages, date(2026, 6, 30), [verified(date(2026, 4, 1), "250.50")], limit)
    assert result.used == Decimal("250.50")
    assert result.remaining == Decimal("749.50")


# 3: thresholds, judged per period


@pytest.mark.parametrize(
    "visits, expected",
    [(7, []), (8, ["0.8"]), (10, ["0.8", "1.0"]), (12, ["0.8", "1.0"])],
)
def test_thresholds_crossed_in_a_period(visits: int, expected: list[str]):
    totals = period_totals(limit_of(10), daily("v", date(2026, 4, 1), visits), [])
    assert len(totals) == 1
    assert totals[0].as_of == date(2026, 12, 31)
    assert totals[0].used == Decimal(visits)
    assert crossed(totals[0]) == decimals(*expected)


def test_each_period_is_judged_at_its_own_end():
    usages = daily("a", date(2026, 11, 1), 8) + daily("b", date(2027, 2, 1), 3)
    totals = period_totals(limit_of(10), usages, [])
    assert [(t.period_start, t.as_of) for t in totals] == [
        (date(2026, 1, 1), date(2026, 12, 31)),
        (date(2027, 1, 1), date(2027, 12, 31)),
    ]
    assert [t.used for t in totals] == decimals(8, 3)
    assert [crossed(t) for t in totals] == [decimals("0.8"), []]


def test_a_verification_alone_makes_a_period_with_use():
    totals = period_totals(limit_of(10), [], [verified(date(2026, 9, 1), 9)])
    assert len(totals) == 1
    assert totals[0].used == Decimal(9)
    assert crossed(totals[0]) == decimals("0.8")


@pytest.mark.parametrize("visits, expected", [(4, []), (5, ["0.5"]), (10, ["0.5"])])
def test_custom_thresholds(visits: int, expected: list[str]):
    limit = limit_of(10, thresholds=(Decimal("0.5"),))
    totals = period_totals(limit, daily("v", date(2026, 4, 1), visits), [])
    assert crossed(totals[0]) == decimals(*expected)


def test_a_lifetime_limit_is_one_period_over_all_years():
    limit = limit_of(10, period={"type": "lifetime"})
    usages = daily("a", date(2020, 5, 1), 4) + daily("b", date(2026, 5, 1), 5)
    totals = period_totals(limit, usages, [])
    assert len(totals) == 1
    assert (totals[0].period_start, totals[0].period_end) == (None, None)
    assert totals[0].used == Decimal(9)
    assert crossed(totals[0]) == decimals("0.8")


# MemberFacts: the ledger's events folded in


def fold(*events: tuple[str, dict[str, Any]]) -> MemberFacts:
    facts = MemberFacts(MEMBER)
    for position, (type_, data) in enumerate(events, start=1):
        recorded = RECORDED + timedelta(minutes=position)
        facts.apply(LedgerEvent(position, f"e{position}", type_, data, recorded))
    return facts


def defined(**changes: Any) -> tuple[str, dict[str, Any]]:
    data: dict[str, Any] = {
        "benefit_id": BENEFIT,
        "member_id": MEMBER,
        "payer_id": PAYER,
        "benefit_code": "PT",
        "service_codes": [CODE, OTHER_CODE],
        "limit": "30",
        "unit": "visits",
        "period": {"type": "plan_year", "start_month": 7, "start_day": 1},
    }
    return ("benefit.limit_defined", {**data, **changes})


def visit(
    visit_id: str,
    day: date,
    *after: str,
    code: str = CODE,
    payer: str = PAYER,
    units: str = "1",
) -> list[tuple[str, dict[str, Any]]]:
    """visit.scheduled, then visit.<each of after> (confirmed, cancelled, missed)."""
    data = {
        "visit_id": visit_id,
        "member_id": MEMBER,
        "payer_id": payer,
        "service_code": code,
        "service_date": day.isoformat(),
        "units": units,
    }
    return [("visit.scheduled", data)] + [(f"visit.{s}", {"visit_id": visit_id}) for s in after]


def coverage(kind: str, day: date, payer: str = PAYER) -> tuple[str, dict[str, Any]]:
    return (f"coverage.{kind}", {"member_id": MEMBER, "payer_id": payer, "date": day.isoformat()})


def test_a_defined_limit_is_folded_in():
    facts = fold(defined())
    assert facts.benefits[BENEFIT] == Limit(
        benefit_id=BENEFIT,
        member_id=MEMBER,
        payer_id=PAYER,
        benefit_code="PT",
        service_codes=frozenset({CODE, OTHER_CODE}),
        limit=Decimal(30),
        unit="visits",
        period=PeriodRule("plan_year", 7, 1),
        thresholds=DEFAULT_THRESHOLDS,
    )


def test_a_limit_defined_with_thresholds_keeps_them():
    facts = fold(defined(thresholds=["0.5", "0.9"]))
    assert facts.benefits[BENEFIT].thresholds == tuple(decimals("0.5", "0.9"))


def test_usages_count_only_confirmed_visits_of_the_limits_payer_and_codes():
    day = date(2026, 8, 3)
    facts = fold(
        defined(),
        *visit("own", day, "confirmed"),
        *visit("other-covered-code", day, "confirmed", code=OTHER_CODE),
        *visit("scheduled-only", day),
        *visit("cancelled", day, "cancelled"),
        *visit("missed", day, "missed"),
        *visit("confirmed-then-cancelled", day, "confirmed", "cancelled"),
        *visit("other-payer", day, "confirmed", payer=OTHER_PAYER),
        *visit("other-code", day, "confirmed", code="99999"),
    )
    usages = facts.usages(facts.benefits[BENEFIT])
    assert sorted(u.visit_id for u in usages) == ["other-covered-code", "own"]
    assert all(u.amount == Decimal(1) and u.service_date == day for u in usages)


def test_a_visit_confirmed_without_being_scheduled_counts():
    day = date(2026, 8, 3)
    data = visit("direct", day)[0][1]
    facts = fold(defined(), ("visit.confirmed", data))
    assert [u.visit_id for u in facts.usages(facts.benefits[BENEFIT])] == ["direct"]


@pytest.mark.parametrize(
    "unit, expected",
    [("visits", ["1", "1"]), ("units", ["1.5", "4"]), ("amount", ["0", "0"])],
)
def test_usages_use_what_the_limits_unit_counts(unit: str, expected: list[str]):
    facts = fold(
        defined(unit=unit),
        *visit("a", date(2026, 8, 3), "confirmed", units="1.5"),
        *visit("b", date(2026, 8, 4), "confirmed", units="4"),
    )
    usages = sorted(facts.usages(facts.benefits[BENEFIT]), key=lambda u: u.visit_id)
    assert [u.amount for u in usages] == decimals(*expected)


def test_an_amended_limit_changes_limit_and_thresholds_and_keeps_the_rest():
    facts = fold(
        defined(),
        ("benefit.limit_amended", {"benefit_id": BENEFIT, "limit": "40", "thresholds": ["0.5"]}),
    )
    before = fold(defined()).benefits[BENEFIT]
    after = facts.benefits[BENEFIT]
    assert after.limit == Decimal(40)
    assert after.thresholds == (Decimal("0.5"),)
    assert (
        after.benefit_id,
        after.member_id,
        after.payer_id,
        after.benefit_code,
        after.service_codes,
        after.unit,
        after.period,
    ) == (
        before.benefit_id,
        before.member_id,
        before.payer_id,
        before.benefit_code,
        before.service_codes,
        before.unit,
        before.period,
    )


def test_an_amendment_of_the_limit_alone_keeps_the_thresholds():
    facts = fold(
        defined(thresholds=["0.6", "0.9"]),
        ("benefit.limit_amended", {"benefit_id": BENEFIT, "limit": "12"}),
    )
    assert facts.benefits[BENEFIT].limit == Decimal(12)
    assert facts.benefits[BENEFIT].thresholds == tuple(decimals("0.6", "0.9"))


def test_a_folded_verification_counts_in_the_status():
    facts = fold(
        defined(),
        *visit("before", date(2026, 8, 3), "confirmed"),
        (
            "benefit.usage_verified",
            {
                "benefit_id": BENEFIT,
                "as_of": "2026-08-10",
                "used": "6",
                "source": "payer portal",
                "reference": "REF-1",
            },
        ),
        *visit("after", date(2026, 8, 12), "confirmed"),
    )
    [check] = facts.verifications[BENEFIT]
    assert check == Verification("e4", 4, date(2026, 8, 10), Decimal(6), "payer portal", "REF-1")
    limit = facts.benefits[BENEFIT]
    checks = facts.verifications[BENEFIT]
    result = benefit_status(limit, facts.usages(limit), checks, date(2026, 9, 1))
    assert (result.period_start, result.period_end) == (date(2026, 7, 1), date(2027, 6, 30))
    assert result.used == Decimal(7)
    assert result.counted == {"after"}


def test_coverage_includes_both_ends():
    days = [date(2025, 12, 31), date(2026, 1, 1), date(2026, 6, 30), date(2026, 7, 1)]
    facts = fold(
        coverage("started", date(2026, 1, 1)),
        coverage("ended", date(2026, 6, 30)),
        *[event for n, day in enumerate(days) for event in visit(f"v{n}", day)],
    )
    assert [facts.eligible(facts.visits[f"v{n}"]) for n in range(len(days))] == [
        False,
        True,
        True,
        False,
    ]


def test_open_coverage_covers_every_day_from_its_start():
    facts = fold(
        coverage("started", date(2026, 1, 1)),
        *visit("before", date(2025, 12, 31)),
        *visit("later", date(2030, 1, 1)),
    )
    assert not facts.eligible(facts.visits["before"])
    assert facts.eligible(facts.visits["later"])


def test_without_coverage_facts_for_the_payer_every_visit_is_eligible():
    facts = fold(
        coverage("started", date(2026, 1, 1), payer=OTHER_PAYER),
        coverage("ended", date(2026, 1, 31), payer=OTHER_PAYER),
        *visit("mine", date(2020, 5, 5)),
        *visit("theirs", date(2020, 5, 5), payer=OTHER_PAYER),
    )
    assert facts.eligible(facts.visits["mine"])
    assert not facts.eligible(facts.visits["theirs"])
    no_facts = fold(*visit("any", date(1999, 1, 1)))
    assert no_facts.coverage == {}
    assert no_facts.eligible(no_facts.visits["any"])


def test_coverage_ended_and_started_again_leaves_the_gap_uncovered():
    days = [date(2026, 3, 31), date(2026, 4, 15), date(2026, 5, 1)]
    facts = fold(
        coverage("started", date(2026, 1, 1)),
        coverage("ended", date(2026, 3, 31)),
        coverage("started", date(2026, 5, 1)),
        *[event for n, day in enumerate(days) for event in visit(f"v{n}", day)],
    )
    assert [facts.eligible(facts.visits[f"v{n}"]) for n in range(len(days))] == [
        True,
        False,
        True,
    ]


def test_periods_at_the_edges_of_the_calendar_stay_inside_it():
    calendar_year = PeriodRule.from_json({"type": "calendar_year"})
    assert calendar_year.period_of(date(9999, 6, 1)) == (date(9999, 1, 1), date.max)
    july = PeriodRule.from_json({"type": "plan_year", "start_month": 7, "start_day": 1})
    assert july.period_of(date(1, 1, 1)) == (date.min, date(1, 6, 30))
    assert july.period_of(date(9999, 8, 1)) == (date(9999, 7, 1), date.max)
