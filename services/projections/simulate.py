"""Include the claim being processed (spec 4.3): the accumulators with one more claim counted as
if paid, the cost-share rule (4.4) filling the lines that carry no applied amounts. Stores nothing.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from contracts.accumulators import SimulateIn
from services.ledger.errors import InvalidRequestError, Problem, ProblemList
from services.ledger.rules import claim_problems
from services.projections import claim_queries, queries
from services.projections.claim_queries import Selection
from services.projections.core.claim_schedules import family_of
from services.projections.core.claims import Claim, ClaimLine, Row, Schedule, accumulator_rows
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


def _check_member(member_id: str, body: SimulateIn) -> None:
    """The claim may name its member; only the path's."""
    named = body.claim.member_id
    if named is not None and named != member_id:
        raise InvalidRequestError(
            "the claim is another member's",
            [Problem(None, "claim.member_id", f"{named} differs from the path's {member_id}")],
        )


def _schedule(facts: MemberFacts, body: SimulateIn) -> Schedule:
    """The one schedule the claim would count in, as the ledger would decide it on recording
    (4.1); 422 `invalid_request` with fields `claim...` where it would be refused."""
    found = ProblemList()
    data = body.claim.model_dump(mode="json", exclude_none=True)
    schedule_id = claim_problems(facts, 0, data, found)
    if found.problems or schedule_id is None:
        raise InvalidRequestError(
            "the claim does not fit the member",
            [
                Problem(None, p.field.replace("data.", "claim.", 1), p.problem)
                for p in found.problems
            ],
        )
    return facts.schedules[schedule_id]


async def simulate(reader: Reader, tenant: str, member_id: str, body: SimulateIn) -> dict[str, Any]:
    given = body.claim
    _check_member(member_id, body)  # a body problem, answered before any 404
    facts = await queries.member_facts(reader, tenant, member_id, None)
    schedule = _schedule(facts, body)
    position = await queries.position_of(reader, tenant, None)
    lines = sorted(
        (ClaimLine.from_json(line.model_dump(mode="json")) for line in given.lines),
        key=lambda line: (line.from_date, line.line_number),
    )
    claim = Claim(
        claim_id=given.claim_id,
        reference_number=given.reference_number,
        member_id=member_id,
        plan_type=given.plan_type,
        schedule_id=schedule.schedule_id,
        billing_provider=given.billing_provider,
        status="paid",
        release_date=given.release_date,
        lines=(),
        position=SIMULATED_POSITION,
    )
    family = family_of(facts.enrollments, facts.schedules, schedule.schedule_id, lines[0].from_date)
    claims = await claim_queries.family_claims(reader, tenant, facts, family, schedule, None)
    claim, shares = share_claim_lines(schedule, claims, member_id, claim, lines)
    effective = body.effective_date or lines[0].from_date
    chosen = Selection(effective, schedule_id=schedule.schedule_id)
    rows = await claim_queries.rows_for(reader, tenant, facts, chosen, None, extra=[claim])
    return {
        **claim_queries.answer(member_id, effective, position, rows),
        "claim_lines": [_line_out(schedule, s) for s in shares],
    }


def share_claim_lines(
    schedule: Schedule,
    claims: dict[str, list[Claim]],
    member_id: str,
    claim: Claim,
    lines: list[ClaimLine],
) -> tuple[Claim, list[LineShare]]:
    """Each line in date order against the accumulators as the earlier claims and lines left
    them (4.4); returns the claim with every line counted and each line's share."""
    shares: list[LineShare] = []
    for line in lines:
        counted = {**claims, member_id: [*claims[member_id], claim]}
        rows = accumulator_rows(schedule, counted, member_id, line.from_date)
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
    return claim, shares


def _line_out(schedule: Schedule, share: LineShare) -> dict[str, Any]:
    """A line's share; each applied amount written as its accumulator counts (days or money)."""
    return {
        "line_number": share.line_number,
        "deductible": share.deductible,
        "coinsurance": share.coinsurance,
        "member_total": share.member_total,
        "plan_paid": share.plan_paid,
        "uncovered_days": share.uncovered_days,
        "applied": [
            {
                "accumulator_code": code,
                "amount": claim_queries.figure(_type(schedule, code), amount),
            }
            for code, amount in sorted(share.applied.items())
        ],
    }


def _type(schedule: Schedule, code: str) -> str:
    accumulator = schedule.accumulator(code)
    return accumulator.type if accumulator is not None else "deductible"
