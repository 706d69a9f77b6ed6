"""Claims accumulators of one member: the list, a simulation, one accumulator's claims history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from contracts.accumulators import AccumulatorDetail, AccumulatorList, SimulateIn, SimulationOut
from services.api.deps import Context, context, parse_date, parse_known_at, require, utc_now
from services.api.history_report import claims_csv, claims_html
from services.ledger.errors import InvalidRequestError, NotFoundError, Problem
from services.ledger.keys import Principal
from services.projections import claim_queries, queries
from services.projections.claim_queries import Selection
from services.projections.simulate import simulate

router = APIRouter(tags=["claims accumulators"])


def selection(
    effective_date: str | None,
    plan_type: str | None,
    schedule_id: str | None,
    all_plans: bool,
) -> Selection:
    return Selection(
        parse_date("effective_date", effective_date), plan_type, schedule_id, all_plans
    )


@router.get("/v1/members/{member_id}/accumulators", response_model=AccumulatorList)
async def list_accumulators(
    member_id: str,
    effective_date: str | None = None,
    plan_type: str | None = None,
    schedule_id: str | None = None,
    all_plans: bool = False,
    known_at: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Applied and remaining of each accumulator in the benefit period holding effective_date
    (plan type default: the member's first medical enrollment in force on the date)."""
    chosen = selection(effective_date, plan_type, schedule_id, all_plans)
    moment = parse_known_at(known_at)
    position = await queries.position_of(ctx.reader, caller.tenant, moment)
    facts = await queries.member_facts(ctx.reader, caller.tenant, member_id, moment)
    rows = await claim_queries.rows_for(ctx.reader, caller.tenant, facts, chosen, moment)
    return claim_queries.answer(member_id, chosen.effective_date, position, rows)


@router.post("/v1/members/{member_id}/accumulators/simulate", response_model=SimulationOut)
async def simulate_claim(
    member_id: str,
    body: SimulateIn,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """The accumulators with one more claim counted as if paid; the cost-share rule fills the
    lines that carry no applied amounts. Nothing is stored."""
    return await simulate(ctx.reader, caller.tenant, member_id, body)


@router.get(
    "/v1/members/{member_id}/accumulators/{code}/claims",
    response_model=AccumulatorDetail,
    responses={200: {"content": {"text/csv": {}, "text/html": {}}}},
)
async def accumulator_claims(
    member_id: str,
    code: str,
    effective_date: str | None = None,
    plan_type: str | None = None,
    schedule_id: str | None = None,
    illness: str | None = None,
    tooth: str | None = None,
    format: str = "json",
    known_at: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> Any:
    """One accumulator: the claims that applied to it and, for day and reversion accumulators,
    every day with its number, reversion level and coinsurance; as JSON, CSV or a printable
    claims history report (format=html)."""
    if format not in ("json", "csv", "html"):
        raise InvalidRequestError(
            "format must be json, csv or html", [Problem(None, "format", f"unknown: {format!r}")]
        )
    chosen = selection(effective_date, plan_type, schedule_id, all_plans=plan_type is None)
    moment = parse_known_at(known_at)
    position = await queries.position_of(ctx.reader, caller.tenant, moment)
    facts = await queries.member_facts(ctx.reader, caller.tenant, member_id, moment)
    rows = await claim_queries.rows_for(ctx.reader, caller.tenant, facts, chosen, moment)
    matching = [
        r
        for r in rows
        if r.accumulator.code == code
        and (illness is None or r.illness == illness)
        and (tooth is None or r.tooth == tooth)
    ]
    if not matching:
        raise NotFoundError(
            f"no accumulator {code!r} for member {member_id!r} on {chosen.effective_date}"
        )
    body = {
        "member_id": member_id,
        "effective_date": chosen.effective_date,
        "position": position,
        **claim_queries.detail(matching[0]),
    }
    if format == "csv":
        return Response(
            claims_csv(body),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{member_id}-{code}.csv"'},
        )
    if format == "html":
        printed: datetime = moment or utc_now()
        return HTMLResponse(claims_html(body, printed))
    return body
