"""GET /v1/visits/{visit_id} and POST /v1/scheduling/check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from contracts.queries import SchedulingCheckIn, SchedulingCheckOut, VisitOut
from services.api.deps import Context, context, parse_known_at, require
from services.ledger.keys import Principal
from services.projections import queries

router = APIRouter(tags=["visits"])


@router.get("/v1/visits/{visit_id}", response_model=VisitOut)
async def get_visit(
    visit_id: str,
    known_at: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    moment = parse_known_at(known_at)
    # read before the body: the stored body is then at least as new as the position it answers
    position = await queries.position_of(ctx.reader, caller.tenant, moment)
    body = await queries.visit_body(ctx.reader, caller.tenant, visit_id, moment)
    return {**body, "position": position}


@router.post("/v1/scheduling/check", response_model=SchedulingCheckOut)
async def scheduling_check(
    body: SchedulingCheckIn,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    result, position = await queries.check(
        ctx.reader,
        caller.tenant,
        body.member_id,
        (
            body.payer_id,
            body.service_code,
            body.service_date,
            body.units,
            body.authorization_number,
        ),
    )
    return {
        "authorization_number": result.key[0] if result.key else None,
        # the key's service code, or its pool's name (2.13); the proposal's code when no key
        "service_code": result.key[1] if result.key else body.service_code,
        "position": position,
        "available": {
            "regular": result.available_regular,
            "accumulated": result.available_accumulated,
            "total": result.available_total,
        },
        "allocation": {
            "regular": result.regular,
            "accumulated": result.accumulated,
            "shortfall": result.shortfall,
        },
        "warnings": result.warnings,
    }
