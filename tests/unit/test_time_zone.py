"""accumulation.md section 3, "Today is the tenant's local date": a tenant setting `time_zone`
(IANA name, default UTC) decides the tenant's "today" wherever the rules need one.

Sunday 2026-10-11 01:30 UTC is Saturday 2026-10-10 21:30 in New York (UTC-4 in October):

| rule | UTC tenant | America/New_York tenant |
| --- | --- | --- |
| the tenant's date | 2026-10-11 | 2026-10-10 |
| 12 units in week 1 (to 10-10) confirmed then (2.7) | `backdated_confirmation` | `overuse` |
| the day of the `balance.changed` (2.9) | 2026-10-11 | 2026-10-10 |

and a visit confirmed on 2027-01-01 03:00 UTC (2026-12-31 22:00 in New York) reaching a calendar
year limit of 2026 still alerts the New York tenant (its 2026 has not ended), not the UTC one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from contracts.events import TenantSettingsChanged
from services.projections.core.alerts import threshold_alerts
from services.projections.core.facts import local_date
from services.projections.core.member import MemberProjection
from tests.unit.builders import CODE, MEMBER, NUMBER, PAYER, WEEK1, History

# every event of a history is recorded a minute after the one before: Sunday about 01:30 UTC
SATURDAY_EVENING_IN_NEW_YORK = datetime(2026, 10, 11, 1, 25, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "time_zone", "day"),
    [
        (datetime(2026, 10, 11, 1, 30, tzinfo=UTC), "UTC", date(2026, 10, 11)),
        (datetime(2026, 10, 11, 1, 30, tzinfo=UTC), "America/New_York", date(2026, 10, 10)),
        (datetime(2026, 10, 11, 4, 0, tzinfo=UTC), "America/New_York", date(2026, 10, 11)),
        (datetime(2026, 12, 31, 23, 0, tzinfo=UTC), "Europe/Berlin", date(2027, 1, 1)),
        (datetime(2026, 10, 10, 10, 0, tzinfo=UTC), "Pacific/Kiritimati", date(2026, 10, 11)),
    ],
)
def test_the_tenants_date_of_an_instant(moment: datetime, time_zone: str, day: date):
    assert local_date(moment, time_zone) == day


def history_in(time_zone: str | None) -> History:
    history = History(recorded_from=SATURDAY_EVENING_IN_NEW_YORK)
    if time_zone is not None:
        history.add("tenant.settings_changed", time_zone=time_zone)
    history.settings(allow_accumulation=True)
    history.grant()
    return history


def test_the_time_zone_is_a_tenant_wide_fact_utc_by_default():
    assert history_in(None).project().facts.time_zone == "UTC"
    assert history_in("America/New_York").project().facts.time_zone == "America/New_York"


@pytest.mark.parametrize(
    ("time_zone", "cause"),
    [
        (None, "backdated_confirmation"),
        ("UTC", "backdated_confirmation"),
        ("America/New_York", "overuse"),
    ],
)
def test_a_confirmation_is_backdated_when_its_period_had_ended_on_the_tenants_date(
    time_zone: str | None, cause: str
):
    history = history_in(time_zone)
    history.visit("v1", WEEK1 + timedelta(days=2), 12)  # Tuesday of week 1
    assert history.events[-1].recorded_at.date() == date(2026, 10, 11)  # Sunday in UTC
    assert history.project().flags[(NUMBER, CODE)].cause == cause


@pytest.mark.parametrize(
    ("time_zone", "day"), [("UTC", date(2026, 10, 11)), ("America/New_York", date(2026, 10, 10))]
)
def test_a_balance_change_is_dated_by_the_tenants_date(time_zone: str, day: date):
    history = history_in(time_zone)
    history.visit("v1", date(2026, 10, 6), 4)
    projection = MemberProjection.empty(MEMBER, track_changes=True)
    for event in history.events:
        projection.step(event)
    assert projection.key_changes[-1].today == day


def benefit_history(time_zone: str) -> History:
    history = History(recorded_from=datetime(2027, 1, 1, 2, 59, tzinfo=UTC))
    history.add("tenant.settings_changed", time_zone=time_zone)
    history.add(
        "benefit.limit_defined",
        benefit_id="B-1",
        member_id=MEMBER,
        payer_id=PAYER,
        benefit_code="PT",
        service_codes=["97110"],
        limit="1",
        unit="visits",
        period={"type": "calendar_year"},
    )
    history.visit("pt", date(2026, 12, 30), 1, code="97110")
    return history


@pytest.mark.parametrize(("time_zone", "alerts"), [("UTC", 0), ("America/New_York", 2)])
def test_a_benefit_period_is_open_until_it_ends_on_the_tenants_date(time_zone: str, alerts: int):
    history = benefit_history(time_zone)
    projection = history.project()
    assert len(threshold_alerts(projection.facts, history.events[-1])) == alerts


@pytest.mark.parametrize("name", ["America/New_York", "Europe/Berlin", "UTC", "Asia/Kolkata"])
def test_an_iana_name_is_accepted(name: str):
    assert TenantSettingsChanged(time_zone=name).time_zone == name


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "america/new_york", "EST ", "../etc/passwd", "localtime", ""]
)
def test_anything_else_is_refused(name: str):
    with pytest.raises(ValueError, match="time_zone"):
        TenantSettingsChanged(time_zone=name)


def test_a_settings_change_names_at_least_one_setting():
    with pytest.raises(ValueError, match="at least one setting"):
        TenantSettingsChanged()
