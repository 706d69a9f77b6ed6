"""Benefit limits of one member, one limit's detail, and the front desk's near-limit report."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends

from contracts.benefits import BenefitDetail, BenefitList, NearLimitReport
from services.api.deps import Context, context, parse_known_at, require, tenant_as_of, utc_now
from services.ledger.errors import InvalidRequestError, Problem
from services.ledger.keys import Principal
from services.projections import benefit_queries

router = APIRouter(tags=["benefits"])


@router.get("/v1/members/{member_id}/benefits", response_model=BenefitList)
async def list_benefits(
    member_id: str,
    as_of: str | None = None,
    known_at: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Used and remaining of each benefit limit in the period holding `as_of`."""
    day = await tenant_as_of(ctx, caller.tenant, as_of)
    moment = parse_known_at(known_at)
    found = await benefit_queries.member_benefits(ctx.reader, caller.tenant, member_id, moment)
    return {
        "member_id": member_id,
        "as_of": day,
        "known_at": moment or utc_now(),
        "position": found.position,
        "items": [benefit_queries.item(s) for s in benefit_queries.statuses(found.facts, day)],
    }


@router.get("/v1/members/{member_id}/benefits/{benefit_id}", response_model=BenefitDetail)
async def benefit_detail(
    member_id: str,
    benefit_id: str,
    as_of: str | None = None,
    known_at: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """One limit with the own visits and verifications that make up `used`."""
    day = await tenant_as_of(ctx, caller.tenant, as_of)
    moment = parse_known_at(known_at)
    found = await benefit_queries.member_benefits(ctx.reader, caller.tenant, member_id, moment)
    status = benefit_queries.status_of(found.facts, benefit_id, day)
    return {
        **benefit_queries.detail(found.facts, status),
        "as_of": day,
        "known_at": moment or utc_now(),
        "position": found.position,
    }


def parse_threshold(value: str | None) -> Decimal:
    if value is None:
        return Decimal("0.8")
    try:
        threshold = Decimal(value)
    except InvalidOperation:
        threshold = Decimal("NaN")
    if not threshold.is_finite() or not Decimal(0) < threshold <= Decimal(10):
        raise InvalidRequestError(
            "threshold must be a decimal fraction of the limit, e.g. 0.8",
            [Problem(None, "threshold", f"not a fraction above 0: {value!r}")],
        )
    return threshold


@router.get("/v1/reports/benefits-near-limit", response_model=NearLimitReport)
async def benefits_near_limit(
    as_of: str | None = None,
    known_at: str | None = None,
    threshold: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Benefits whose use reached `threshold` (default 0.8) of their limit, fullest first."""
    day = await tenant_as_of(ctx, caller.tenant, as_of)
    moment = parse_known_at(known_at)
    share = parse_threshold(threshold)
    items, position = await benefit_queries.near_limit(
        ctx.reader, caller.tenant, day, moment, share
    )
    return {"as_of": day, "threshold": share, "position": position, "items": items}
