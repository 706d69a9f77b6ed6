"""accumulation.md 2.7: why a balance went negative."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.unit.builders import CODE, NUMBER, WEEK1, History, weekly_example

KEY = (NUMBER, CODE)


def flag_of(history: History):
    return history.project().flags.get(KEY)


def test_shortened_end_date_is_an_authorization_reduction():
    history = weekly_example()
    cut = history.add(
        "authorization.amended", authorization_id="L1", end_date=str(WEEK1 + timedelta(days=6))
    )
    flag = flag_of(history)
    assert (flag.cause, flag.event_id) == ("authorization_reduction", cut.event_id)


def test_later_start_is_an_authorization_reduction():
    history = weekly_example()
    history.add(
        "authorization.amended", authorization_id="L1", start_date=str(WEEK1 + timedelta(days=14))
    )
    assert flag_of(history).cause == "authorization_reduction"


def test_void_is_an_authorization_reduction():
    history = weekly_example()
    history.add("authorization.voided", authorization_id="L1")
    assert flag_of(history).cause == "authorization_reduction"


def test_removed_service_code():
    history = weekly_example()
    removal = history.add(
        "authorization.service_removed",
        member_id="m-1",
        authorization_number=NUMBER,
        service_code=CODE,
    )
    flag = flag_of(history)
    assert (flag.cause, flag.event_id) == ("service_code_removed", removal.event_id)
    assert [p.authorized for p in history.project().result.keys[KEY].periods] == [0, 0, 0, 0]


def test_confirmation_recorded_after_its_period_ended_is_backdated():
    history = weekly_example(History(recorded_from=datetime(2026, 12, 1, tzinfo=UTC)))
    history.visit("big", WEEK1 + timedelta(days=1), 30)
    assert flag_of(history).cause == "backdated_confirmation"


def test_confirmation_within_its_period_is_overuse():
    history = weekly_example(History(recorded_from=datetime(2026, 10, 1, tzinfo=UTC)))
    history.visit("big", WEEK1 + timedelta(days=1), 30)
    assert flag_of(history).cause == "overuse"


def test_flag_is_cleared_when_the_balance_recovers_and_set_again_with_a_new_cause():
    history = weekly_example()
    history.add("authorization.amended", authorization_id="L1", units="5")
    assert flag_of(history) is not None
    history.add("authorization.amended", authorization_id="L1", units="10")
    assert flag_of(history) is None
    history.add(
        "authorization.service_removed",
        member_id="m-1",
        authorization_number=NUMBER,
        service_code=CODE,
    )
    assert flag_of(history).cause == "service_code_removed"


def test_first_cause_is_kept_while_the_key_stays_negative():
    history = weekly_example()
    first = history.add("authorization.amended", authorization_id="L1", units="5")
    history.add("authorization.amended", authorization_id="L1", units="4")
    assert flag_of(history).event_id == first.event_id
