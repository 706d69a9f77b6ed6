"""accumulation.md 2.10: the exceeding-accumulation report's reasons.

As of a date, a key needs review with the first reason that applies:
- `negative_accrual`: shown 0 because B_k < 0 (overuse = -B_k, the flag's cause and event);
- `zero_balance`: shown 0 with B_k = 0 (the guide's "units equal 0");
- `past_overuse`: positive now, but a period up to the date had unauthorized units (an overdraw
  that later recovered stays visible); `period_start` names the first such period.

On the guide's key with 6 more units in week 2 (B = 2, 0, -2, 1; rules 2.7):

| as of | B_k | reason | overuse | cause | period_start |
| --- | --- | --- | --- | --- | --- |
| week 1 | 2 | (not listed) | | | |
| week 2 | 0 | zero_balance | 0 | null | null |
| week 3 | -2 | negative_accrual | 2 | overuse | 2026-10-18 |
| week 4 | 1 | past_overuse | 2 | overuse | 2026-10-18 |
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.projections.core.views import Review, key_view, review
from tests.unit.builders import CODE, NUMBER, WEEK1, History, weekly_example

KEY = (NUMBER, CODE)


def day(week: int, weekday: int = 1) -> date:
    return WEEK1 + timedelta(days=7 * (week - 1) + weekday)


def review_of(history: History, as_of: date) -> Review | None:
    projection = history.project()
    flag = projection.flags.get(KEY)
    return review(key_view(projection.key_result(KEY), flag, as_of), flag)


def recovered() -> History:
    history = weekly_example()
    history.visit("more", day(2, 3), 6)
    return history


def test_a_positive_key_that_never_overdrew_is_not_listed():
    assert review_of(weekly_example(), day(4)) is None


def test_an_overdraw_that_later_recovered_stays_visible_as_past_overuse():
    history = recovered()
    found = review_of(history, day(4))
    assert found == Review("past_overuse", Decimal(2), "overuse", "e7", day(3, 0))
    assert history.events[-1].event_id == "e7"  # the visit of 6 more units turned week 3


def test_a_negative_key_is_listed_as_negative_accrual_with_its_flag():
    found = review_of(recovered(), day(3))
    assert found == Review("negative_accrual", Decimal(2), "overuse", "e7", day(3, 0))


def test_a_key_at_exactly_zero_is_listed_even_without_overuse():
    """Week 2 ends at 0; the key's flag is about week 3, later than the date: no cause yet."""
    found = review_of(recovered(), day(2))
    assert found == Review("zero_balance", Decimal(0), None, None, None)


def test_a_key_used_up_exactly_in_its_first_period_is_zero_balance():
    history = History()
    history.settings(allow_accumulation=True)
    history.grant()
    history.visit("all", day(1), 10)
    assert review_of(history, day(1)) == Review("zero_balance", Decimal(0), None, None, None)
    assert review_of(history, day(2)) is None  # week 2 grants 10 more


def test_the_guides_reduction_is_negative_accrual_from_the_first_week():
    history = weekly_example()
    reduction = history.add("authorization.amended", authorization_id="L1", units="5")
    found = review_of(history, date(2026, 10, 31))
    assert found == Review(
        "negative_accrual", Decimal(13), "authorization_reduction", reduction.event_id, WEEK1
    )


@pytest.mark.parametrize("as_of", [WEEK1 - timedelta(days=1), date(2026, 1, 1)])
def test_a_key_is_not_listed_before_its_first_period(as_of: date):
    history = History()
    history.settings(allow_accumulation=True)
    history.grant(units=0)
    assert review_of(history, as_of) is None
    assert review_of(history, WEEK1) == Review("zero_balance", Decimal(0), None, None, None)


def test_after_the_last_period_the_key_keeps_its_last_reason():
    history = recovered()
    assert review_of(history, date(2027, 3, 1)) == review_of(history, day(4))
