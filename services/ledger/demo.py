"""The guide's weekly example as contract events: 10 units a week, used 8, 6, 12 and 7."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

DEMO_NAMESPACE = uuid.UUID("6f1b2c1e-3c1d-4a8e-9d53-0d7c1c2f6a10")
WEEKLY_USAGE = (8, 6, 12, 7)


def _event(name: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid5(DEMO_NAMESPACE, name)), "type": event_type, "data": data}


def weekly_example(first_sunday: date, member_id: str = "member-1") -> list[dict[str, Any]]:
    """Settings, one weekly line of 10 units and one confirmed visit per week."""
    assert first_sunday.weekday() == 6, "the guide's weeks start on Sunday"
    events = [
        _event(
            "settings",
            "payer.settings_changed",
            {"payer_id": "payer-1", "allow_accumulation": True, "week_starts_on": "sunday"},
        ),
        _event(
            "grant",
            "authorization.granted",
            {
                "authorization_id": "line-1",
                "authorization_number": "AUTH-100",
                "member_id": member_id,
                "payer_id": "payer-1",
                "service_code": "T1019",
                "frequency": "week",
                "units": "10",
                "start_date": first_sunday.isoformat(),
                "end_date": (first_sunday + timedelta(days=27)).isoformat(),
            },
        ),
    ]
    for week, used in enumerate(WEEKLY_USAGE, start=1):
        events.append(
            _event(
                f"visit-{week}",
                "visit.confirmed",
                {
                    "visit_id": f"visit-{week}",
                    "member_id": member_id,
                    "payer_id": "payer-1",
                    "service_code": "T1019",
                    "service_date": (first_sunday + timedelta(days=7 * (week - 1) + 2)).isoformat(),
                    "units": str(used),
                },
            )
        )
    return events


def reduction(units: str = "5") -> dict[str, Any]:
    """The retroactive amendment of the tour: the line's units cut from 10 to 5."""
    return _event(
        "reduction", "authorization.amended", {"authorization_id": "line-1", "units": units}
    )
