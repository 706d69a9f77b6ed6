"""`explain` describes each event touching a balance in a sentence a person reads: no dicts."""

from __future__ import annotations

import pytest

from services.projections.core.explain import describe
from tests.unit.builders import History

DESCRIBED = [
    (
        "payer.settings_changed",
        {"payer_id": "payer-1", "allow_accumulation": True, "week_starts_on": "sunday"},
        "changes the settings of payer payer-1 (accumulation allowed; weeks start on sunday): "
        "the whole history is replayed",
    ),
    (
        "payer.settings_changed",
        {
            "payer_id": "payer-1",
            "include_scheduled_units": False,
            "exclude_missed_days": True,
            "renewal_days_before_end": 30,
            "renewal_used_fraction": "0.9",
        },
        "changes the settings of payer payer-1 (scheduled units not counted; missed days "
        "excluded; renewal notice 30 days before the end; renewal notice once 0.9 of the units "
        "are used): the whole history is replayed",
    ),
    (
        "payer.settings_changed",
        {"payer_id": "payer-1", "authorization_required": ["97110", "97112"]},
        "changes the settings of payer payer-1 (authorization required for 97110, 97112): "
        "the whole history is replayed",
    ),
    (
        "payer.settings_changed",
        {"payer_id": "payer-1", "authorization_required": "all"},
        "changes the settings of payer payer-1 (authorization required for every service "
        "code): the whole history is replayed",
    ),
    (
        "payer.settings_changed",
        {"payer_id": "payer-1", "authorization_required": []},
        "changes the settings of payer payer-1 (authorization required for no service code): "
        "the whole history is replayed",
    ),
    (
        "authorization.granted",
        {
            "authorization_id": "line-1",
            "authorization_number": "AUTH-100",
            "member_id": "member-1",
            "payer_id": "payer-1",
            "service_code": "T1019",
            "frequency": "week",
            "units": "10",
            "start_date": "2026-10-04",
            "end_date": "2026-10-31",
        },
        "grants 10 units per week from 2026-10-04 to 2026-10-31",
    ),
    (
        "authorization.amended",
        {"authorization_id": "line-1", "units": "5"},
        "amends line line-1: 5 units",
    ),
    (
        "authorization.amended",
        {"authorization_id": "line-1", "start_date": "2026-10-11", "end_date": "2026-11-30"},
        "amends line line-1: starts 2026-10-11, ends 2026-11-30",
    ),
    (
        "visit.confirmed",
        {"visit_id": "visit-1", "units": "8"},
        "confirms visit visit-1, 8 units",
    ),
    (
        "visit.scheduled",
        {
            "visit_id": "visit-5",
            "member_id": "member-1",
            "payer_id": "payer-1",
            "service_code": "T1019",
            "service_date": "2026-10-29",
            "units": "2",
        },
        "schedules visit visit-5 on 2026-10-29, 2 units",
    ),
    (
        "visit.rescheduled",
        {"visit_id": "visit-5", "service_date": "2026-10-30"},
        "reschedules visit visit-5 to 2026-10-30",
    ),
    ("visit.missed", {"visit_id": "visit-5", "reason": "no show"}, "marks visit visit-5 missed"),
]


@pytest.mark.parametrize(("kind", "data", "sentence"), DESCRIBED)
def test_each_event_reads_as_a_sentence(kind: str, data: dict[str, object], sentence: str) -> None:
    event = History().add(kind, **data)
    described = describe(event)
    assert described == sentence
    assert not any(mark in described for mark in "{}[]'"), described
