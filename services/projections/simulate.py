"""Include the claim being processed (spec 4.3): the accumulators with one more claim counted as
if paid, the cost-share rule (4.4) filling the lines that carry no applied amounts. Stores nothing.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from contracts.accumulators import SimulateIn
from services.ledger.errors import InvalidRequestError, Problem, ProblemList
from services.ledger.rules import claim_line_problems
from services.projections import claim_queries, queries
from services.projections.claim_queries import Selection
from services.projections.core.claims import Claim, ClaimLine, Row, accumulator_rows, enrollment_on
from services.projections.core.costshare import LineIn, LineShare, Standing, share_line
from services.projections.core.facts import MemberFacts
from services.projections.reads import Reader

SIMULATED_POSITION = 2**62  # after every recorded claim


def _standings(rows: list[Row], line: ClaimLine) -> list[Standing]:
    """The accumulators a line meets: its network's (or any), its illness's or tooth's row."""
    chosen: dict[str, Standing] = {}
    for row in rows:
        accumulator = row.accumulator
        if accumulator.network not in ("any", line.network):
            continue
        if (accumulator.per == "illness" and line.illness is None) or (
            accumulator.per == "tooth" and line.tooth is None
        ):
            continue  # kept per illness or tooth: only lines that name one meet it
        wanted = (
            line.illness if accumulator.per == "illness" else None,
            line.tooth if accumulator.per == "tooth" else None,
        )
        if accumulator.per is not None and (row.illness, row.tooth) != wanted:
            if accumulator.code not in chosen:  # a new illness or tooth starts at 0
                chosen[accumulator.code] = _standing(row, applied=None)
            continue
        chosen[accumulator.code] = _standing(row, applied=row.applied)
    return list(chosen.values())


def _standing(row: Row, applied: Decimal | None) -> Standing:
    """The row as the cost-share engine sees it; None: a new illness or tooth, nothing applied."""
    accumulator = row.accumulator
    return Standing(
        code=accumulator.code,
        type=accumulator.type,
        kind=accumulator.kind,
        level=accumulator.level,
        amount=accumulator.amount,
        applied=applied if applied is not None else Decimal(0),
        levels=accumulator.levels,
    )


def _problems(facts: MemberFacts, body: SimulateIn) -> None:
    lines = [line.model_dump(mode="json", exclude_none=True) for line in body.claim.lines]
    found = ProblemList()
    claim_line_problems(facts, 0, body.claim.plan_type, lines, found)
    if found.problems:
        raise InvalidRequestError(
            "the claim does not fit the member's enrollment",
            [
                Problem(None, p.field.replace("data.", "claim.", 1), p.problem)
                for p in found.problems
            ],
        )


async def simulate(reader: Reader, tenant: str, member_id: str, body: SimulateIn) -> dict[str, Any]:
    facts = await queries.member_facts(reader, tenant, member_id, None)
    _problems(facts, body)
    position = await queries.position_of(reader, tenant, None)
    given = body.claim
    lines = sorted(
        (ClaimLine.from_json(line.model_dump(mode="json")) for line in given.lines),
        key=lambda line: (line.from_date, line.line_number),
    )
    claim = Claim(
        claim_id=given.claim_id,
        reference_number=given.reference_number,
        member_id=member_id,
        plan_type=given.plan_type,
        billing_provider=given.billing_provider,
        status="paid",
        release_date=None,
        lines=(),
        position=SIMULATED_POSITION,
    )
    shares: list[LineShare] = []
    for line in lines:
        enrollment, schedule = enrollment_on(
            facts.enrollments, facts.schedules, line.from_date, given.plan_type
        )[0]
        claims = await claim_queries.family_claims(
            reader, tenant, facts, enrollment, schedule, None
        )
        claims[member_id] = [*claims[member_id], claim]
        rows = accumulator_rows(schedule, claims, member_id, line.from_date)
        share = share_line(
            LineIn(
                line.line_number, line.from_date, line.thru_date, line.allowed_amount, line.days
            ),
            _standings(rows, line),
            schedule.coinsurance_percent,
        )
        if line.applied:  # the adjudicator's amounts stand; the share is shown beside them
            share = replace(share, applied=dict(line.applied))
        else:
            line = replace(line, applied={k: v for k, v in share.applied.items()})
        claim = replace(claim, lines=(*claim.lines, line))
        shares.append(share)
    effective = body.effective_date or lines[0].from_date
    rows = await claim_queries.rows_for(
        reader, tenant, facts, Selection(effective, given.plan_type), None, extra=[claim]
    )
    return {
        **claim_queries.answer(member_id, effective, position, rows),
        "claim_lines": [
            {
                "line_number": s.line_number,
                "deductible": s.deductible,
                "coinsurance": s.coinsurance,
                "member_total": s.member_total,
                "plan_paid": s.plan_paid,
                "uncovered_days": s.uncovered_days,
                "applied": [
                    {"accumulator_code": code, "amount": amount}
                    for code, amount in sorted(s.applied.items())
                ],
            }
            for s in shares
        ],
    }
