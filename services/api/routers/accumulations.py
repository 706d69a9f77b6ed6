"""Accumulation queries of one member: the list, one key's detail, and its explanation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends

from contracts.queries import AccumulationDetail, AccumulationList, Explanation
from services.api.deps import Context, context, parse_known_at, require, tenant_as_of, utc_now
from services.ledger.keys import Principal
from services.projections import queries
from services.projections.core.views import KeyView

router = APIRouter(tags=["accumulations"])


def summary(view: KeyView) -> dict[str, Any]:
    result = view.result
    negative = view.negative_accrual
    return {
        "authorization_number": result.key[0],
        "service_code": result.key[1],
        "service_codes": list(result.service_codes),
        "payer_id": result.payer_id,
        "frequency": result.frequency,
        "span": {"start": result.span_start, "end": result.span_end},
        "accumulated_units": view.accumulated_units,
        "raw_balance": view.raw_balance,
        "negative_accrual": None
        if negative is None
        else {
            "overuse": negative.overuse,
            "cause": negative.cause,
            "event_id": negative.event_id,
            "period_start": negative.period_start,
        },
    }


def detail(view: KeyView, known_at: datetime, position: int) -> dict[str, Any]:
    return {
        **summary(view),
        "as_of": view.as_of,
        "known_at": known_at,
        "position": position,
        "periods": [
            {
                "start": p.start,
                "end": p.end,
                "authorized": p.authorized,
                "used": p.used,
                "from_regular": p.from_regular,
                "from_accumulation": p.from_accumulation,
                "unauthorized": p.unauthorized,
                "balance": p.balance,
            }
            for p in view.periods
        ],
    }


@router.get("/v1/members/{member_id}/accumulations", response_model=AccumulationList)
async def list_accumulations(
    member_id: str,
    as_of: str | None = None,
    known_at: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    day = await tenant_as_of(ctx, caller.tenant, as_of)
    moment = parse_known_at(known_at)
    state = await queries.member_state(ctx.reader, caller.tenant, member_id, moment)
    return {
        "member_id": member_id,
        "as_of": day,
        "known_at": moment or utc_now(),
        "position": state.position,
        "items": [summary(view) for view in queries.accumulating_views(state, day)],
        "unauthorized_visits": queries.unauthorized_visits(state),
    }


@router.get(
    "/v1/members/{member_id}/accumulations/{authorization_number}/{service_code}",
    response_model=AccumulationDetail,
)
async def accumulation_detail(
    member_id: str,
    authorization_number: str,
    service_code: str,
    as_of: str | None = None,
    known_at: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    day = await tenant_as_of(ctx, caller.tenant, as_of)
    moment = parse_known_at(known_at)
    key = (authorization_number, service_code)
    state = await queries.key_state(ctx.reader, caller.tenant, member_id, key, moment)
    view = queries.one_view(state, key, day)
    return detail(view, moment or utc_now(), state.position)


@router.get(
    "/v1/members/{member_id}/accumulations/{authorization_number}/{service_code}/explain",
    response_model=Explanation,
)
async def explain_accumulation(
    member_id: str,
    authorization_number: str,
    service_code: str,
    as_of: str | None = None,
    known_at: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    day = await tenant_as_of(ctx, caller.tenant, as_of)
    moment = parse_known_at(known_at)
    view, explained, position = await queries.explain_key(
        ctx.reader, caller.tenant, member_id, (authorization_number, service_code), day, moment
    )
    return {
        **detail(view, moment or utc_now(), position),
        "events": [
            {
                "position": item.event.position,
                "event_id": item.event.event_id,
                "type": item.event.type,
                "recorded_at": item.event.recorded_at,
                "data": item.event.data,
                "effect": {
                    "description": item.description,
                    "raw_balance_before": item.raw_balance_before,
                    "raw_balance_after": item.raw_balance_after,
                },
            }
            for item in explained
        ],
    }
