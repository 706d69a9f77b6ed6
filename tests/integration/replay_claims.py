"""Claims in the replay-equality histories (accumulation.md 4.1-4.2): schedules, enrollments,
claims and their changes, and the check that the `accumulator.changed` events stored as the
batches were recorded equal those derived again from the ledger, event by event.

Schedules S-1 and S-2 are medical and S-D dental, redefined now and then (a termination date
moves which claim lines were eligible). Members enroll in them, some in family F-1 (family
deductible), with or without an end, so some claims fall outside eligibility (recorded, counted
in the most recent enrollment) and some dates have two medical enrollments (a claim without
`schedule_id` is refused there). Now and then a claim names an unknown schedule, an unknown claim
changes, or a claim id repeats: refused. Opening balances (2.17) of a member's or the family's
accumulators land between the claims; now and then one names the wrong level: refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from services.ledger.db import Connection
from services.ledger.reader import EVENT_COLUMNS, to_event
from services.projections.core.claim_events import (
    ACCUMULATOR_CHANGED,
    CLAIM_EVENT_TYPES,
    changes,
    claim_dates,
    rows_on,
)
from services.projections.core.claims import Claim
from services.projections.core.facts import TENANT_WIDE_TYPES, LedgerEvent, MemberFacts
from services.projections.feed import read_events

SCHEDULES = {"S-1": "medical", "S-2": "medical", "S-D": "dental"}
ACCUMULATORS = [
    {"code": "DED", "type": "deductible", "amount": "500"},
    {"code": "FDED", "type": "deductible", "amount": "1000", "level": "family"},
    {"code": "OOP", "type": "maximum", "kind": "out_of_pocket", "amount": "3000"},
    {"code": "COB", "type": "cob", "amount": "0"},
]
PERIODS = [{"type": "calendar_year"}, {"type": "plan_year", "start_month": 2, "start_day": 1}]
FAMILY = "F-1"
STATUSES = ("pending", "processed", "paid", "paid", "released", "denied")
money = st.integers(0, 40_000).map(lambda cents: f"{cents // 100}.{cents % 100:02d}")

Event = dict[str, Any]
Maker = Callable[[str, dict[str, Any]], Event]


class ClaimsHistory:
    """The claims part of a history; `parent` is the test's history (draw, members, ids, days)."""

    def __init__(self, parent: Any, make: Maker, day: Callable[[int], str]) -> None:
        self.parent = parent
        self.make = make
        self.day = day
        self.claims: list[str] = []
        self.defined: set[str] = set()

    def opening(self) -> list[Event]:
        """A medical schedule and every member enrolled in it, so claims find their plan."""
        schedule = self.schedule("S-1")
        enrollments = [self.enroll(member, "S-1") for member in self.parent.members]
        return [schedule, *enrollments]

    def step(self) -> Event:
        draw = self.parent.draw
        kinds = ["schedule", "enroll", "claim", "claim", "claim", "change", "opening"]
        kind = draw(st.sampled_from(kinds))
        if kind == "schedule" or not self.defined:
            return self.schedule()
        if kind == "enroll":
            return self.enroll()
        if kind == "opening":
            return self.opening_balance()
        if kind == "claim" or not self.claims:
            return self.claim()
        return self.change()

    def _window_day(self) -> int:
        return int(self.parent.draw(st.integers(0, 69)))

    def schedule(self, schedule_id: str | None = None) -> Event:
        draw = self.parent.draw
        schedule_id = schedule_id or draw(st.sampled_from(sorted(SCHEDULES)))
        self.defined.add(schedule_id)
        ends = draw(st.integers(0, 3)) == 0
        return self.make(
            "accumulator.schedule_defined",
            {
                "schedule_id": schedule_id,
                "plan_type": SCHEDULES[schedule_id],
                "effective_date": self.day(0),
                "termination_date": self.day(draw(st.integers(20, 69))) if ends else None,
                "benefit_period": draw(st.sampled_from(PERIODS)),
                "coinsurance_percent": "80",
                "accumulators": ACCUMULATORS,
            },
        )

    def enroll(self, member: str | None = None, schedule_id: str | None = None) -> Event:
        draw = self.parent.draw
        start = self._window_day()
        end = start + draw(st.integers(0, 40)) if draw(st.booleans()) else None
        if schedule_id is None:
            known = sorted(self.defined)
            schedule_id = draw(st.sampled_from(known)) if not self.parent.rarely() else "S-X"
        return self.make(
            "member.enrolled",
            {
                "member_id": member or draw(st.sampled_from(self.parent.members)),
                "schedule_id": schedule_id,
                "start_date": self.day(start),
                "end_date": self.day(min(end, 69)) if end is not None else None,
                "family_id": FAMILY if draw(st.booleans()) else None,
            },
        )

    def _lines(self) -> list[dict[str, Any]]:
        draw = self.parent.draw
        lines = []
        for number in range(1, draw(st.integers(1, 2)) + 1):
            first = self._window_day()
            codes = draw(st.sets(st.sampled_from(["DED", "FDED", "OOP", "COB"]), max_size=3))
            owed = draw(st.none() | money)
            lines.append(
                {
                    "line_number": number,
                    "from_date": self.day(first),
                    "thru_date": self.day(first),
                    "allowed_amount": draw(money),
                    "applied": [
                        {"accumulator_code": code, "amount": draw(money)} for code in sorted(codes)
                    ],
                    **({"patient_responsibility": owed} if owed is not None else {}),
                }
            )
        return lines

    def claim(self) -> Event:
        draw = self.parent.draw
        claim_id = self.parent.fresh(self.claims, "C")
        if claim_id not in self.claims:
            self.claims.append(claim_id)
        # mostly a plan type with a schedule defined; now and then one without (refused)
        plan_types = sorted({SCHEDULES[s] for s in self.defined}) or ["medical"]
        plan_type = "vision" if self.parent.rarely() else draw(st.sampled_from(plan_types))
        named = None
        if draw(st.integers(0, 3)) == 0:  # a quarter name their schedule, some a wrong one
            known = sorted(self.defined) or ["S-1"]
            named = "S-X" if self.parent.rarely() else draw(st.sampled_from(known))
        return self.make(
            "claim.adjudicated",
            {
                "claim_id": claim_id,
                "reference_number": f"R-{claim_id}",
                "member_id": draw(st.sampled_from(self.parent.members)),
                "plan_type": plan_type,
                "schedule_id": named,
                "billing_provider": "Clinic",
                "status": draw(st.sampled_from(STATUSES)),
                "lines": self._lines(),
            },
        )

    def opening_balance(self) -> Event:
        """A figure from another system (2.17): the family's for FDED, else a member's; now and
        then the other way round (refused)."""
        draw = self.parent.draw
        code = draw(st.sampled_from(["DED", "FDED", "OOP", "COB"]))
        family = (code == "FDED") != self.parent.rarely()
        owner = (
            {"family_id": FAMILY}
            if family
            else {"member_id": draw(st.sampled_from(self.parent.members))}
        )
        return self.make(
            "accumulator.opening_balance",
            {
                **owner,
                "schedule_id": draw(st.sampled_from(sorted(self.defined))),
                "accumulator_code": code,
                "as_of": self.day(self._window_day()),
                "applied": draw(money),
                "source": "old claims system",
            },
        )

    def change(self) -> Event:
        draw = self.parent.draw
        claim_id = self.parent.reference(self.claims, "C")
        kind = draw(st.sampled_from(["claim.status_changed", "claim.adjusted", "claim.voided"]))
        if kind == "claim.status_changed":
            data: dict[str, Any] = {"status": draw(st.sampled_from(STATUSES))}
        elif kind == "claim.adjusted":
            data = {"lines": self._lines()}
        else:
            data = {"reason": "entered in error"}
        return self.make(kind, {"claim_id": claim_id, **data})


def rederived_changes(connection: Connection, tenant: str) -> list[dict[str, Any]]:
    """The tenant's `accumulator.changed` data derived again: every event folded in ledger order
    into its member's facts (tenant-wide ones into every member's), each claim event judged on
    the rows of every schedule before and after it, the family's claims as they stood."""
    rows = connection.execute(
        f"SELECT member_id, {EVENT_COLUMNS} FROM ledger_events WHERE tenant = ? ORDER BY position",
        (tenant,),
    )
    members: dict[str, MemberFacts] = {}
    tenant_wide: list[LedgerEvent] = []
    found: list[dict[str, Any]] = []
    for member_id, *columns in rows:
        event = to_event(tuple(columns))
        event_type = event.type
        if event_type in TENANT_WIDE_TYPES:
            tenant_wide.append(event)
            for facts in members.values():
                facts.apply(event)
            continue
        if member_id not in members:
            members[member_id] = MemberFacts(member_id)
            for earlier in tenant_wide:
                members[member_id].apply(earlier)
        facts = members[member_id]
        if event_type not in CLAIM_EVENT_TYPES:
            facts.apply(event)
            continue
        family = _family(members, facts)
        # every schedule, not only the one the event is predicted to move: a wrong prediction
        # on the append path shows as a difference
        schedule_ids, days = set(facts.schedules), claim_dates(facts, event)
        before = rows_on(facts, schedule_ids, days, family)
        facts.apply(event)
        changed, _ = changes(member_id, before, rows_on(facts, schedule_ids, days, family), event)
        found += [item for kind, item in changed if kind == ACCUMULATOR_CHANGED]
    return found


def _family(members: dict[str, MemberFacts], facts: MemberFacts) -> dict[str, list[Claim]]:
    families = {e.family_id for e in facts.enrollments if e.family_id is not None}
    return {
        other: list(member.claims.values())
        for other, member in sorted(members.items())
        if other != facts.member_id and any(e.family_id in families for e in member.enrollments)
    }


def stored_changes(connection: Connection, tenant: str) -> list[dict[str, Any]]:
    items = read_events(connection, tenant, 0, 100_000, [ACCUMULATOR_CHANGED])
    return [item["data"] for item in items]
