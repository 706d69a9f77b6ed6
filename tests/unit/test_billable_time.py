"""Units from billable time (rules 2.12): clock times, the payer's rounding and unit minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from contracts.events import VisitConfirmed
from services.projections.core.accumulation import compute_member
from services.projections.core.billable_time import billable_units
from tests.unit.builders import CODE, MEMBER, NUMBER, PAYER, WEEK1, History

NINE = "2026-10-05T09:00:00-05:00"


def _at(clock: str) -> datetime:
    return datetime.fromisoformat(f"2026-10-05T{clock}:00-05:00")


@pytest.mark.parametrize(
    ("clock_out", "unit_minutes", "rounding_minutes", "units"),
    [
        ("12:08", 60, 15, "3.25"),  # 188 minutes -> 195 -> 3.25 (the spec's example)
        ("12:07", 60, 15, "3"),  # 187 minutes -> 180 -> 3
        ("09:07", 60, 15, "0"),  # 7 of a 15-minute step round down
        ("09:08", 60, 15, "0.25"),  # 8 round up
        ("12:08", 15, 15, "13"),  # 195 billable minutes in 15-minute units
        ("12:08", 60, 1, "3.133333"),  # 188 / 60 does not end: 6 decimals, half up
    ],
)
def test_billable_minutes_round_half_up_and_divide_into_units(
    clock_out: str, unit_minutes: int, rounding_minutes: int, units: str
):
    result = billable_units(_at("09:00"), _at(clock_out), unit_minutes, rounding_minutes)
    assert str(result) == units


def test_seven_and_a_half_minutes_round_up_and_offsets_are_respected():
    start = datetime(2026, 10, 5, 14, 0, tzinfo=UTC)  # 09:00 at -05:00
    assert billable_units(start, _at("09:07") + timedelta(seconds=30), 60, 15) == Decimal("0.25")


def confirmed_with_clock(history: History, visit_id: str, clock_out: str) -> None:
    history.add(
        "visit.confirmed",
        visit_id=visit_id,
        clock_in=NINE,
        clock_out=f"2026-10-05T{clock_out}:00-05:00",
    )


def test_scheduled_for_4_confirmed_at_3_25_gives_0_75_back():
    history = History()
    history.settings(allow_accumulation=True)
    history.grant()  # 10 a week
    history.visit("v1", WEEK1 + timedelta(days=1), 4, status="scheduled")
    history.settings(include_scheduled_units=True)
    before = history.project().key_result((NUMBER, CODE)).periods[0]
    assert (before.used, before.balance) == (Decimal(4), Decimal(6))
    confirmed_with_clock(history, "v1", "12:08")
    projection = history.project()
    week1 = projection.key_result((NUMBER, CODE)).periods[0]
    assert (week1.used, week1.balance) == (Decimal("3.25"), Decimal("6.75"))  # 0.75 back
    visit = projection.facts.visits["v1"]
    assert (visit.clock_in, visit.clock_out) == (NINE, "2026-10-05T12:08:00-05:00")


def test_a_settings_change_after_the_visit_replays_its_units():
    history = History()
    history.settings(allow_accumulation=True)
    history.grant()
    history.add(
        "visit.confirmed",
        visit_id="v1",
        member_id=MEMBER,
        payer_id=PAYER,
        service_code=CODE,
        service_date=WEEK1 + timedelta(days=1),
        clock_in=NINE,
        clock_out="2026-10-05T12:08:00-05:00",
    )
    assert history.project().facts.visits["v1"].units == Decimal("3.25")
    history.settings(unit_minutes=15)
    projection = history.project()
    assert projection.facts.visits["v1"].units == Decimal(13)
    assert projection.key_result((NUMBER, CODE)).periods[0].used == Decimal(13)
    # as known before the change: the hourly units
    assert history.project(until=3).facts.visits["v1"].units == Decimal("3.25")


def test_units_given_later_replace_the_clock_times():
    history = History()
    history.grant()
    history.visit("v1", WEEK1 + timedelta(days=1), 4, status="scheduled")
    confirmed_with_clock(history, "v1", "12:08")
    history.add("visit.rescheduled", visit_id="v1", units="2")
    visit = history.project().facts.visits["v1"]
    assert (visit.units, visit.clock_in, visit.clock_out) == (Decimal(2), None, None)


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        ({"units": "3", "clock_in": NINE, "clock_out": NINE}, "units", "not both"),
        ({"clock_in": NINE}, "clock_out", "required with clock_in"),
        ({"clock_out": NINE}, "clock_in", "required with clock_out"),
        ({"clock_in": NINE, "clock_out": "2026-10-05T08:59:00-05:00"}, "clock_out", "after"),
        ({"clock_in": NINE, "clock_out": "2026-10-06T09:01:00-05:00"}, "clock_out", "24 hours"),
        ({"clock_in": "2026-10-05T09:00:00", "clock_out": NINE}, "clock_in", "timezone"),
    ],
)
def test_bad_clock_times_are_refused_at_their_field(data: dict[str, str], field: str, problem: str):
    with pytest.raises(ValidationError) as raised:
        VisitConfirmed.model_validate({"visit_id": "v1", **data})
    errors = {str(error["loc"][0]): error["msg"] for error in raised.value.errors()}
    assert field in errors and problem in errors[field], errors


def test_a_shift_of_exactly_24_hours_is_accepted():
    visit = VisitConfirmed.model_validate(
        {"visit_id": "v1", "clock_in": NINE, "clock_out": "2026-10-06T09:00:00-05:00"}
    )
    assert visit.clock_out is not None and visit.clock_in is not None
    assert billable_units(visit.clock_in, visit.clock_out, 60, 15) == Decimal(24)


def test_a_settings_change_reaches_a_key_of_another_payer_its_clocked_visit_draws_from():
    """A visit naming an authorization number draws from that key whatever its payer (2.2); its
    units follow its own payer's settings, so that payer's change recomputes the key."""
    history = History()
    history.grant()  # payer-1's key
    history.add(
        "visit.confirmed",
        visit_id="v1",
        member_id=MEMBER,
        payer_id="payer-2",
        service_code=CODE,
        service_date=WEEK1 + timedelta(days=1),
        authorization_number=NUMBER,
        clock_in=NINE,
        clock_out="2026-10-05T12:08:00-05:00",
    )
    history.add("payer.settings_changed", payer_id="payer-2", unit_minutes=15)
    projection = history.project()
    assert projection.key_result((NUMBER, CODE)).periods[0].used == Decimal(13)
    assert projection.result == compute_member(projection.facts)
