"""Ledger events for unit tests of the pure core, written like the spec's examples."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any

from services.projections.core.facts import LedgerEvent
from services.projections.core.member import MemberProjection

MEMBER = "m-1"
PAYER = "payer-1"
CODE = "T1019"
NUMBER = "A-100"
WEEK1 = date(2026, 10, 4)  # a Sunday


class History:
    """Builds a member's events in order, each recorded a minute after the previous one."""

    def __init__(self, recorded_from: datetime = datetime(2026, 10, 1, tzinfo=UTC)) -> None:
        self.events: list[LedgerEvent] = []
        self._positions: Iterator[int] = count(1)
        self.clock = recorded_from

    def add(self, type_: str, event_id: str | None = None, **data: Any) -> LedgerEvent:
        position = next(self._positions)
        self.clock += timedelta(minutes=1)
        normalized = {
            k: (str(v) if isinstance(v, (date, int)) and not isinstance(v, bool) else v)
            for k, v in data.items()
        }
        event = LedgerEvent(position, event_id or f"e{position}", type_, normalized, self.clock)
        self.events.append(event)
        return event

    def settings(self, **settings: Any) -> LedgerEvent:
        return self.add("payer.settings_changed", payer_id=PAYER, **settings)

    def grant(
        self,
        authorization_id: str = "L1",
        units: int | str = 10,
        start: date = WEEK1,
        end: date = WEEK1 + timedelta(days=27),
        frequency: str = "week",
        number: str = NUMBER,
        code: str = CODE,
        payer: str = PAYER,
    ) -> LedgerEvent:
        return self.add(
            "authorization.granted",
            authorization_id=authorization_id,
            authorization_number=number,
            member_id=MEMBER,
            payer_id=payer,
            service_code=code,
            frequency=frequency,
            units=str(units),
            start_date=start,
            end_date=end,
        )

    def visit(
        self,
        visit_id: str,
        day: date,
        units: int | str,
        status: str = "confirmed",
        number: str | None = None,
        code: str = CODE,
        payer: str = PAYER,
    ) -> None:
        fields: dict[str, Any] = dict(
            visit_id=visit_id,
            member_id=MEMBER,
            payer_id=payer,
            service_code=code,
            service_date=day,
            units=str(units),
        )
        if number is not None:
            fields["authorization_number"] = number
        if status == "confirmed":
            self.add("visit.confirmed", **fields)
            return
        self.add("visit.scheduled", **fields)
        if status in ("missed", "cancelled"):
            self.add(f"visit.{status}", visit_id=visit_id)

    def project(self, until: int | None = None) -> MemberProjection:
        projection = MemberProjection.empty(MEMBER)
        for event in self.events[:until]:
            projection.step(event)
        return projection


def weekly_example(history: History | None = None) -> History:
    """The guide's example: 10 units a week for four weeks, used 8, 6, 12, 7."""
    history = history or History()
    history.settings(allow_accumulation=True)
    history.grant()
    for week, used in enumerate((8, 6, 12, 7)):
        history.visit(f"v{week + 1}", WEEK1 + timedelta(days=7 * week + 1), used)
    return history
