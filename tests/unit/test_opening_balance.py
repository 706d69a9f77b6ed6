"""Opening balances (rules 2.17): a key continues from another system's B_k."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from services.ledger.errors import ProblemList
from services.ledger.rules import check_event
from services.projections.core.accumulation import compute_member
from services.projections.core.explain import explain
from services.projections.core.views import key_view
from tests.unit.builders import CODE, MEMBER, NUMBER, PAYER, WEEK1, History

KEY = (NUMBER, CODE)


def opening(history: History, balance: str, as_of: date = WEEK1 + timedelta(days=10)) -> None:
    history.add(
        "accumulation.opening_balance",
        member_id=MEMBER,
        payer_id=PAYER,
        authorization_number=NUMBER,
        service_code=CODE,
        as_of=as_of,
        balance=balance,
        source="previous system",
    )


def example(balance: str) -> History:
    """Weekly 10 from Sunday 4 October, accumulating; own visits of 3 in week 2 and 4 in week 3."""
    history = History()
    history.settings(allow_accumulation=True)
    history.grant()
    history.visit("v1", WEEK1 + timedelta(days=8), 3)  # week 2: in the opening's figure
    history.visit("v2", WEEK1 + timedelta(days=15), 4)  # week 3
    opening(history, balance)  # as of Wednesday of week 2
    return history


def balances(history: History) -> list[Decimal]:
    return [p.balance for p in history.project().key_result(KEY).periods]


def test_the_balance_continues_from_the_opening_figure():
    # week 1: 10; week 2 closes at the opening's 6 whatever its own visit used; week 3: 6+10-4
    assert balances(example("6")) == [10, 6, 12, 22]
    projection = example("6").project()
    assert projection.result == compute_member(projection.facts)
    week2 = projection.key_result(KEY).periods[1]
    assert (week2.used, week2.from_regular) == (3, 3)  # the visit's own draw is kept


def test_a_negative_opening_is_negative_accrual_until_it_recovers():
    history = example("-3")
    assert balances(history) == [10, -3, 3, 13]
    projection = history.project()
    assert projection.flags[KEY].cause == "overuse"
    view = key_view(projection.key_result(KEY), projection.flags.get(KEY), WEEK1 + timedelta(9))
    assert view.negative_accrual is not None and view.negative_accrual.overuse == 3


def test_a_later_opening_of_the_key_replaces_the_earlier_one():
    history = example("6")
    opening(history, "1", as_of=WEEK1 + timedelta(days=15))  # week 3 closes at 1
    assert balances(history) == [10, 17, 1, 11]


def test_known_at_before_the_opening_answers_the_ledgers_own_balance():
    history = example("6")
    assert [p.balance for p in history.project(until=4).key_result(KEY).periods] == [
        10,
        17,
        23,
        33,
    ]


def test_explain_lists_the_opening_with_its_effect():
    history = example("6")
    _, explained = explain(MEMBER, history.events, KEY, WEEK1 + timedelta(days=16))
    last = explained[-1]
    assert last.event.type == "accumulation.opening_balance"
    assert (last.raw_balance_before, last.raw_balance_after) == (23, 12)
    assert "opens the balance at 6" in last.description


def test_an_opening_for_an_unknown_key_or_another_payer_is_refused():
    history = History()
    history.grant()
    facts = history.project().facts
    data = {
        "member_id": MEMBER,
        "payer_id": PAYER,
        "authorization_number": NUMBER,
        "service_code": "G0151",
        "as_of": "2026-10-14",
        "balance": "6",
        "source": "x",
    }
    problems = ProblemList()
    check_event(facts, 0, "accumulation.opening_balance", data, problems)
    [problem] = problems.problems
    assert problem.field == "data.service_code" and "G0151" in problem.problem
    problems = ProblemList()
    other_payer = {**data, "service_code": CODE, "payer_id": "payer-2"}
    check_event(facts, 0, "accumulation.opening_balance", other_payer, problems)
    [problem] = problems.problems
    assert problem.field == "data.payer_id"
