"""Claims accumulators as of an effective date and as known at a time (spec 4.2, 4.5).

Like benefit limits, the answers fold the facts of the member (and of its family, for family
accumulators) from the ledger on every query: `known_at` is the same path as now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.ledger.errors import NotFoundError
from services.projections.core.claims import (
    Claim,
    Enrollment,
    Row,
    Schedule,
    accumulator_rows,
    enrollment_on,
)
from services.projections.core.facts import MemberFacts
from services.projections.queries import member_facts
from services.projections.reads import Reader


@dataclass(frozen=True)
class Selection:
    """Which of the member's plans an answer covers (api.md query parameters)."""

    effective_date: date
    plan_type: str | None = None
    schedule_id: str | None = None
    all_plans: bool = False


def chosen(facts: MemberFacts, selection: Selection) -> list[tuple[Enrollment, Schedule]]:
    """The enrollments in force on the date: one plan type (default: the first medical one, else
    the first), one schedule, or all of them."""
    enrolled = enrollment_on(facts.enrollments, facts.schedules, selection.effective_date)
    if selection.schedule_id is not None:
        return [(e, s) for e, s in enrolled if s.schedule_id == selection.schedule_id]
    if selection.all_plans:
        return enrolled
    plan_type = selection.plan_type
    if plan_type is None:
        medical = [s.plan_type for _, s in enrolled if s.plan_type == "medical"]
        plan_type = medical[0] if medical else (enrolled[0][1].plan_type if enrolled else None)
    return [(e, s) for e, s in enrolled if s.plan_type == plan_type][:1]


async def family_claims(
    reader: Reader,
    tenant: str,
    facts: MemberFacts,
    enrollment: Enrollment,
    schedule: Schedule,
    known_at: datetime | None,
) -> dict[str, list[Claim]]:
    """The member's claims, and its family's when the schedule has family accumulators."""
    claims = {facts.member_id: list(facts.claims.values())}
    family = enrollment.family_id
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
    for enrollment, schedule in chosen(facts, selection):
        claims = await family_claims(reader, tenant, facts, enrollment, schedule, known_at)
        claims[facts.member_id] = [*claims[facts.member_id], *extra]
        rows += accumulator_rows(schedule, claims, facts.member_id, selection.effective_date)
    return rows


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
            "schedule_amount": accumulator.amount,
            "bank_amount": row.applied,
            "period": period,
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
        "schedule_amount": accumulator.amount,
        "applied_amount": row.applied,
        "remaining_amount": row.remaining,
        "period": period,
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
                "amount": c.amount,
            }
            for c in row.contributions
        ],
        "days": [
            {
                "date": d.day,
                "day_number": d.day_number,
                "reversion_level": d.reversion_level,
                "coinsurance_percent": d.coinsurance_percent,
            }
            for d in row.days()
        ],
    }
