"""Reports: keys that exceeded their accumulation, utilization, authorized against scheduled."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from contracts.queries import ExceedingReport, ReviewReason
from contracts.reports import AuthorizedVsScheduledReport, UtilizationReport
from services.api.deps import Context, context, parse_date, parse_known_at, require, tenant_as_of
from services.ledger.errors import InvalidRequestError, Problem
from services.ledger.keys import Principal
from services.projections import queries, report_queries
from services.projections.core.forecast import two_places

router = APIRouter(tags=["reports"])
MAX_RANGE_DAYS = 366  # a year of periods per key at most: a bound on the answer, not a rule


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


@router.get("/v1/reports/utilization", response_model=UtilizationReport)
async def utilization(
    as_of: str | None = None,
    known_at: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Accumulation keys in force (active or expiring) whose forecast (default window of 4
    periods) leaves units unused at their end, or runs out before their span ends (2.15)."""
    day = await tenant_as_of(ctx, caller.tenant, as_of)
    found, position = await report_queries.utilization(
        ctx.reader, caller.tenant, day, parse_known_at(known_at)
    )
    items = [
        {
            "member_id": key.member_id,
            "authorization_number": key.result.key[0],
            "service_code": key.result.key[1],
            "span": {"start": key.result.span_start, "end": key.result.span_end},
            "status": status,
            "burn_rate": None if projection.burn_rate is None else two_places(projection.burn_rate),
            "projected_unused": two_places(projection.projected_unused),
            "runs_out_on": projection.runs_out_on,
        }
        for key, projection, status in found
    ]
    return {"as_of": day, "position": position, "items": items}


@router.get(
    "/v1/reports/authorized-vs-scheduled",
    response_model=AuthorizedVsScheduledReport,
    response_model_by_alias=True,
)
async def authorized_vs_scheduled(
    first: str | None = Query(
        default=None, alias="from", description="The first day of the range (required)."
    ),
    last: str | None = Query(
        default=None,
        alias="to",
        description=f"The last day of the range (required): at most {MAX_RANGE_DAYS} days "
        "from `from`, counting both.",
    ),
    known_at: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Per key and period overlapping the range: authorized units against the units of its
    scheduled, confirmed and missed visits; variance = authorized - scheduled - confirmed."""
    missing = [
        Problem(None, name, "required: a date YYYY-MM-DD")
        for name, value in (("from", first), ("to", last))
        if value is None
    ]
    if missing:
        raise InvalidRequestError("from and to are required", missing)
    start, end = parse_date("from", first), parse_date("to", last)
    if start > end:
        raise InvalidRequestError(
            "from must not be after to", [Problem(None, "to", f"{end} is before from {start}")]
        )
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidRequestError(
            f"the range is longer than {MAX_RANGE_DAYS} days",
            [
                Problem(
                    None,
                    "to",
                    f"{(end - start).days + 1} days from {start} to {end}; at most "
                    f"{MAX_RANGE_DAYS}",
                )
            ],
        )
    moment = parse_known_at(known_at)
    keys, visits, position = await report_queries.tenant_keys(
        ctx.reader, caller.tenant, moment, accumulating_only=False
    )
    items = report_queries.authorized_vs_scheduled_items(keys, visits, start, end)
    return {"from": start, "to": end, "position": position, "items": items}
