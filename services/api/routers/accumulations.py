"""Accumulation queries of one member: the list, one key's detail, its explanation and its
forecast."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query

from contracts.queries import AccumulationDetail, AccumulationList, Explanation
from contracts.reports import ForecastOut
from services.api.deps import Context, context, parse_known_at, require, tenant_as_of, utc_now
from services.api.routers.feeds import integer_param
from services.ledger.keys import Principal
from services.projections import queries, report_queries
from services.projections.core.forecast import DEFAULT_WINDOW, MAX_WINDOW, two_places
from services.projections.core.status import KeyStatus
from services.projections.core.views import KeyView

router = APIRouter(tags=["accumulations"])


def summary(view: KeyView, status: KeyStatus) -> dict[str, Any]:
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
        "status": status.status,
    }


def detail(view: KeyView, status: KeyStatus, known_at: datetime, position: int) -> dict[str, Any]:
    return {
        **summary(view, status),
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
        "lines": [
            {
                "authorization_id": line.authorization_id,
                "start": line.start,
                "end": line.end,
                "units": line.units,
                "status": line.status,
            }
            for line in status.lines
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
    facts = await report_queries.status_facts(ctx.reader, caller.tenant, member_id, state, moment)
    views = queries.accumulating_views(state, day)
    return {
        "member_id": member_id,
        "as_of": day,
        "known_at": moment or utc_now(),
        "position": state.position,
        "items": [
            summary(view, report_queries.status_of(facts, view.result, day)) for view in views
        ],
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
    facts = await report_queries.status_facts(ctx.reader, caller.tenant, member_id, state, moment)
    status = report_queries.status_of(facts, view.result, day)
    return detail(view, status, moment or utc_now(), state.position)


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
    view, explained, state = await queries.explain_key(
        ctx.reader, caller.tenant, member_id, (authorization_number, service_code), day, moment
    )
    status = report_queries.status_of(state.facts, view.result, day)
    return {
        **detail(view, status, moment or utc_now(), state.position),
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


@router.get(
    "/v1/members/{member_id}/accumulations/{authorization_number}/{service_code}/forecast",
    response_model=ForecastOut,
)
async def accumulation_forecast(
    member_id: str,
    authorization_number: str,
    service_code: str,
    as_of: str | None = None,
    window: str | None = Query(
        default=None,
        description=f"Ended periods the burn rate averages: 1 to {MAX_WINDOW} "
        f"(default {DEFAULT_WINDOW}).",
    ),
    known_at: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Will the units last? The burn rate of the last ended periods, projected to the key's end
    (accumulation.md 2.15). Figures are exact, written half up to 2 decimals."""
    day = await tenant_as_of(ctx, caller.tenant, as_of)
    periods = integer_param("window", window, DEFAULT_WINDOW, 1, MAX_WINDOW)
    found = await report_queries.key_forecast(
        ctx.reader,
        caller.tenant,
        member_id,
        (authorization_number, service_code),
        day,
        periods,
        parse_known_at(known_at),
    )
    projection = found.forecast
    rate = projection.burn_rate
    return {
        "member_id": member_id,
        "authorization_number": authorization_number,
        "service_code": service_code,
        "as_of": day,
        "window": periods,
        "position": found.position,
        "status": found.status.status,
        "burn_rate": None if rate is None else two_places(rate),
        "projected_balance": two_places(projection.projected_balance),
        "projected_unused": two_places(projection.projected_unused),
        "runs_out_on": projection.runs_out_on,
        "periods": [
            {
                "start": p.start,
                "end": p.end,
                "authorized": p.authorized,
                "used": p.used,
                "projected_used": two_places(p.projected_used),
                "projected_balance": two_places(p.projected_balance),
            }
            for p in projection.periods
        ],
    }
