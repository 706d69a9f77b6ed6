"""accumulation.md 3, rolling and episode periods (docs/rules.md "Rolling and episode periods").

`{"type": "rolling", "days": N}` counts the N days ending on `as_of` ("20 visits in any 90
days"): `remaining` is what may still be used on that date and `period` is that window.
`{"type": "episode", "days": N}` opens a period at the first counted visit, lasting N days; the
next opens at the first counted visit after it ends. A date in no episode answers used 0, the
period a visit on it would open, `open` false (decision).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.projections.core.alerts import threshold_alerts
from services.projections.core.benefits import (
    Limit,
    PeriodRule,
    Usage,
    Verification,
    benefit_status,
    episodes,
    period_totals,
    rolling_since,
    window_of,
)
from services.projections.core.facts import LedgerEvent, MemberFacts

CODE = "97110"
ROLLING_90 = {"type": "rolling", "days": 90}
EPISODE_30 = {"type": "episode", "days": 30}


def limit_of(limit: int, period: dict[str, Any]) -> Limit:
    return Limit(
        benefit_id="b1",
        member_id="m1",
        payer_id="payer-1",
        benefit_code="PT",
        service_codes=frozenset({CODE}),
        limit=Decimal(limit),
        unit="visits",
        period=PeriodRule.from_json(period),
    )


def daily(prefix: str, first: date, count: int) -> list[Usage]:
    return [
        Usage(f"{prefix}{n}", first + timedelta(days=n), CODE, Decimal(1)) for n in range(count)
    ]


def on(*days: date) -> list[Usage]:
    return [Usage(f"v{n}", day, CODE, Decimal(1)) for n, day in enumerate(days)]


def verified(as_of: date, used: int, position: int = 1) -> Verification:
    return Verification(f"ver{position}", position, as_of, Decimal(used), "payer portal")


# "20 visits in any 90 days": 10 visits 2026-01-05..14 and 10 visits 2026-03-01..10
TWENTY_IN_90 = daily("jan", date(2026, 1, 5), 10) + daily("mar", date(2026, 3, 1), 10)


def test_a_rolling_window_is_the_n_days_ending_on_as_of():
    rule = PeriodRule.from_json(ROLLING_90)
    assert rule.period_of(date(2026, 3, 10)) == (date(2025, 12, 11), date(2026, 3, 10))
    assert rule.period_of(date(2026, 4, 4)) == (date(2026, 1, 5), date(2026, 4, 4))
    assert PeriodRule.from_json({"type": "rolling", "days": 1}).period_of(date(2026, 5, 1)) == (
        date(2026, 5, 1),
        date(2026, 5, 1),
    )


def test_twenty_visits_in_any_90_days():
    """| as_of | window | used | remaining |: visits slide out one a day from 2026-04-05."""
    limit = limit_of(20, ROLLING_90)
    table = [
        (date(2026, 1, 14), date(2025, 10, 17), 10, 10, False),
        (date(2026, 3, 10), date(2025, 12, 11), 20, 0, True),
        (date(2026, 4, 4), date(2026, 1, 5), 20, 0, True),
        (date(2026, 4, 5), date(2026, 1, 6), 19, 1, False),
        (date(2026, 4, 14), date(2026, 1, 15), 10, 10, False),
        (date(2026, 6, 9), date(2026, 3, 12), 0, 20, False),
    ]
    for as_of, start, used, remaining, exhausted in table:
        status = benefit_status(limit, TWENTY_IN_90, [], as_of)
        assert (status.period_start, status.period_end) == (start, as_of)
        assert (status.used, status.remaining, status.exhausted) == (
            Decimal(used),
            Decimal(remaining),
            exhausted,
        ), as_of


def test_a_rolling_verification_counts_while_its_date_is_in_the_window():
    """Verified 15 as of 2026-03-05 (our own 10 + 5 of that window: no reconciliation)."""
    limit = limit_of(20, ROLLING_90)
    verification = [verified(date(2026, 3, 5), 15)]
    expected = [
        (date(2026, 3, 4), 14, None),  # not in effect yet: own visits of the window
        (date(2026, 3, 10), 20, verification[0]),  # 15 + the 5 own visits after it
        (date(2026, 6, 2), 20, verification[0]),  # its date is still in the window
        (date(2026, 6, 3), 5, None),  # slid out: the own visits of 03-06..03-10 remain
    ]
    for as_of, used, in_effect in expected:
        status = benefit_status(limit, TWENTY_IN_90, verification, as_of)
        assert status.used == Decimal(used), as_of
        assert status.verification == in_effect
        assert not status.reconciliation


def test_rolling_reconciliation_compares_the_verifications_own_window():
    """Verified 8 as of 2026-03-01: its window holds 11 own visits (10 in January + 03-01)."""
    limit = limit_of(20, ROLLING_90)
    status = benefit_status(limit, TWENTY_IN_90, [verified(date(2026, 3, 1), 8)], date(2026, 3, 3))
    assert status.reconciliation
    assert status.used == Decimal(10)  # 8 + 03-02 and 03-03


def test_episodes_open_at_the_first_visit_and_the_next_after_one_ends():
    visits = [date(2026, 2, 2), date(2026, 2, 10), date(2026, 3, 3), date(2026, 3, 4)]
    visits.append(date(2026, 4, 10))
    assert episodes(30, visits) == [
        (date(2026, 2, 2), date(2026, 3, 3)),
        (date(2026, 3, 4), date(2026, 4, 2)),
        (date(2026, 4, 10), date(2026, 5, 9)),
    ]


EPISODE_VISITS = on(
    date(2026, 2, 2),
    date(2026, 2, 10),
    date(2026, 2, 20),
    date(2026, 3, 3),  # day 30 of the first episode
    date(2026, 3, 4),  # opens the second
    date(2026, 4, 10),  # opens the third, after a gap
)


def test_an_episode_limit_as_of_dates_in_and_between_episodes():
    """| as_of | period | open | used |"""
    limit = limit_of(12, EPISODE_30)
    table = [
        (date(2026, 2, 1), (date(2026, 2, 1), date(2026, 3, 2)), False, 0),  # before any
        (date(2026, 2, 15), (date(2026, 2, 2), date(2026, 3, 3)), True, 2),
        (date(2026, 3, 3), (date(2026, 2, 2), date(2026, 3, 3)), True, 4),
        (date(2026, 3, 4), (date(2026, 3, 4), date(2026, 4, 2)), True, 1),
        (date(2026, 4, 5), (date(2026, 4, 5), date(2026, 5, 4)), False, 0),  # between
        (date(2026, 4, 10), (date(2026, 4, 10), date(2026, 5, 9)), True, 1),
    ]
    for as_of, period, is_open, used in table:
        status = benefit_status(limit, EPISODE_VISITS, [], as_of)
        assert (status.period_start, status.period_end) == period, as_of
        assert status.open is is_open
        assert status.used == Decimal(used)
        assert status.remaining == Decimal(12 - used)


def test_a_verification_counts_in_the_episode_holding_its_date_only():
    limit = limit_of(12, EPISODE_30)
    inside = verified(date(2026, 2, 15), 5)  # 2 own visits by then: others used 3
    between = verified(date(2026, 4, 5), 9, position=2)  # in no episode: counts nowhere
    status = benefit_status(limit, EPISODE_VISITS, [inside, between], date(2026, 3, 1))
    assert status.used == Decimal(6)  # 5 + the visit of 02-20
    assert not status.reconciliation
    assert benefit_status(limit, EPISODE_VISITS, [inside, between], date(2026, 4, 5)).used == 0
    later = benefit_status(limit, EPISODE_VISITS, [inside, between], date(2026, 4, 10))
    assert (later.used, later.verification) == (Decimal(1), None)


def test_an_episode_verification_below_own_visits_raises_reconciliation():
    limit = limit_of(12, EPISODE_30)
    status = benefit_status(
        limit, EPISODE_VISITS, [verified(date(2026, 2, 25), 1)], date(2026, 3, 2)
    )
    assert status.reconciliation  # 3 own visits by 02-25, the payer reported 1


def test_the_episode_window_ignores_visits_after_the_date():
    rule = PeriodRule.from_json(EPISODE_30)
    window = window_of(rule, EPISODE_VISITS, date(2026, 1, 31))
    assert (window.start, window.end, window.open) == (date(2026, 1, 31), date(2026, 3, 1), False)


def test_episode_totals_judge_each_episode_at_its_end():
    limit = limit_of(4, EPISODE_30)
    totals = period_totals(limit, EPISODE_VISITS, [verified(date(2026, 4, 5), 9)])
    assert [(t.period_start, t.used) for t in totals] == [
        (date(2026, 2, 2), Decimal(4)),
        (date(2026, 3, 4), Decimal(1)),
        (date(2026, 4, 10), Decimal(1)),
    ]


def test_a_rolling_threshold_run_starts_where_the_window_first_reached_it():
    """10 visits in any 7 days, one a day 2026-05-01..05-20: 0.5 (5 visits) is first reached
    on 05-05 and stays reached while the visits go on and until 05-22 (05-16..05-22 holds 5);
    on 05-23 the window holds 4 and the run is over."""
    limit = limit_of(10, {"type": "rolling", "days": 7})
    visits = daily("d", date(2026, 5, 1), 20)  # through 05-20
    half = Decimal("0.5")
    assert rolling_since(limit, visits, [], half, date(2026, 5, 4)) is None
    assert rolling_since(limit, visits, [], half, date(2026, 5, 5)) == date(2026, 5, 5)
    assert rolling_since(limit, visits, [], half, date(2026, 5, 20)) == date(2026, 5, 5)
    assert rolling_since(limit, visits, [], half, date(2026, 5, 22)) == date(2026, 5, 5)
    assert rolling_since(limit, visits, [], half, date(2026, 5, 23)) is None


# alerts: the rolling window is judged on the recorded day, once per run


def fold_events(
    events: list[tuple[str, dict[str, Any], datetime]],
) -> tuple[MemberFacts, LedgerEvent]:
    facts = MemberFacts("m1")
    last = None
    for position, (type_, data, recorded) in enumerate(events, start=1):
        last = LedgerEvent(position, f"e{position}", type_, data, recorded)
        facts.apply(last)
    assert last is not None
    return facts, last


def confirmed(visit_id: str, day: date) -> tuple[str, dict[str, Any], datetime]:
    data = {
        "visit_id": visit_id,
        "member_id": "m1",
        "payer_id": "payer-1",
        "service_code": CODE,
        "service_date": day.isoformat(),
        "units": "1",
    }
    return ("visit.confirmed", data, datetime.combine(day, datetime.min.time(), UTC))


def definition(period: dict[str, Any], limit: str = "4") -> tuple[str, dict[str, Any], datetime]:
    data = {
        "benefit_id": "b1",
        "member_id": "m1",
        "payer_id": "payer-1",
        "benefit_code": "PT",
        "service_codes": [CODE],
        "limit": limit,
        "unit": "visits",
        "period": period,
        "thresholds": ["1"],
    }
    return ("benefit.limit_defined", data, datetime(2026, 1, 1, tzinfo=UTC))


def test_a_rolling_alert_names_the_run_and_judges_the_window_ending_on_the_recorded_day():
    """4 visits in any 10 days: 4 visits 05-01..05-04 reach 1.0 on 05-04; on 05-14 they have
    slid out; 4 more from 06-01 reach it again: a second run, a second alert scope."""
    first = [confirmed(f"a{n}", date(2026, 5, 1 + n)) for n in range(4)]
    facts, event = fold_events([definition({"type": "rolling", "days": 10}), *first])
    alerts = threshold_alerts(facts, event)
    assert [a.scope for a in alerts] == ["2026-05-04:1"]
    assert alerts[0].data["period"] == {"start": "2026-04-25", "end": "2026-05-04"}
    late = [confirmed(f"b{n}", date(2026, 6, 1 + n)) for n in range(4)]
    facts, event = fold_events([definition({"type": "rolling", "days": 10}), *first, *late])
    assert [a.scope for a in threshold_alerts(facts, event)] == ["2026-06-04:1"]


def test_a_backdated_visit_alerts_only_when_todays_window_reaches_the_threshold():
    backdated = [confirmed(f"a{n}", date(2026, 5, 1 + n)) for n in range(4)]
    recorded_late = [(t, d, datetime(2026, 5, 20, tzinfo=UTC)) for t, d, _ in backdated]
    facts, event = fold_events([definition({"type": "rolling", "days": 10}), *recorded_late])
    assert threshold_alerts(facts, event) == []


def test_an_episode_alert_is_scoped_by_the_episode():
    visits = [confirmed(f"a{n}", date(2026, 5, 1 + 7 * n)) for n in range(4)]
    facts, event = fold_events([definition(EPISODE_30), *visits])
    alerts = threshold_alerts(facts, event)
    assert [a.scope for a in alerts] == ["2026-05-01:1"]
    assert alerts[0].data["period"] == {"start": "2026-05-01", "end": "2026-05-30"}
