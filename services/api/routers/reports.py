"""Reports: keys that exceeded their accumulation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from contracts.queries import ExceedingReport, ReviewReason
from services.api.deps import Context, context, parse_known_at, require, tenant_as_of
from services.ledger.keys import Principal
from services.projections import queries

router = APIRouter(tags=["reports"])


@router.get("/v1/reports/exceeding-accumulation", response_model=ExceedingReport)
async def exceeding_accumulation(
    as_of: str | None = None,
    known_at: str | None = None,
    reason: list[ReviewReason] | None = Query(
        default=None,
        description="Only keys listed for this reason (repeatable: `reason=a&reason=b`).",
    ),
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Keys that need review as of a date, each with the first reason that applies (2.10)."""
    day = await tenant_as_of(ctx, caller.tenant, as_of)
    items, position = await queries.exceeding(
        ctx.reader, caller.tenant, day, parse_known_at(known_at), frozenset(reason or ())
    )
    return {"as_of": day, "position": position, "items": items}
