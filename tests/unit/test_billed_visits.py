"""accumulation.md 2.11: a billed visit keeps the allocation it had when it was billed.

On the guide's weekly example (tests.unit.builders.weekly_example): 10 units a week from Sunday
2026-10-04 for four weeks, accumulation allowed, visits of 8, 6, 12 and 7 units on the Monday of
each week (v1..v4); balances 2, 6, 4, 7 and week 3's 12 units drawn 10 regular + 2 accumulated.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from contracts.queries import VisitOut
from services.projections.core.accumulation import Allocation, KeyResult
from services.projections.core.explain import explain
from services.projections.core.serialize import member_rows, visit_body
from services.projections.runner import replay
from tests.unit.builders import CODE, MEMBER, NUMBER, WEEK1, History, weekly_example

KEY = (NUMBER, CODE)


def decimals(*values: str | int) -> list[Decimal]:
    return [Decimal(str(value)) for value in values]


def day(week: int, weekday: int = 1):  # type: ignore[no-untyped-def]
    return WEEK1 + timedelta(days=7 * (week - 1) + weekday)


def drawn(allocation: Allocation) -> list[Decimal]:
    return [allocation.regular, allocation.accumulated, allocation.unauthorized]


def key_of(history: History) -> KeyResult:
    return history.project().result.keys[KEY]


def balances(history: History) -> list[Decimal]:
    return [period.balance for period in key_of(history).periods]


def bill(history: History, visit_id: str, claim: str | None = "CLM-1") -> None:
    data = {"visit_id": visit_id}
    if claim is not None:
        data["claim_reference"] = claim
    history.add("visit.billed", **data)


def test_the_issues_case_a_later_visit_in_week_2_does_not_re_split_the_billed_week_3_visit():
    history = weekly_example()
    bill(history, "v3")
    history.visit("late", day(2, 3), 5)  # recorded after the billing, dated in week 2
    result = key_of(history)
    assert drawn(result.visits["v3"]) == decimals(10, 2, 0)  # the bill stands
    # week 2: v2 takes 6 regular, the new visit 4 regular and 1 of the 2 carried in
    assert drawn(result.visits["late"]) == decimals(4, 1, 0)
    # B_k depends only on authorized and used units: as without the billing
    assert balances(history) == decimals(2, 1, -1, 2)
    # what no longer fits shows as the key's negative accrual, not as a changed bill
    week3 = result.periods[2]
    assert [week3.from_regular, week3.from_accumulation, week3.unauthorized] == decimals(10, 2, 0)
    assert result.negative


def test_without_the_billing_the_same_history_re_splits_week_3():
    history = weekly_example()
    history.visit("late", day(2, 3), 5)
    result = key_of(history)
    assert drawn(result.visits["v3"]) == decimals(10, 1, 1)
    assert balances(history) == decimals(2, 1, -1, 2)


def test_billing_changes_neither_a_balance_nor_an_allocation_when_it_is_recorded():
    history = weekly_example()
    before = key_of(history)
    bill(history, "v3")
    after = key_of(history)
    assert after.periods == before.periods
    assert after.visits == before.visits


def test_a_reduction_after_billing_leaves_the_billed_visit_and_takes_from_the_others():
    history = weekly_example()
    bill(history, "v3")
    history.add("authorization.amended", authorization_id="L1", units="8")
    result = key_of(history)
    assert drawn(result.visits["v3"]) == decimals(10, 2, 0)
    assert balances(history) == decimals(0, 2, -2, -1)
    # week 4 carries in -2: its unbilled visit draws 7 of the 8 regular units, nothing carried
    assert drawn(result.visits["v4"]) == decimals(7, 0, 0)
    assert history.project().flags[KEY].cause == "authorization_reduction"


def test_an_earlier_dated_visit_of_the_period_draws_what_the_billed_visit_left():
    history = weekly_example()
    bill(history, "v3")
    history.visit("sunday", day(3, 0), 3)  # before v3's Monday, recorded after its billing
    result = key_of(history)
    assert drawn(result.visits["v3"]) == decimals(10, 2, 0)
    # 0 regular left, 6 - 2 = 4 carried left: 3 accumulated
    assert drawn(result.visits["sunday"]) == decimals(0, 3, 0)
    assert balances(history) == decimals(2, 6, 1, 4)


def test_a_settings_change_after_billing_does_not_re_split_the_billed_visit():
    history = weekly_example()
    bill(history, "v3")
    history.settings(allow_accumulation=False)
    result = key_of(history)
    assert drawn(result.visits["v3"]) == decimals(10, 2, 0)
    assert balances(history) == decimals(2, 4, -2, 3)  # each period stands alone


def test_a_billed_visit_stays_on_the_key_it_was_billed_on():
    history = weekly_example()
    bill(history, "v1")
    # a line of the same payer and code starting later wins the match of unbilled visits (2.2)
    history.grant("L2", number="A-200", units=5, start=day(1, 1), end=day(4, 6))
    projection = history.project()
    assert projection.matches["v1"] == KEY
    assert projection.matches["v2"] == ("A-200", CODE)


def test_an_unauthorized_billed_visit_stays_unauthorized_when_a_line_appears_later():
    history = History()
    history.settings(allow_accumulation=True)
    history.visit("early", day(1), 4)
    bill(history, "early")
    history.grant()
    projection = history.project()
    assert projection.matches["early"] is None
    assert drawn(projection.allocation("early")) == decimals(0, 0, 4)
    assert [p.used for p in projection.result.keys[KEY].periods] == decimals(0, 0, 0, 0)


def test_the_visit_answer_shows_billed_and_the_claim():
    history = weekly_example()
    bill(history, "v3", claim="CLM-77")
    history.visit("late", day(2, 3), 5)
    projection = history.project()
    body = visit_body(projection, "v3")
    assert body["billed"] is True
    assert body["claim_reference"] == "CLM-77"
    assert body["allocation"] == {
        "regular": "10",
        "accumulated": "2",
        "unauthorized": "0",
    }
    unbilled = visit_body(projection, "v2")
    assert "billed" not in unbilled  # stored rows of unbilled visits stay as before 2.11
    assert (
        VisitOut.model_validate({**unbilled, "position": 1}).billed is False
    )  # the answer says false


def test_a_rebuild_from_the_ledger_equals_the_projection_stepped_event_by_event():
    history = weekly_example()
    bill(history, "v3")
    history.visit("late", day(2, 3), 5)
    bill(history, "late")
    history.add("authorization.amended", authorization_id="L1", units="8")
    history.visit("sunday", day(3, 0), 3)
    stepped = history.project()
    rebuilt = replay(MEMBER, history.events)
    assert member_rows(rebuilt) == member_rows(stepped)
    assert drawn(rebuilt.allocation("late")) == decimals(4, 1, 0)


def test_as_known_before_the_billing_the_visit_is_re_split():
    history = weekly_example()
    bill(history, "v3")
    history.visit("late", day(2, 3), 5)
    known_before_billing = len(history.events) - 2
    earlier = history.project(until=known_before_billing)
    assert VisitOut.model_validate({**visit_body(earlier, "v3"), "position": 1}).billed is False
    # the same facts without the billing: the later visit would re-split v3 (the test above)


def test_explain_shows_the_billing_and_the_frozen_allocation():
    history = weekly_example()
    bill(history, "v3", claim="CLM-9")
    history.add("authorization.amended", authorization_id="L1", units="8")
    _, explained = explain(MEMBER, history.events, KEY, day(4))
    words = [entry.description for entry in explained if entry.event.type == "visit.billed"]
    assert words == [
        "bills visit v3 on claim CLM-9: its allocation is frozen at 10 regular, 2 accumulated, "
        "0 unauthorized"
    ]
    billing = next(entry for entry in explained if entry.event.type == "visit.billed")
    assert billing.raw_balance_before == billing.raw_balance_after == Decimal(7)
