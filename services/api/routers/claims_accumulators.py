"""Claims accumulators of one member: the list, a simulation, one accumulator's claims history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from contracts.accumulators import AccumulatorDetail, AccumulatorList, SimulateIn, SimulationOut
from services.api.deps import (
    Context,
    context,
    parse_date,
    parse_known_at,
    require,
    tenant_as_of,
    utc_now,
)
from services.api.history_report import claims_csv, claims_html
from services.ledger.errors import InvalidRequestError, NotFoundError, Problem
from services.ledger.keys import Principal
from services.projections import claim_queries, queries
from services.projections.claim_queries import Selection
from services.projections.simulate import simulate

router = APIRouter(tags=["claims accumulators"])
MAX_PLAN_TYPES = 20  # distinct plan_type values one summary may ask for


def selection(
    effective_date: str | None,
    plan_types: list[str] | None,
    schedule_id: str | None,
    all_plans: bool,
) -> Selection:
    """The query's plans; without an effective_date it is decided from the member's enrollments
    (`Selection.on`: today, or the last day of its most recent enrollment)."""
    day = parse_date("effective_date", effective_date) if effective_date is not None else None
    distinct = tuple(dict.fromkeys(plan_types or ()))
    if len(distinct) > MAX_PLAN_TYPES:
        raise InvalidRequestError(
            "too many plan types",
            [Problem(None, "plan_type", f"at most {MAX_PLAN_TYPES} distinct plan types")],
        )
    return Selection(day, distinct, schedule_id, all_plans)


async def today(ctx: Context, tenant: str) -> date:
    """The tenant's today: the date in its time zone (accumulation.md section 3)."""
    return await tenant_as_of(ctx, tenant, None)


@router.get("/v1/members/{member_id}/accumulators", response_model=AccumulatorList)
async def list_accumulators(
    member_id: str,
    effective_date: str | None = None,
    plan_type: list[str] | None = Query(
        default=None,
        description="One plan type, or several (plan_type=medical&plan_type=dental): the first "
        "schedule of each. Default: the member's first medical plan on the date, else its first.",
    ),
    schedule_id: str | None = None,
    all_plans: bool = False,
    known_at: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Applied and remaining of each accumulator in the benefit period holding effective_date
    (default today, or the last day of the member's most recent enrollment when it has none
    today); rows of schedules the member is not enrolled in on the date carry eligible false."""
    asked = selection(effective_date, plan_type, schedule_id, all_plans)
    moment = parse_known_at(known_at)
    position = await queries.position_of(ctx.reader, caller.tenant, moment)
    facts = await queries.member_facts(ctx.reader, caller.tenant, member_id, moment)
    chosen = asked.on(facts, await today(ctx, caller.tenant))
    rows = await claim_queries.rows_for(ctx.reader, caller.tenant, facts, chosen, moment)
    return claim_queries.answer(member_id, chosen.day, position, rows)


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
    plan_types = [plan_type] if plan_type is not None else None
    asked = selection(effective_date, plan_types, schedule_id, all_plans=plan_type is None)
    moment = parse_known_at(known_at)
    position = await queries.position_of(ctx.reader, caller.tenant, moment)
    facts = await queries.member_facts(ctx.reader, caller.tenant, member_id, moment)
    chosen = asked.on(facts, await today(ctx, caller.tenant))
    rows = await claim_queries.rows_for(ctx.reader, caller.tenant, facts, chosen, moment)
    matching = [
        r
        for r in rows
        if r.accumulator.code == code
        and (illness is None or r.illness == illness)
        and (tooth is None or r.tooth == tooth)
    ]
    if not matching:
        raise NotFoundError(f"no accumulator {code!r} for member {member_id!r} on {chosen.day}")
    body = {
        "member_id": member_id,
        "effective_date": chosen.day,
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
