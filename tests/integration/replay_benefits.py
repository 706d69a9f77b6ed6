"""Benefit limits in the replay-equality histories (accumulation.md 3): limits of every period
type, rolling and episode included, their amendments and verifications, and the check that the
`benefit.threshold_crossed` events stored as the batches were recorded equal those derived again
from the ledger, event by event (first of a mark wins), as a rebuild would judge them.

Limits count the visits the history generates (its payers and codes); now and then a limit id
repeats or an amendment names an unknown limit: refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from services.ledger.db import Connection
from services.ledger.reader import EVENT_COLUMNS, to_event
from services.projections.core.alerts import THRESHOLD_CROSSED, threshold_alerts
from services.projections.core.facts import TENANT_WIDE_TYPES, LedgerEvent, MemberFacts
from services.projections.feed import read_events

PERIODS = [
    {"type": "calendar_year"},
    {"type": "lifetime"},
    {"type": "rolling", "days": 1},
    {"type": "rolling", "days": 7},
    {"type": "rolling", "days": 30},
    {"type": "episode", "days": 7},
    {"type": "episode", "days": 30},
]
THRESHOLDS = [None, ["0.5"], ["0.5", "1"]]

Event = dict[str, Any]
Maker = Callable[[str, dict[str, Any]], Event]


class BenefitsHistory:
    """The benefits part of a history; `parent` is the test's history (draw, members, ids)."""

    def __init__(
        self,
        parent: Any,
        make: Maker,
        day: Callable[[int], str],
        payers: tuple[str, ...],
        codes: tuple[str, ...],
    ) -> None:
        self.parent = parent
        self.make = make
        self.day = day
        self.payers = payers
        self.codes = codes
        self.limits: list[str] = []

    def step(self) -> Event:
        kind = self.parent.draw(st.sampled_from(["define", "define", "amend", "verify", "verify"]))
        if kind == "define" or not self.limits:
            return self.define()
        if kind == "amend":
            return self.amend()
        return self.verify()

    def define(self) -> Event:
        draw = self.parent.draw
        benefit_id = self.parent.fresh(self.limits, "B")
        if benefit_id not in self.limits:
            self.limits.append(benefit_id)
        return self.make(
            "benefit.limit_defined",
            {
                "benefit_id": benefit_id,
                "member_id": draw(st.sampled_from(self.parent.members)),
                "payer_id": draw(st.sampled_from(self.payers)),
                "benefit_code": "PT",
                "service_codes": sorted(draw(st.sets(st.sampled_from(self.codes), min_size=1))),
                "limit": str(draw(st.integers(1, 6))),
                "unit": draw(st.sampled_from(["visits", "visits", "units"])),
                "period": draw(st.sampled_from(PERIODS)),
                "thresholds": draw(st.sampled_from(THRESHOLDS)),
            },
        )

    def amend(self) -> Event:
        draw = self.parent.draw
        change = draw(st.sampled_from(["period", "limit"]))
        value: Any = (
            draw(st.sampled_from(PERIODS)) if change == "period" else str(draw(st.integers(1, 6)))
        )
        return self.make(
            "benefit.limit_amended",
            {"benefit_id": self.parent.reference(self.limits, "B"), change: value},
        )

    def verify(self) -> Event:
        draw = self.parent.draw
        return self.make(
            "benefit.usage_verified",
            {
                "benefit_id": self.parent.reference(self.limits, "B"),
                "as_of": self.day(draw(st.integers(0, 69))),
                "used": str(draw(st.integers(0, 6))),
                "source": "payer portal",
            },
        )


def rederived_thresholds(connection: Connection, tenant: str) -> list[dict[str, Any]]:
    """The tenant's `benefit.threshold_crossed` data derived again: every event folded in ledger
    order into its member's facts (tenant-wide ones into every member's), the alerts of each
    visit or benefit event judged right after it, the first of each mark kept."""
    rows = connection.execute(
        f"SELECT member_id, {EVENT_COLUMNS} FROM ledger_events WHERE tenant = ? ORDER BY position",
        (tenant,),
    )
    members: dict[str, MemberFacts] = {}
    tenant_wide: list[LedgerEvent] = []
    marks: set[tuple[str, str, str]] = set()
    found: list[dict[str, Any]] = []
    for member_id, *columns in rows:
        event = to_event(tuple(columns))
        if event.type in TENANT_WIDE_TYPES:
            tenant_wide.append(event)
            for facts in members.values():
                facts.apply(event)
            continue
        if member_id not in members:
            members[member_id] = MemberFacts(member_id)
            for earlier in tenant_wide:
                members[member_id].apply(earlier)
        facts = members[member_id]
        facts.apply(event)
        if not facts.benefits or not event.type.startswith(("visit.", "benefit.")):
            continue
        for alert in threshold_alerts(facts, event):
            if alert.mark not in marks:
                marks.add(alert.mark)
                found.append(alert.data)
    return found


def stored_thresholds(connection: Connection, tenant: str) -> list[dict[str, Any]]:
    items = read_events(connection, tenant, 0, 100_000, [THRESHOLD_CROSSED])
    return [item["data"] for item in items]
