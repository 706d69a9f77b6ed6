"""accumulation.md 4.1: the one schedule a claim counts in, claims outside eligibility, and which
schedules and which date an answer shows.

A claim counts in the `schedule_id` it names, else in the member's enrollment of its plan type on
its first line's from-date; where two enrollments of that plan type cover that date a claim
without `schedule_id` is refused. A claim paid while the member was not enrolled is recorded:
it counts in the member's most recent enrollment of the plan type and shows `eligible: false`.
Accumulator rows carry `eligible` (enrolled in that schedule on the effective date). A member with
no eligibility today defaults to the last day of its most recent enrollment.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.ledger.errors import ProblemList
from services.ledger.rules import claim_problems
from services.projections.core.claim_events import (
    ACCUMULATOR_CHANGED,
    changes,
    claim_dates,
    claim_schedules,
    rows_on,
)
from services.projections.core.claim_schedules import (
    Plan,
    claim_schedule,
    default_effective_date,
    plans_on,
    select,
)
from services.projections.core.claims import Enrollment, Schedule, accumulator_rows
from services.projections.core.facts import LedgerEvent, MemberFacts
from tests.unit.test_claims import (
    DEDUCTIBLE,
    MEMBER,
    OUT_OF_POCKET,
    Ledger,
    accumulator,
    applies,
    line,
)

JAN_1 = date(2026, 1, 1)
MAR_2 = date(2026, 3, 2)
COB = accumulator("COB", "cob", 0)


def schedule(schedule_id: str, plan_type: str = "medical", **dates: str) -> Schedule:
    return Schedule.from_json(
        {
            "schedule_id": schedule_id,
            "plan_type": plan_type,
            "effective_date": dates.get("effective", "2026-01-01"),
            **({"termination_date": dates["termination"]} if "termination" in dates else {}),
            "benefit_period": {"type": "calendar_year"},
            "coinsurance_percent": "80",
            "accumulators": [DEDUCTIBLE],
        }
    )


SCHEDULES = {
    "PPO": schedule("PPO"),
    "HMO": schedule("HMO"),
    "DEN": schedule("DEN", "dental"),
    "OLD": schedule("OLD", termination="2026-03-31"),
}


def enrollment(schedule_id: str, start: str, end: str | None, position: int) -> Enrollment:
    return Enrollment(
        MEMBER,
        schedule_id,
        date.fromisoformat(start),
        date.fromisoformat(end) if end else None,
        None,
        position,
    )


# which schedule a claim counts in

# the member: PPO January to June, HMO from March (two medical plans March to June), dental all
# year; never enrolled in OLD (medical, terminated at the end of March)
ENROLLED = [
    enrollment("PPO", "2026-01-01", "2026-06-30", 1),
    enrollment("HMO", "2026-03-01", None, 2),
    enrollment("DEN", "2026-01-01", "2026-12-31", 3),
]


@pytest.mark.parametrize(
    "plan_type, first_day, named, expected",
    [
        ("medical", date(2026, 2, 1), None, "PPO"),  # one medical enrollment that day
        ("medical", date(2026, 7, 1), None, "HMO"),  # PPO ended
        ("medical", date(2026, 3, 1), "HMO", "HMO"),  # two cover it: the claim names one
        ("medical", date(2026, 3, 1), "PPO", "PPO"),
        ("dental", date(2026, 3, 1), None, "DEN"),
        # outside eligibility: the most recent enrollment of the plan type before the date
        ("dental", date(2027, 2, 1), None, "DEN"),
        ("dental", date(2025, 6, 1), None, "DEN"),  # before every one: the first after it
        ("medical", date(2025, 12, 31), None, "PPO"),
        # a named schedule counts even where the member is not enrolled in it
        ("medical", date(2026, 2, 1), "OLD", "OLD"),
    ],
)
def test_the_schedule_a_claim_counts_in(
    plan_type: str, first_day: date, named: str | None, expected: str
) -> None:
    choice = claim_schedule(ENROLLED, SCHEDULES, plan_type, first_day, named)
    assert (choice.schedule_id, choice.problem) == (expected, None)


@pytest.mark.parametrize(
    "plan_type, first_day, named, field, problem",
    [
        (
            "medical",
            date(2026, 3, 1),
            None,
            "schedule_id",
            "enrollments in 2 medical schedules cover 2026-03-01 (PPO, HMO): "
            "name the claim's schedule_id",
        ),
        (
            "medical",
            date(2026, 6, 30),
            None,
            "schedule_id",
            "enrollments in 2 medical schedules cover 2026-06-30 (PPO, HMO): "
            "name the claim's schedule_id",
        ),
        ("medical", date(2026, 2, 1), "NOPE", "schedule_id", "unknown schedule NOPE"),
        (
            "medical",
            date(2026, 2, 1),
            "DEN",
            "schedule_id",
            "schedule DEN is a dental schedule; the claim is medical",
        ),
        (
            "vision",
            date(2026, 2, 1),
            None,
            "plan_type",
            "the member has no vision enrollment: name the claim's schedule_id",
        ),
    ],
)
def test_a_claim_that_must_name_its_schedule(
    plan_type: str, first_day: date, named: str | None, field: str, problem: str
) -> None:
    choice = claim_schedule(ENROLLED, SCHEDULES, plan_type, first_day, named)
    assert (choice.field, choice.problem) == (field, problem)


def test_two_enrollments_in_one_schedule_are_one_schedule() -> None:
    twice = [enrollment("PPO", "2026-01-01", None, 1), enrollment("PPO", "2026-02-01", None, 2)]
    choice = claim_schedule(twice, SCHEDULES, "medical", date(2026, 3, 1), None)
    assert (choice.schedule_id, choice.problem) == ("PPO", None)


def test_a_terminated_schedule_ends_the_enrollment_in_it() -> None:
    # enrolled in OLD without an end, but OLD is terminated at the end of March
    enrolled = [enrollment("OLD", "2026-01-01", None, 1), enrollment("HMO", "2026-06-01", None, 2)]
    assert claim_schedule(enrolled, SCHEDULES, "medical", date(2026, 3, 31), None).schedule_id == (
        "OLD"
    )
    # April and May: no medical enrollment in force; OLD ended last before the date
    assert claim_schedule(enrolled, SCHEDULES, "medical", date(2026, 4, 15), None).schedule_id == (
        "OLD"
    )
    assert claim_schedule(enrolled, SCHEDULES, "medical", date(2026, 6, 1), None).schedule_id == (
        "HMO"
    )


def two_medical_plans() -> Ledger:
    """PPO and HMO, both medical, both enrolled all year."""
    ledger = Ledger()
    ledger.schedule([DEDUCTIBLE, OUT_OF_POCKET], schedule_id="PPO")
    ledger.schedule([DEDUCTIBLE, OUT_OF_POCKET], schedule_id="HMO")
    ledger.enroll("PPO", start=JAN_1)
    ledger.enroll("HMO", start=JAN_1)
    return ledger


def applied_in(facts: MemberFacts, schedule_id: str, day: date = MAR_2) -> dict[str, Decimal]:
    claims = {facts.member_id: list(facts.claims.values())}
    rows = accumulator_rows(facts.schedules[schedule_id], claims, facts.member_id, day)
    return {row.accumulator.code: row.applied for row in rows}


def test_one_claim_counts_in_exactly_one_schedule() -> None:
    ledger = two_medical_plans()
    ledger.adjudicate("c1", line(MAR_2, applies(DED="100", OOP="100")), schedule_id="HMO")
    ledger.adjudicate("c2", line(MAR_2, applies(DED="40")), schedule_id="PPO")
    facts = ledger.facts()
    assert applied_in(facts, "HMO") == {"DED": Decimal("100"), "OOP": Decimal("100")}
    assert applied_in(facts, "PPO") == {"DED": Decimal("40"), "OOP": 0}
    assert facts.claims["c1"].schedule_id == "HMO"


def test_without_schedule_id_two_schedules_refuse_the_claim() -> None:
    facts = two_medical_plans().facts()
    problems = ProblemList()
    data = Ledger().adjudicate("c1", line(MAR_2, applies(DED="1"))).data
    assert claim_problems(facts, 4, dict(data), problems) is None
    [problem] = problems.problems
    assert (problem.index, problem.field) == (4, "data.schedule_id")
    assert "PPO, HMO" in problem.problem

    problems = ProblemList()
    named = Ledger().adjudicate("c1", line(MAR_2, applies(DED="1")), schedule_id="PPO").data
    assert claim_problems(facts, 0, dict(named), problems) == "PPO"
    assert problems.problems == []


def test_the_named_schedule_decides_which_codes_a_line_may_apply() -> None:
    ledger = Ledger()
    ledger.schedule([DEDUCTIBLE], schedule_id="PPO")
    ledger.schedule([OUT_OF_POCKET], schedule_id="HMO")
    ledger.enroll("PPO", start=JAN_1)
    facts = ledger.facts()
    problems = ProblemList()
    data = Ledger().adjudicate("c1", line(MAR_2, applies(DED="1")), schedule_id="HMO").data
    assert claim_problems(facts, 0, dict(data), problems) is None
    [problem] = problems.problems
    assert problem.field == "data.lines.0.applied.0.accumulator_code"
    assert problem.problem == "no accumulator DED in schedule HMO"


def test_a_claim_of_an_older_release_without_schedule_id_folds_into_the_first_recorded() -> None:
    ledger = two_medical_plans()
    ledger.adjudicate("c1", line(MAR_2, applies(DED="100")))  # refused today; folded still
    facts = ledger.facts()
    assert applied_in(facts, "PPO") == {"DED": Decimal("100"), "OOP": 0}
    assert applied_in(facts, "HMO") == {"DED": 0, "OOP": 0}


def test_the_first_from_date_in_date_order_picks_the_schedule() -> None:
    ledger = Ledger()
    ledger.schedule([DEDUCTIBLE], schedule_id="Y2026")
    ledger.schedule([DEDUCTIBLE], schedule_id="Y2027", effective=date(2027, 1, 1))
    ledger.enroll("Y2026", start=JAN_1, end=date(2026, 12, 31))
    ledger.enroll("Y2027", start=date(2027, 1, 1))
    # line 1 is in 2027, line 2 in 2026: the earliest from-date (2026) decides
    ledger.adjudicate(
        "c1",
        line(date(2027, 1, 5), applies(DED="10"), number=1),
        line(date(2026, 12, 30), applies(DED="20"), number=2),
    )
    facts = ledger.facts()
    claim = facts.claims["c1"]
    assert (claim.schedule_id, claim.first_from_date) == ("Y2026", date(2026, 12, 30))
    # the 2027 line counts in Y2026's 2027 period, not in Y2027, and shows outside eligibility
    assert claim.ineligible_lines == {1}
    assert applied_in(facts, "Y2027", date(2027, 3, 1)) == {"DED": 0}
    assert applied_in(facts, "Y2026", date(2027, 3, 1)) == {"DED": Decimal("10")}


def test_an_adjustment_keeps_the_claims_schedule() -> None:
    ledger = Ledger()
    ledger.schedule([DEDUCTIBLE], schedule_id="PPO")
    ledger.schedule([DEDUCTIBLE], schedule_id="HMO")
    ledger.enroll("PPO", start=JAN_1, end=date(2026, 5, 31))
    ledger.enroll("HMO", start=date(2026, 6, 1))
    ledger.adjudicate("c1", line(MAR_2, applies(DED="100")))
    ledger.adjust("c1", line(date(2026, 7, 1), applies(DED="60")))  # now in HMO's months
    facts = ledger.facts()
    assert facts.claims["c1"].schedule_id == "PPO"
    assert applied_in(facts, "PPO") == {"DED": Decimal("60")}
    assert applied_in(facts, "HMO") == {"DED": 0}
    assert facts.claims["c1"].ineligible_lines == {1}


# claims outside eligibility: recorded, counted, eligible false


def ended_in_june() -> Ledger:
    ledger = Ledger()
    ledger.schedule([DEDUCTIBLE, OUT_OF_POCKET], schedule_id="PPO")
    ledger.enroll("PPO", start=JAN_1, end=date(2026, 6, 30))
    return ledger


def test_a_claim_paid_outside_eligibility_counts_in_the_most_recent_enrollment() -> None:
    ledger = ended_in_june()
    ledger.adjudicate("june", line(date(2026, 6, 10), applies(DED="100")))
    ledger.adjudicate("august", line(date(2026, 8, 10), applies(DED="150", OOP="150")))
    facts = ledger.facts()
    august = facts.claims["august"]
    assert (august.schedule_id, august.ineligible_lines) == ("PPO", {1})
    assert facts.claims["june"].ineligible_lines == frozenset()
    # both count in the period they fall in: 2026
    assert applied_in(facts, "PPO", date(2026, 6, 30)) == {
        "DED": Decimal("250"),
        "OOP": Decimal("150"),
    }
    rows = accumulator_rows(
        facts.schedules["PPO"],
        {MEMBER: list(facts.claims.values())},
        MEMBER,
        date(2026, 6, 30),
    )
    ded = next(row for row in rows if row.accumulator.code == "DED")
    assert [(c.claim.claim_id, c.eligible) for c in ded.contributions] == [
        ("june", True),
        ("august", False),
    ]


def test_an_enrollment_recorded_later_makes_the_claim_eligible() -> None:
    ledger = ended_in_june()
    ledger.adjudicate("august", line(date(2026, 8, 10), applies(DED="150")))
    assert ledger.facts().claims["august"].ineligible_lines == {1}
    ledger.enroll("PPO", start=date(2026, 8, 1))  # retroactive
    assert ledger.facts().claims["august"].ineligible_lines == frozenset()
    # a redefinition terminating the schedule before the claim makes it ineligible again
    ledger.schedule([DEDUCTIBLE, OUT_OF_POCKET], schedule_id="PPO", termination=date(2026, 7, 31))
    assert ledger.facts().claims["august"].ineligible_lines == {1}


def test_eligibility_is_judged_per_line() -> None:
    ledger = ended_in_june()
    ledger.adjudicate(
        "c1",
        line(date(2026, 6, 29), applies(DED="10"), number=1),
        line(date(2026, 7, 2), applies(DED="20"), number=2),
    )
    claim = ledger.facts().claims["c1"]
    assert (claim.schedule_id, claim.ineligible_lines) == ("PPO", {2})


def test_a_claim_outside_eligibility_changes_its_schedules_rows() -> None:
    ledger = ended_in_june()
    facts = ledger.facts()
    event = ledger.adjudicate("august", line(date(2026, 8, 10), applies(DED="150")))
    assert claim_schedules(facts, event) == {"PPO"}
    changed, _ = step(facts, event)
    assert [(kind, d["schedule_id"], d["code"], d["current"]) for kind, d in changed] == [
        (ACCUMULATOR_CHANGED, "PPO", "DED", {"applied": "150.00", "remaining": "350.00"})
    ]


def step(facts: MemberFacts, event: LedgerEvent) -> tuple[list[tuple[str, dict]], list]:
    schedule_ids = claim_schedules(facts, event)
    days = claim_dates(facts, event)
    before = rows_on(facts, schedule_ids, days, {})
    facts.apply(event)
    return changes(facts.member_id, before, rows_on(facts, schedule_ids, days, {}), event)


def test_a_claim_naming_one_of_two_schedules_changes_only_that_one() -> None:
    ledger = two_medical_plans()
    facts = ledger.facts()
    event = ledger.adjudicate("c1", line(MAR_2, applies(DED="5")), schedule_id="HMO")
    changed, _ = step(facts, event)
    assert {d["schedule_id"] for _, d in changed} == {"HMO"}


# which schedules an answer shows


def test_plans_enrolled_first_then_those_claimed_outside_eligibility() -> None:
    ledger = ended_in_june()
    ledger.schedule([DEDUCTIBLE], schedule_id="DEN", plan_type="dental")
    ledger.enroll("DEN", start=JAN_1)
    ledger.adjudicate("august", line(date(2026, 8, 10), applies(DED="150")))
    ledger.adjudicate(
        "pending", line(date(2026, 8, 11), applies(DED="1")), status="pending"
    )  # counts nowhere: no plan of its own
    facts = ledger.facts()
    claims = list(facts.claims.values())

    def shown(day: date) -> list[tuple[str, bool]]:
        found = plans_on(facts.enrollments, facts.schedules, claims, day)
        return [(plan.schedule.schedule_id, plan.eligible) for plan in found]

    assert shown(date(2026, 5, 1)) == [("PPO", True), ("DEN", True)]
    assert shown(date(2026, 9, 1)) == [("DEN", True), ("PPO", False)]  # the August claim
    assert shown(date(2027, 9, 1)) == [("DEN", True)]  # no PPO claim in 2027


def plan(schedule_id: str, eligible: bool = True) -> Plan:
    return Plan(SCHEDULES[schedule_id], eligible, None)


@pytest.mark.parametrize(
    "plans, plan_types, expected",
    [
        # default: the first eligible medical plan, else the first eligible plan
        ([plan("DEN"), plan("PPO"), plan("HMO")], (), ["PPO"]),
        ([plan("DEN"), plan("PPO", False)], (), ["DEN"]),
        ([plan("DEN", False), plan("PPO", False)], (), ["PPO"]),
        ([plan("DEN", False)], (), ["DEN"]),
        ([], (), []),
        # one or several plan types: the first plan of each, in the plans' order
        ([plan("DEN"), plan("PPO"), plan("HMO")], ("dental",), ["DEN"]),
        ([plan("DEN"), plan("PPO"), plan("HMO")], ("medical", "dental"), ["DEN", "PPO"]),
        ([plan("DEN"), plan("PPO")], ("medical", "vision"), ["PPO"]),
        ([plan("DEN")], ("vision",), []),
    ],
)
def test_select_plan_types(
    plans: list[Plan], plan_types: tuple[str, ...], expected: list[str]
) -> None:
    chosen = select(plans, plan_types)
    assert [p.schedule.schedule_id for p in chosen] == expected


def test_select_one_schedule_or_all() -> None:
    plans = [plan("DEN"), plan("PPO"), plan("HMO", False)]
    assert [p.schedule.schedule_id for p in select(plans, schedule_id="HMO")] == ["HMO"]
    assert select(plans, all_plans=True) == plans


# the default effective date


@pytest.mark.parametrize(
    "today, plan_types, expected",
    [
        (date(2026, 5, 1), (), date(2026, 5, 1)),  # eligible today
        (date(2027, 5, 1), (), date(2027, 5, 1)),  # HMO is open-ended
        (date(2027, 5, 1), ("dental",), date(2026, 12, 31)),  # dental ended
        (date(2026, 8, 1), ("dental",), date(2026, 8, 1)),
        (date(2025, 5, 1), (), date(2025, 5, 1)),  # only future enrollments: today
        (date(2027, 5, 1), ("vision",), date(2027, 5, 1)),  # no such plan: today
    ],
)
def test_default_effective_date(today: date, plan_types: tuple[str, ...], expected: date) -> None:
    assert default_effective_date(ENROLLED, SCHEDULES, today, plan_types) == expected


def test_default_effective_date_is_the_last_day_of_the_most_recent_enrollment() -> None:
    ended = [
        enrollment("PPO", "2024-01-01", "2024-12-31", 1),
        enrollment("HMO", "2026-01-01", "2026-03-15", 2),
        enrollment("OLD", "2026-01-01", None, 3),  # OLD is terminated on 2026-03-31
    ]
    assert default_effective_date(ended, SCHEDULES, date(2026, 9, 1)) == date(2026, 3, 31)
    assert default_effective_date(ended, SCHEDULES, date(2026, 9, 1), schedule_id="HMO") == (
        date(2026, 3, 15)
    )
