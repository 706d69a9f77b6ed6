"""Claims accumulators as of an effective date and as known at a time (spec 4.2, 4.5).

Like benefit limits, the answers fold the facts of the member (and of its family, for family
accumulators) from the ledger on every query: `known_at` is the same path as now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from contracts.decimals import money, normalized
from services.ledger.errors import NotFoundError
from services.projections.core.claim_schedules import (
    Plan,
    default_effective_date,
    plans_on,
    select,
)
from services.projections.core.claims import Claim, Row, Schedule, accumulator_rows
from services.projections.core.facts import MemberFacts
from services.projections.queries import member_facts
from services.projections.reads import Reader


@dataclass(frozen=True)
class Selection:
    """Which of the member's plans an answer covers, and for which date (api.md query parameters).

    `effective_date` None: today, or the last day of the member's most recent enrollment when it
    has none today (4.1).
    """

    effective_date: date | None
    plan_types: tuple[str, ...] = ()
    schedule_id: str | None = None
    all_plans: bool = False

    def on(self, facts: MemberFacts, today: date) -> Selection:
        """The same selection with its effective date decided."""
        if self.effective_date is not None:
            return self
        day = default_effective_date(
            facts.enrollments, facts.schedules, today, self.plan_types, self.schedule_id
        )
        return replace(self, effective_date=day)

    @property
    def day(self) -> date:
        assert self.effective_date is not None, "decide the date first (Selection.on)"
        return self.effective_date


def chosen(facts: MemberFacts, selection: Selection, extra: Sequence[Claim] = ()) -> list[Plan]:
    """The plans of the answer: the member's enrolled (then not enrolled but claimed) schedules on
    the date, narrowed to one schedule, the plan types asked for, all, or the default one."""
    plans = plans_on(
        facts.enrollments, facts.schedules, [*facts.claims.values(), *extra], selection.day
    )
    return select(plans, selection.plan_types, selection.schedule_id, selection.all_plans)


async def family_claims(
    reader: Reader,
    tenant: str,
    facts: MemberFacts,
    family: str | None,
    schedule: Schedule,
    known_at: datetime | None,
) -> dict[str, list[Claim]]:
    """The member's claims, and its family's when the schedule has family accumulators."""
    claims = {facts.member_id: list(facts.claims.values())}
    if family is None or not any(a.level == "family" for a in schedule.accumulators):
        return claims
    rows = await reader.fetch(
        "SELECT DISTINCT e.member_id FROM ledger_tags t JOIN ledger_events e "
        "ON e.tenant = t.tenant AND e.position = t.position "
        "WHERE t.tenant = ? AND t.tag = ? AND e.type = 'member.enrolled' ORDER BY e.member_id",
        (tenant, f"family:{family}"),
    )
    for (other,) in rows:
        if other == facts.member_id:
            continue
        try:
            other_facts = await member_facts(reader, tenant, other, known_at)
        except NotFoundError:  # not known yet at known_at
            continue
        if any(e.family_id == family for e in other_facts.enrollments):
            claims[other] = list(other_facts.claims.values())
    return claims


async def rows_for(
    reader: Reader,
    tenant: str,
    facts: MemberFacts,
    selection: Selection,
    known_at: datetime | None,
    extra: Sequence[Claim] = (),
) -> list[Row]:
    """Every accumulator row of the chosen plans (with `extra` claims counted as the member's)."""
    rows: list[Row] = []
    for plan in chosen(facts, selection, extra):
        claims = await family_claims(reader, tenant, facts, plan.family_id, plan.schedule, known_at)
        claims[facts.member_id] = [*claims[facts.member_id], *extra]
        rows += accumulator_rows(
            plan.schedule, claims, facts.member_id, selection.day, plan.eligible
        )
    return rows


DAY_TYPES = ("day", "reversion")  # accumulators that count days; the others count money


def figure(accumulator_type: str, value: Decimal) -> Decimal:
    """A claims figure as the answers write it (api.md Conventions): days normalized, money
    half up to cents. The CSV and the printed report take the same values."""
    return normalized(value) if accumulator_type in DAY_TYPES else money(value)


def row_item(row: Row) -> dict[str, Any]:
    accumulator, schedule = row.accumulator, row.schedule
    period = {"start": row.period_start, "end": row.period_end}
    if accumulator.type == "cob":
        return {
            "plan_type": schedule.plan_type,
            "schedule_id": schedule.schedule_id,
            "code": accumulator.code,
            "description": accumulator.description,
            "level": accumulator.level,
            "schedule_amount": money(accumulator.amount),
            "bank_amount": money(row.applied),
            "period": period,
            "eligible": row.eligible,
        }
    return {
        "plan_type": schedule.plan_type,
        "schedule_id": schedule.schedule_id,
        "type": accumulator.type,
        "code": accumulator.code,
        "description": accumulator.description,
        "kind": accumulator.kind,
        "level": accumulator.level,
        "network": accumulator.network,
        "illness": row.illness,
        "tooth": row.tooth,
        "schedule_amount": figure(accumulator.type, accumulator.amount),
        "applied_amount": figure(accumulator.type, row.applied),
        "remaining_amount": figure(accumulator.type, row.remaining),
        "period": period,
        "eligible": row.eligible,
    }


def answer(member_id: str, effective_date: date, position: int, rows: list[Row]) -> dict[str, Any]:
    return {
        "member_id": member_id,
        "effective_date": effective_date,
        "position": position,
        "items": [row_item(r) for r in rows if r.accumulator.type != "cob"],
        "cob": [row_item(r) for r in rows if r.accumulator.type == "cob"],
    }


def detail(row: Row) -> dict[str, Any]:
    """One accumulator with the claims that applied to it and, for days, every day (4.5)."""
    cob = row.accumulator.type == "cob"
    return {
        "accumulator": row_item(row),
        "claims": [
            {
                "claim_id": c.claim.claim_id,
                "reference_number": c.claim.reference_number,
                "status": c.claim.status,
                "billing_provider": c.claim.billing_provider,
                "release_date": c.claim.release_date,
                "member_id": c.member_id,
                "line_number": c.line.line_number,
                "from_date": c.line.from_date,
                "thru_date": c.line.thru_date,
                "amount": figure(row.accumulator.type, c.amount),
                "eligible": c.eligible,
                # the COB detail's OOP amount: what the member owes on the line (4.1, 4.5)
                "oop_amount": (
                    money(c.line.patient_responsibility)
                    if cob and c.line.patient_responsibility is not None
                    else None
                ),
            }
            for c in row.contributions
        ],
        "days": [
            {
                "date": d.day,
                "day_number": d.day_number,
                "reversion_level": d.reversion_level,
                "coinsurance_percent": (
                    normalized(d.coinsurance_percent) if d.coinsurance_percent is not None else None
                ),
            }
            for d in row.days()
        ],
    }
