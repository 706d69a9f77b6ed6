"""Reports: keys that exceeded their accumulation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from contracts.queries import ExceedingReport
from services.api.deps import Context, context, parse_as_of, parse_known_at, require
from services.ledger.keys import Principal
from services.projections import queries

router = APIRouter(tags=["reports"])


@router.get("/v1/reports/exceeding-accumulation", response_model=ExceedingReport)
async def exceeding_accumulation(
    as_of: str | None = None,
    known_at: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    day = parse_as_of(as_of)
    items, position = await queries.exceeding(
        ctx.reader, caller.tenant, day, parse_known_at(known_at)
    )
    return {"as_of": day, "position": position, "items": items}
